/**
 * Pieces shared by the input parsers: limits, the problem list, and the checks of one
 * prompt object (a JSONL line or a JSON array element). No DOM, no Svelte.
 */
import type { ChatMessage, InputFormatId, ItemParams, ParsedItem, Role } from '$lib/jobs/types';
import type { ImportProblem, ProblemUnit } from '$lib/formats/types';

/** A file with more items than this is refused. */
export const MAX_IMPORT_ITEMS = 100_000;
/** A file larger than this (in bytes) is refused before it is decoded. */
export const MAX_IMPORT_BYTES = 256 * 1024 * 1024;
/** Problems past this many are counted but not kept. */
export const MAX_PROBLEMS_KEPT = 1000;

/** The only request an OpenAI batch line may make. */
export const CHAT_COMPLETIONS_URL = '/v1/chat/completions';

const ROLES: readonly Role[] = ['system', 'user', 'assistant'];

/** 100000 -> "100,000", independent of the runtime's locale. */
export function formatCount(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function plural(n: number, one: string, many = one + 's'): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

/** Collects problems, keeping the first MAX_PROBLEMS_KEPT and counting all. */
export class ProblemList {
  readonly kept: ImportProblem[] = [];
  count = 0;

  constructor(private readonly unit: ProblemUnit = 'line') {}

  add(line: number, message: string): void {
    this.count++;
    if (this.kept.length >= MAX_PROBLEMS_KEPT) return;
    this.kept.push(this.unit === 'line' ? { line, message } : { line, message, unit: this.unit });
  }

  /** Forgets every line problem, when one file-level problem explains them all. */
  clear(): void {
    this.kept.length = 0;
    this.count = 0;
  }
}

/** Hands out custom_ids and reports duplicates; O(1) per item. */
export class IdRegistry {
  private readonly firstSeen = new Map<string, number>();

  constructor(private readonly unit: ProblemUnit = 'line') {}

  /** Returns a problem message when `id` was already used, else records it. */
  claim(id: string, line: number): string | null {
    const first = this.firstSeen.get(id);
    if (first !== undefined) {
      return `duplicate custom_id ${JSON.stringify(id)} (first seen on ${this.unit} ${first})`;
    }
    this.firstSeen.set(id, line);
    return null;
  }
}

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a text';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true/false';
    default:
      return 'an object';
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** JSON for a short value in a message, cut so a message stays one readable line. */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? text.slice(0, 37) + '...' : text;
}

type Check<T> = { ok: true; value: T } | { ok: false; message: string };

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
  if (maxKey !== null) {
    const v = source[maxKey];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      return {
        ok: false,
        message: `"${maxKey}" must be a whole number above 0 (it is ${shortJson(v)})`
      };
    }
    params.max_tokens = v;
  }
  const t = source.temperature;
  if (t != null) {
    if (typeof t !== 'number' || !(t >= 0 && t <= 2)) {
      return {
        ok: false,
        message: `"temperature" must be a number from 0 to 2 (it is ${shortJson(t)})`
      };
    }
    params.temperature = t;
  }
  const p = source.top_p;
  if (p != null) {
    if (typeof p !== 'number' || !(p > 0 && p <= 1)) {
      return {
        ok: false,
        message: `"top_p" must be a number above 0 and at most 1 (it is ${shortJson(p)})`
      };
    }
    params.top_p = p;
  }
  const s = source.seed;
  if (s != null) {
    if (typeof s !== 'number' || !Number.isSafeInteger(s)) {
      return { ok: false, message: `"seed" must be a whole number (it is ${shortJson(s)})` };
    }
    params.seed = s;
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

/** What each input parser hands back to parseImport. */
export interface ParseResult {
  format: InputFormatId;
  formatLabel: string;
  items: ParsedItem[];
  problems: ProblemList;
  /** A file-level problem: no job can be made from this file. */
  fatal: string | null;
  columns: string[];
}

/** Plural of the thing a format counts, for messages: "lines", "rows", "items". */
export type CountWord = 'line' | 'row' | 'item';

export function tooManyItems(n: number, word: CountWord): string {
  return `the file has ${plural(n, word)}; at most ${formatCount(MAX_IMPORT_ITEMS)} can be imported at once: split it into smaller files`;
}

export function noneReadable(problemCount: number, word: CountWord): string {
  return `none of the ${word}s could be read (${plural(problemCount, 'problem')}): fix them and import the file again`;
}

/** Calls `fn(line, lineNumber)` for every line, without the line break ("\n" or "\r\n"). */
export function forEachLine(text: string, fn: (line: string, lineNumber: number) => void): void {
  let start = 0;
  let n = 1;
  const len = text.length;
  while (start <= len) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = len;
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    fn(text.slice(start, stop), n);
    start = end + 1;
    n++;
  }
}

const NON_BLANK = /\S/;

export function isBlank(s: string): boolean {
  return !NON_BLANK.test(s);
}

export function countNonBlankLines(text: string): number {
  let n = 0;
  forEachLine(text, (line) => {
    if (!isBlank(line)) n++;
  });
  return n;
}
