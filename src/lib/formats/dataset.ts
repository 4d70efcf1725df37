/**
 * Fine-tuning datasets, both ways. Input: a JSON array of question/answer pairs in ShareGPT form
 * (WeClone's `sft-my.json`, LLaMA-Factory's OpenAI-style `messages`) or in Alpaca form
 * (`instruction`, `input`, `output`, `system`, `history`). Each pair keeps every field of
 * its item, in order, so an export can give the item back unchanged. Output: any job's
 * prompts and answers as ShareGPT or Alpaca, for LLaMA-Factory.
 */
import type { ChatMessage, DatasetPair, ParsedItem } from '$lib/shared/job';
import { requestFor } from '$lib/presets';
import { pairPrompt } from '$lib/shared/request';
import { describeValue, isRecord, shortJson, type Check } from './json';
import { IdRegistry, type ProblemList } from './problems';
import type { ExportJob, ExportWriter, Exporter, FormatMeta } from './types';
import { exporter, jsonArray } from './writer';

export const sharegptFormat: FormatMeta = {
  id: 'sharegpt',
  label: 'ShareGPT dataset (question/answer pairs)',
  mimeType: 'application/json',
  extension: 'json'
};

export const alpacaFormat: FormatMeta = {
  id: 'alpaca',
  label: 'Alpaca dataset (question/answer pairs)',
  mimeType: 'application/json',
  extension: 'json'
};

export type DatasetKind = DatasetPair['format'];

/**
 * Whether a JSON array is a dataset, judged by its first object: ShareGPT when its
 * `messages` end with the assistant's answer, Alpaca when it has `instruction` and `output`.
 */
export function datasetKind(elements: readonly unknown[]): DatasetKind | null {
  const first = elements.find(isRecord);
  if (!first) return null;
  if (typeof first.instruction === 'string' && 'output' in first) return 'alpaca';
  const messages = first.messages;
  if (Array.isArray(messages) && messages.length > 1) {
    const last: unknown = messages[messages.length - 1];
    if (isRecord(last) && last.role === 'assistant') return 'sharegpt';
  }
  return null;
}

function readText(value: unknown, key: string): Check<string> {
  if (value == null) return { ok: true, value: '' };
  if (typeof value !== 'string') {
    return { ok: false, message: `"${key}" is ${describeValue(value)}: it must be a text` };
  }
  return { ok: true, value };
}

function readId(item: Record<string, unknown>, fallback: string): Check<string> {
  const id = item.id;
  if (id == null) return { ok: true, value: fallback };
  if (typeof id === 'number' && Number.isFinite(id)) return { ok: true, value: String(id) };
  if (typeof id === 'string' && id.trim() !== '') return { ok: true, value: id };
  return {
    ok: false,
    message: `"id" is ${typeof id === 'string' ? 'empty' : describeValue(id)}: it must be a number or a text, or left out`
  };
}

function readImages(value: unknown): Check<boolean> {
  if (value == null) return { ok: true, value: false };
  if (!Array.isArray(value) || !value.every((image) => typeof image === 'string')) {
    return {
      ok: false,
      message: `"images" is ${describeValue(value)}: it must be a list of image paths, such as ["img/1.jpg"], or []`
    };
  }
  return { ok: true, value: value.length > 0 };
}

/** ShareGPT turns: user and assistant alternating from a user question, ending with the answer. */
function readTurns(
  value: unknown,
  system: string
): Check<{ turns: ChatMessage[]; system: string }> {
  if (!Array.isArray(value) || value.length === 0) {
    return {
      ok: false,
      message:
        'no "messages": a pair needs a list such as [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]'
    };
  }
  const turns: ChatMessage[] = [];
  let leadingSystem = system;
  for (let i = 0; i < value.length; i++) {
    const message: unknown = value[i];
    const n = i + 1;
    if (!isRecord(message)) {
      return {
        ok: false,
        message: `message ${n} is ${describeValue(message)}, not a {"role": ..., "content": ...} object`
      };
    }
    if (typeof message.content !== 'string') {
      return {
        ok: false,
        message: `message ${n} has content that is ${describeValue(message.content)}: "content" must be a text`
      };
    }
    const role = message.role;
    if (role === 'system' && i === 0) {
      leadingSystem = leadingSystem || message.content;
      continue;
    }
    const expected = turns.length % 2 === 0 ? 'user' : 'assistant';
    if (role !== expected) {
      return {
        ok: false,
        message:
          role === 'user' || role === 'assistant'
            ? `message ${n} is from the ${role}, but the ${expected} speaks here: turns must go user, assistant, user, assistant…`
            : `message ${n} has role ${shortJson(role)}: use "user" or "assistant" (a "system" message may come first)`
      };
    }
    turns.push({ role: expected, content: message.content });
  }
  if (turns.length === 0 || turns[turns.length - 1]?.role !== 'assistant') {
    return {
      ok: false,
      message:
        'the last message is not the assistant\'s: each pair ends with the answer ("role": "assistant")'
    };
  }
  return { ok: true, value: { turns, system: leadingSystem } };
}

function readSharegpt(item: Record<string, unknown>): Check<Omit<DatasetPair, 'original'>> {
  const system = readText(item.system, 'system');
  if (!system.ok) return system;
  const turns = readTurns(item.messages, system.value);
  if (!turns.ok) return turns;
  const images = readImages(item.images);
  if (!images.ok) return images;
  return {
    ok: true,
    value: { format: 'sharegpt', ...turns.value, hasImages: images.value }
  };
}

