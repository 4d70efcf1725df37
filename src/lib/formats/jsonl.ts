/**
 * JSON input: JSON lines (one object per line, plain or OpenAI batch requests) and a
 * JSON array of the same objects, or of dataset pairs (dataset.ts). And OpenAI batch
 * input as output: a job's requests for `vllm run-batch` or the OpenAI Batch API.
 */
import { DEFAULT_SETTINGS, type ParsedItem } from '$lib/shared/job';
import { alpacaFormat, datasetKind, readDataset, sharegptFormat } from './dataset';
import { forEachJsonLine, looksLikeOneObject, parseJsonFile } from './json';
import { IdRegistry, MAX_IMPORT_ITEMS, ProblemList, noneReadable, tooManyItems } from './problems';
import { readObjectItem } from './prompt-object';
import { countNonBlankLines } from './text-file';
import { requestFor } from '$lib/presets';
import { jsonSchemaFormat } from '$lib/shared/answer';
import type { ProblemUnit } from './problems';
import type { Exporter, FormatMeta, ParseResult } from './types';
import { exporter } from './writer';

export const jsonlFormat: FormatMeta = {
  id: 'jsonl',
  label: 'JSON lines',
  mimeType: 'application/jsonl',
  extension: 'jsonl'
};

const openaiBatchInputFormat: FormatMeta = {
  id: 'openai-batch',
  label: 'OpenAI batch input',
  mimeType: 'application/jsonl',
  extension: 'jsonl'
};

const jsonArrayFormat: FormatMeta = {
  id: 'json',
  label: 'JSON array',
  mimeType: 'application/json',
  extension: 'json'
};

function result(
  items: ParsedItem[],
  problems: ProblemList,
  fatal: string | null,
  allBatch: boolean,
  array: boolean
): ParseResult {
  const batch = allBatch && items.length > 0;
  const meta = batch ? openaiBatchInputFormat : array ? jsonArrayFormat : jsonlFormat;
  return {
    format: batch ? 'openai-batch' : 'jsonl',
    formatLabel: batch && array ? `${meta.label} (JSON array)` : meta.label,
    items,
    problems,
    fatal,
    columns: []
  };
}

/** Takes prompt objects one by one: checks each, refuses a duplicate id, keeps the rest. */
class PromptObjects {
  readonly items: ParsedItem[] = [];
  /** Every object so far is an OpenAI batch request. */
  allBatch = true;
  readonly #ids: IdRegistry;

  constructor(
    private readonly problems: ProblemList,
    private readonly unit: ProblemUnit
  ) {
    this.#ids = new IdRegistry(unit);
  }

  /** The object on line (or at item) `n`. */
  take(value: unknown, n: number): void {
    const read = readObjectItem(value, n, `${this.unit}-${n}`, this.unit);
    if (!read.ok) return this.problems.add(n, read.message);
    const duplicate = this.#ids.claim(read.value.item.customId, n);
    if (duplicate !== null) return this.problems.add(n, duplicate);
    if (!read.value.batch) this.allBatch = false;
    this.items.push(read.value.item);
  }
}

/** One JSON object per line; blank lines are skipped, "\r\n" works. */
export function parseJsonLines(text: string): ParseResult {
  const problems = new ProblemList('line');
  const total = countNonBlankLines(text);
  if (total > MAX_IMPORT_ITEMS) {
    return result([], problems, tooManyItems(total, 'line'), false, false);
  }
  const prompts = new PromptObjects(problems, 'line');
  forEachJsonLine(text, problems, (value, n) => prompts.take(value, n));
  const { items } = prompts;

  let fatal: string | null = null;
  if (items.length === 0) {
    // One file-level reason explains every line's problem, so those are dropped.
    const trimmed = text.trimStart();
    if (!trimmed.startsWith('{')) {
      fatal =
        'this does not look like JSON lines: each line should be a JSON object such as {"prompt": "..."}';
      problems.clear();
    } else if (looksLikeOneObject(trimmed)) {
      fatal =
        'the file holds one JSON object spread over several lines: write one object per line, or make the file a JSON array of objects';
      problems.clear();
    } else {
      fatal = noneReadable(problems.count, 'line');
    }
  }
  return result(items, problems, fatal, prompts.allBatch, false);
}

/** A JSON array of objects; problems name the 1-based element ("item 3"). */
export function parseJsonArray(text: string): ParseResult {
  const problems = new ProblemList('item');
  const items: ParsedItem[] = [];
  const parsed = parseJsonFile(text);
  if (!parsed.ok) {
    return result(
      [],
      problems,
      `${parsed.message}: fix it, or save one JSON object per line as .jsonl`,
      false,
      true
    );
  }
  const value = parsed.value;
  if (!Array.isArray(value)) {
    return result(
      items,
      problems,
      'the file is not a JSON array of objects: make it [{"prompt": "..."}, ...] or write one object per line as .jsonl',
      false,
      true
    );
  }
  if (value.length === 0) {
    return result(
      items,
      problems,
      'the file holds an empty JSON array: add at least one prompt object',
      false,
      true
    );
  }
  if (value.length > MAX_IMPORT_ITEMS) {
    return result(items, problems, tooManyItems(value.length, 'item'), false, true);
  }
  const dataset = datasetKind(value);
  if (dataset) {
    const pairs = readDataset(dataset, value, problems);
    const meta = dataset === 'alpaca' ? alpacaFormat : sharegptFormat;
    return {
      format: dataset,
      formatLabel: meta.label,
      items: pairs,
      problems,
      fatal: pairs.length === 0 ? noneReadable(problems.count, 'item') : null,
      columns: []
    };
  }
  const prompts = new PromptObjects(problems, 'item');
  value.forEach((element, i) => prompts.take(element, i + 1));
  const fatal = prompts.items.length === 0 ? noneReadable(problems.count, 'item') : null;
  return result(prompts.items, problems, fatal, prompts.allBatch, true);
}

// Output

/** The OpenAI-compatible chat endpoint every batch request names. */
const CHAT_URL = '/v1/chat/completions';
/** The model a batch file names when the job runs on this GPU: the Hugging Face name vLLM serves. */
const DEFAULT_BATCH_MODEL = 'Qwen/Qwen2.5-7B-Instruct';

/**
 * The job's requests as OpenAI batch input, one per item in input order: the prompt as
 * the job sends it (system prompt, preset), its sampling settings and any answer schema.
 * `vllm run-batch -i this.jsonl -o out.jsonl --model ...` (or the OpenAI Batch API) reads
 * it; "Import results into this job" takes the output back.
 */
export const openaiBatchInput: Exporter = exporter(
  {
    ...openaiBatchInputFormat,
    id: 'openai-batch-input',
    label: 'OpenAI batch input',
    suffix: 'batch-input',
    requests: true
  },
  (job) => {
    const settings = job.settings ?? DEFAULT_SETTINGS;
    const model = job.engine?.kind === 'server' ? job.engine.model : DEFAULT_BATCH_MODEL;
    return {
      add(input) {
        const request = requestFor(settings, [{ ...input, params: input.params ?? {} }]);
        const body = {
          model,
          messages: request.messages,
          max_completion_tokens: request.max_tokens,
          temperature: request.temperature,
          top_p: request.top_p,
          seed: request.seed,
          ...(request.schema ? { response_format: jsonSchemaFormat(request.schema) } : {})
        };
        return (
          JSON.stringify({ custom_id: input.customId, method: 'POST', url: CHAT_URL, body }) + '\n'
        );
      },
      end: () => ''
    };
  }
);
