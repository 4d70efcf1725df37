/**
 * One prompt object, as a JSONL line or a JSON array element holds it: `prompt` or
 * `messages` (with optional `system` and sampling settings), or an OpenAI batch request
 * (`custom_id`, `url`, `body.messages`). Checked for the user, field by field.
 */
import type { ChatMessage, ItemParams, ParsedItem, Role } from '$lib/shared/job';
import { SAMPLING_RULES } from '$lib/shared/sampling';
import { describeValue, isRecord, shortJson, type Check } from './json';
import type { ProblemUnit } from './problems';

/** The only request an OpenAI batch line may make. */
const CHAT_COMPLETIONS_URL = '/v1/chat/completions';

const ROLES: readonly Role[] = ['system', 'user', 'assistant'];

function readMessages(value: unknown, key: string): Check<ChatMessage[]> {
  if (!Array.isArray(value) || value.length === 0) {
    return {
      ok: false,
      message: `"${key}" must be a non-empty list of {"role": ..., "content": ...} objects`
    };
  }
  const messages: ChatMessage[] = [];
  let hasUser = false;
  for (let i = 0; i < value.length; i++) {
    const m: unknown = value[i];
    const n = i + 1;
    if (!isRecord(m)) {
      return {
        ok: false,
        message: `message ${n} is ${describeValue(m)}, not a {"role": ..., "content": ...} object`
      };
    }
    const role = m.role;
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      return {
        ok: false,
        message: `message ${n} has role ${shortJson(role)}: use "system", "user" or "assistant"`
      };
    }
    if (typeof m.content !== 'string') {
      return {
        ok: false,
        message: `message ${n} has content that is ${describeValue(m.content)}: "content" must be a text`
      };
    }
    if (role === 'user') hasUser = true;
    messages.push({ role: role as Role, content: m.content });
  }
  if (!hasUser) {
    return { ok: false, message: `"${key}" has no "user" message: add one that holds the prompt` };
  }
  return { ok: true, value: messages };
}

/** Reads max_tokens/max_completion_tokens, temperature, top_p and seed from `source`. */
function readParams(source: Record<string, unknown>): Check<ItemParams> {
  const params: ItemParams = {};
  const maxKey =
    source.max_completion_tokens != null
      ? 'max_completion_tokens'
      : source.max_tokens != null
        ? 'max_tokens'
        : null;
  const fields: [keyof ItemParams, string | null][] = [
    ['max_tokens', maxKey],
    ['temperature', 'temperature'],
    ['top_p', 'top_p'],
    ['seed', 'seed']
  ];
  for (const [param, key] of fields) {
    if (key === null || source[key] == null) continue;
    const value = source[key];
    const { ok, rule } = SAMPLING_RULES[param];
    if (!ok(value)) {
      return { ok: false, message: `"${key}" must be ${rule} (it is ${shortJson(value)})` };
    }
    params[param] = value as number;
  }
  return { ok: true, value: params };
}

function readCustomId(obj: Record<string, unknown>): Check<string | null> {
  const key = obj.custom_id != null ? 'custom_id' : obj.id != null ? 'id' : null;
  if (key === null) return { ok: true, value: null };
  const v = obj[key];
  if (typeof v === 'number' && Number.isFinite(v)) return { ok: true, value: String(v) };
  if (typeof v !== 'string') {
    return {
      ok: false,
      message: `"${key}" must be a text or a number (it is ${describeValue(v)})`
    };
  }
  if (v.trim() === '') {
    return { ok: false, message: `"${key}" is empty: give it a value or remove it` };
  }
  return { ok: true, value: v };
}

export interface ObjectItem {
  item: ParsedItem;
  /** The value had a `body`, i.e. it is an OpenAI batch request. */
  batch: boolean;
}

/**
 * Checks one parsed JSON value (a JSONL line or an array element) and turns it into an
 * item. `fallbackId` is used when the value has no custom_id/id.
 */
export function readObjectItem(
  value: unknown,
  line: number,
  fallbackId: string,
  unitWord: ProblemUnit
): Check<ObjectItem> {
  if (!isRecord(value)) {
    return {
      ok: false,
      message: `this is ${describeValue(value)}, not a JSON object: each ${unitWord} must be an object such as {"prompt": "..."}`
    };
  }
  const id = readCustomId(value);
  if (!id.ok) return id;
  const customId = id.value ?? fallbackId;

  if (value.body !== undefined) {
    const body = value.body;
    if (!isRecord(body)) {
      return {
        ok: false,
        message: `"body" is ${describeValue(body)}: it must be an object with "messages"`
      };
    }
    if (value.url !== undefined && value.url !== CHAT_COMPLETIONS_URL) {
      return {
        ok: false,
        message: `url ${shortJson(value.url)} is not supported: only "${CHAT_COMPLETIONS_URL}" requests can be run`
      };
    }
    if (body.messages === undefined) {
      return {
        ok: false,
        message: `"body" has no "messages": add the chat messages, e.g. [{"role": "user", "content": "..."}]`
      };
    }
    const messages = readMessages(body.messages, 'body.messages');
    if (!messages.ok) return messages;
    const params = readParams(body);
    if (!params.ok) return params;
    return {
      ok: true,
      value: {
        item: { line, customId, messages: messages.value, params: params.value },
        batch: true
      }
    };
  }

  let messages: ChatMessage[];
  if (value.prompt !== undefined && value.messages !== undefined) {
    return { ok: false, message: `this has both "prompt" and "messages": keep only one` };
  }
  if (value.prompt !== undefined) {
    if (typeof value.prompt !== 'string') {
      return {
        ok: false,
        message: `"prompt" is ${describeValue(value.prompt)}: it must be a text`
      };
    }
    if (value.prompt.trim() === '') {
      return {
        ok: false,
        message: `"prompt" is empty: write the prompt or remove the ${unitWord}`
      };
    }
    messages = [{ role: 'user', content: value.prompt }];
  } else if (value.messages !== undefined) {
    const read = readMessages(value.messages, 'messages');
    if (!read.ok) return read;
    messages = read.value;
  } else {
    return {
      ok: false,
      message: `no prompt: add a "prompt" text or a "messages" list (or a "body" with "messages" for an OpenAI batch line)`
    };
  }

  if (value.system != null) {
    if (typeof value.system !== 'string') {
      return {
        ok: false,
        message: `"system" is ${describeValue(value.system)}: it must be a text`
      };
    }
    if (value.system.trim() !== '' && messages[0]?.role !== 'system') {
      messages.unshift({ role: 'system', content: value.system });
    }
  }

  const params = readParams(value);
  if (!params.ok) return params;
  return {
    ok: true,
    value: { item: { line, customId, messages, params: params.value }, batch: false }
  };
}