/** Alpaca: the question is `instruction` and `input` joined by a line break (LLaMA-Factory). */
function readAlpaca(item: Record<string, unknown>): Check<Omit<DatasetPair, 'original'>> {
  if (typeof item.instruction !== 'string' || item.instruction.trim() === '') {
    return {
      ok: false,
      message: `"instruction" is ${item.instruction === undefined ? 'missing' : typeof item.instruction === 'string' ? 'empty' : describeValue(item.instruction)}: it must hold the question`
    };
  }
  const fields: Record<string, Check<string>> = {
    input: readText(item.input, 'input'),
    output: readText(item.output, 'output'),
    system: readText(item.system, 'system')
  };
  for (const field of Object.values(fields)) if (!field.ok) return field;
  const [input, output, system] = (['input', 'output', 'system'] as const).map((key) => {
    const field = fields[key];
    return field?.ok ? field.value : '';
  });
  const turns: ChatMessage[] = [];
  const history = item.history ?? [];
  if (!Array.isArray(history)) {
    return {
      ok: false,
      message: `"history" is ${describeValue(history)}: it must be a list of ["question", "answer"] pairs`
    };
  }
  for (let i = 0; i < history.length; i++) {
    const round: unknown = history[i];
    if (
      !Array.isArray(round) ||
      round.length !== 2 ||
      typeof round[0] !== 'string' ||
      typeof round[1] !== 'string'
    ) {
      return {
        ok: false,
        message: `"history" round ${i + 1} is ${describeValue(round)}: each round must be ["question", "answer"]`
      };
    }
    turns.push({ role: 'user', content: round[0] }, { role: 'assistant', content: round[1] });
  }
  const question = input ? `${item.instruction}\n${input}` : item.instruction;
  turns.push({ role: 'user', content: question }, { role: 'assistant', content: output ?? '' });
  const images = readImages(item.images);
  if (!images.ok) return images;
  return {
    ok: true,
    value: { format: 'alpaca', system: system ?? '', turns, hasImages: images.value }
  };
}

/** The question and the answer of a pair's last turn, for previews and lists. */
export function lastExchange(pair: Pick<DatasetPair, 'turns'>): {
  question: string;
  answer: string;
} {
  const answer = pair.turns[pair.turns.length - 1]?.content ?? '';
  const question = pair.turns[pair.turns.length - 2]?.content ?? '';
  return { question, answer };
}

/** Reads a dataset array's pairs; each problem names its item. */
export function readDataset(
  kind: DatasetKind,
  elements: readonly unknown[],
  problems: ProblemList
): ParsedItem[] {
  const items: ParsedItem[] = [];
  const ids = new IdRegistry('item', 'id');
  elements.forEach((element, i) => {
    const n = i + 1;
    if (!isRecord(element)) {
      problems.add(
        n,
        `this is ${describeValue(element)}, not an object: each item must be a pair such as ${kind === 'alpaca' ? '{"instruction": "...", "output": "..."}' : '{"messages": [...]}'}`
      );
      return;
    }
    const id = readId(element, `item-${n}`);
    if (!id.ok) return problems.add(n, id.message);
    const pair = kind === 'alpaca' ? readAlpaca(element) : readSharegpt(element);
    if (!pair.ok) return problems.add(n, pair.message);
    const duplicate = ids.claim(id.value, n);
    if (duplicate !== null) return problems.add(n, duplicate);
    const full: DatasetPair = { ...pair.value, original: element };
    items.push({ line: n, customId: id.value, messages: pairPrompt(full), params: {}, pair: full });
  });
  return items;
}

// Output: a job's prompts and answers as fine-tuning datasets.

/**
 * A dataset writer: each finished item's prompt (as it was asked) with its answer, made into
 * an element by `element`; items that did not finish are left out.
 */
function answered(
  job: ExportJob,
  element: (messages: ChatMessage[], answer: string) => unknown
): ExportWriter {
  const settings = job.settings;
  return jsonArray(2, (item, result) => {
    if (result?.status !== 'done') return undefined;
    const messages = settings
      ? requestFor(settings, [{ ...item, params: {} }]).messages
      : item.messages;
    return element(messages, result.text);
  });
}

/** ShareGPT (OpenAI messages), as LLaMA-Factory reads it: the prompt, then the answer. */
export const sharegptOutput: Exporter = exporter(
  {
    id: 'sharegpt-output',
    label: 'ShareGPT',
    suffix: 'sharegpt',
    mimeType: 'application/json',
    extension: 'json'
  },
  (job) =>
    answered(job, (messages, answer) => ({
      messages: [...messages, { role: 'assistant', content: answer }]
    }))
);

/**
 * Alpaca, as LLaMA-Factory reads it: the last question is the instruction, the answer the
 * output, a system message the system, earlier turns the history of [question, answer].
 */
export const alpacaOutput: Exporter = exporter(
  {
    id: 'alpaca-output',
    label: 'Alpaca',
    suffix: 'alpaca',
    mimeType: 'application/json',
    extension: 'json'
  },
  (job) =>
    answered(job, (messages, answer) => {
      const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
      const turns = messages.filter((m) => m.role !== 'system');
      const instruction = turns.at(-1)?.content ?? '';
      const history: [string, string][] = [];
      for (let i = 0; i + 1 < turns.length - 1; i += 2) {
        history.push([turns[i]?.content ?? '', turns[i + 1]?.content ?? '']);
      }
      return { instruction, input: '', output: answer, system: system.join('\n'), history };
    })
);
