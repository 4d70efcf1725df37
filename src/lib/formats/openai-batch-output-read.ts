/**
 * OpenAI batch output JSONL, read, for the read-only results viewer and "Import results
 * into this job": LocalBatch's own export, vLLM's run-batch output and the OpenAI Batch
 * API's output and error files, one result per line. Lines that cannot be read are listed
 * as problems (a run killed mid-write leaves a cut last line); the rest are shown. The rows
 * map onto the exporters' input, so a results file converts through the same CSV and JSONL
 * writers as a job.
 */
import { plural } from '$lib/shared/figures';
import type { Usage } from '$lib/shared/job';
import {
  describeValue,
  forEachJsonLine,
  isRecord,
  looksLikeOneObject,
  parseJsonFile,
  shortJson,
  type Check
} from './json';
import { exportFileName } from './file-name';
import { ProblemList } from './problems';
import { readTextFile } from './text-file';
import type { ImportProblem } from './problems';
import type { ExportInput, ExportItem, ExportResult, Exporter } from './types';

/** For the viewer's <input type="file" accept="...">. */
export const RESULTS_ACCEPT = '.jsonl,.json,.txt';

/** Which program wrote the file, told apart by the ids each one writes. */
export type ResultsProducer = 'localbatch' | 'vllm' | 'openai' | 'other';

export const PRODUCER_LABELS: Readonly<Record<ResultsProducer, string>> = {
  localbatch: 'LocalBatch export',
  vllm: 'vLLM run-batch',
  openai: 'OpenAI Batch API',
  other: 'OpenAI batch output (producer not recognised)'
};

/** One result line. `line` is 1-based in the file (the element number in a JSON array). */
export interface ResultRow {
  line: number;
  /** The line's own "id" ('' when it has none). */
  id: string;
  customId: string;
  status: 'done' | 'failed';
  /** The answer; '' for a failed request or an answer without text (only tool calls). */
  text: string;
  finishReason: string | null;
  /** Token counts only. */
  usage: Usage | null;
  model: string | null;
  /** Unix seconds the completion was created, as the file says. */
  created: number | null;
  error: ExportResult['error'];
}

export interface ResultsFile {
  fileName: string;
  /** null when nothing could be read. */
  producer: ResultsProducer | null;
  producerLabel: string;
  rows: ResultRow[];
  done: number;
  failed: number;
  /** As in ImportPreview: the first MAX_PROBLEMS_KEPT, a file-level one first. */
  problems: ImportProblem[];
  problemCount: number;
  /** Nothing can be shown from this file. */
  fatal: boolean;
}

const EXAMPLE = '{"custom_id": "...", "response": {...}, "error": null}';
const RUN_IT = 'to run it, choose it under New job on the Jobs page and press Create job';

/** LocalBatch writes id batch_req_<job>_<index> and request_id <job>-<index>. */
const LOCALBATCH_ID = /^batch_req_(.+)_(\d+)$/;

function producerOf(id: string, requestId: unknown): ResultsProducer {
  if (id.startsWith('vllm-')) return 'vllm';
  const local = LOCALBATCH_ID.exec(id);
  if (local && requestId === `${local[1]}-${local[2]}`) return 'localbatch';
  if (id.startsWith('batch_req_')) return 'openai';
  return 'other';
}

/**
 * The error of a failed request, from the shapes the producers write: {code, message}
 * (OpenAI, LocalBatch), vLLM's {"error": {message, type, code: 400}} or older
 * {"object": "error", message, type, code}, a bare text (vLLM, for exceptions), or an
 * OpenAI error-file body {"error": {message, type, code: null}}.
 */
function readError(error: unknown, status: number | null): NonNullable<ResultRow['error']> {
  const fallbackCode = status === null ? 'unknown' : `http_${status}`;
  if (typeof error === 'string') return { code: fallbackCode, message: error };
  if (!isRecord(error)) return { code: fallbackCode, message: JSON.stringify(error) };
  const inner = isRecord(error.error) ? error.error : error;
  const code =
    typeof inner.code === 'string' && inner.code !== ''
      ? inner.code
      : typeof inner.type === 'string' && inner.type !== ''
        ? inner.type
        : fallbackCode;
  const message = typeof inner.message === 'string' ? inner.message : JSON.stringify(error);
  return { code, message };
}

function readUsage(value: unknown): Usage | null {
  if (!isRecord(value)) return null;
  const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const prompt = count(value.prompt_tokens);
  // vLLM may write completion_tokens: null.
  const completion = count(value.completion_tokens) ?? 0;
  if (prompt === null) return null;
  const details = isRecord(value.prompt_tokens_details) ? value.prompt_tokens_details : {};
  const cached = count(details.cached_tokens);
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: count(value.total_tokens) ?? prompt + completion,
    // None shared is as none reported (OpenAI writes 0; LocalBatch writes only what it shared).
    ...(cached ? { prompt_tokens_details: { cached_tokens: cached } } : {})
  };
}

type Answer = Pick<ResultRow, 'text' | 'finishReason' | 'usage' | 'model' | 'created'>;

function readCompletion(body: unknown): Check<Answer> {
  if (!isRecord(body)) {
    return {
      ok: false,
      message: `"response.body" is ${describeValue(body)}: a finished request's body must be a chat completion object`
    };
  }
  if (body.object !== undefined && body.object !== 'chat.completion') {
    return {
      ok: false,
      message: `the response is ${shortJson(body.object)}, not "chat.completion": only /v1/chat/completions results can be shown`
    };
  }
  const choice: unknown = Array.isArray(body.choices) ? body.choices[0] : undefined;
  if (!isRecord(choice) || !isRecord(choice.message)) {
    return {
      ok: false,
      message: `"response.body.choices" must be a non-empty list of {"message": ...} objects`
    };
  }
  const content = choice.message.content;
  if (content != null && typeof content !== 'string') {
    return {
      ok: false,
      message: `the answer's "content" is ${describeValue(content)}: it must be a text or null`
    };
  }
  return {
    ok: true,
    value: {
      text: content ?? '',
      finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
      usage: readUsage(body.usage),
      model: typeof body.model === 'string' ? body.model : null,
      created:
        typeof body.created === 'number' && Number.isFinite(body.created) ? body.created : null
    }
  };
}

/** What a line that is not a result is instead, for the file-level message. */
type NotResult = 'request' | 'prompt' | null;

type LineRead =
  | { ok: true; row: ResultRow; producer: ResultsProducer }
  | { ok: false; message: string; input: NotResult };

function readResult(value: unknown, line: number, unitWord: 'line' | 'item'): LineRead {
  const fail = (message: string, input: NotResult = null): LineRead => ({
    ok: false,
    message,
    input
  });
  if (!isRecord(value)) {
    return fail(
      `this is ${describeValue(value)}, not a JSON object: each ${unitWord} must be a result such as ${EXAMPLE}`
    );
  }
  if (!('response' in value) && !('error' in value)) {
    if (value.body !== undefined || value.url !== undefined) {
      return fail(
        'this is a batch request, not a result: it has "body" but no "response"',
        'request'
      );
    }
    if (value.prompt !== undefined || value.messages !== undefined) {
      return fail('this is a prompt, not a result: it has no "response"', 'prompt');
    }
    return fail(`no "response" or "error": each ${unitWord} must be a result such as ${EXAMPLE}`);
  }

  const rawId = value.custom_id;
  if (rawId === undefined || rawId === null) {
    return fail(`"custom_id" is missing: every result names the request it answers`);
  }
  if (typeof rawId !== 'string' && !(typeof rawId === 'number' && Number.isFinite(rawId))) {
    return fail(`"custom_id" must be a text (it is ${describeValue(rawId)})`);
  }
  const customId = String(rawId);
  const id = typeof value.id === 'string' ? value.id : '';

  const response = value.response ?? null;
  if (response !== null && !isRecord(response)) {
    return fail(
      `"response" is ${describeValue(response)}: it must be an object with "status_code" and "body", or null`
    );
  }
  let status: number | null = null;
  if (response !== null) {
    const code = response.status_code;
    if (typeof code !== 'number' || !Number.isInteger(code)) {
      return fail(`"response.status_code" must be a whole number (it is ${shortJson(code)})`);
    }
    status = code;
  }
  const error = value.error ?? null;
  const producer = producerOf(id, response?.request_id);
  const base = { line, id, customId, text: '', finishReason: null, usage: null, created: null };

  if (error !== null || response === null || status === null || status < 200 || status > 299) {
    if (error === null && response === null) {
      return fail('"response" and "error" are both null: this line holds no result');
    }
    // OpenAI's error file puts the API's error in the body and leaves "error" null.
    const body = response?.body;
    const reason =
      error !== null
        ? readError(error, status)
        : isRecord(body) && isRecord(body.error)
          ? readError(body, status)
          : { code: `http_${status}`, message: `The request failed with HTTP status ${status}.` };
    const model = isRecord(body) && typeof body.model === 'string' ? body.model : null;
    return {
      ok: true,
      row: { ...base, status: 'failed', model, error: reason },
      producer
    };
  }

  const answer = readCompletion(response.body);
  if (!answer.ok) return fail(answer.message);
  return {
    ok: true,
    row: { ...base, ...answer.value, status: 'done', error: null },
    producer
  };
}

function fatalFile(fileName: string, message: string): ResultsFile {
  return {
    fileName,
    producer: null,
    producerLabel: '',
    rows: [],
    done: 0,
    failed: 0,
    problems: [{ line: null, message }],
    problemCount: 1,
    fatal: true
  };
}

/**
 * Reads a batch output file. Never throws: what could not be read is in `problems`, each
 * worded for `describeProblem(fileName, problem)`; `fatal` means no row could be shown.
 */
export function parseResultsFile(fileName: string, bytes: Uint8Array): ResultsFile {
  const file = readTextFile(bytes, {
    again: 'open it again',
    binary: 'open a batch output file (.jsonl)'
  });
  if (!file.ok) return fatalFile(fileName, file.message);
  const { text } = file;

  const trimmed = text.trimStart();
  const array = trimmed.startsWith('[');
  if (!array && !trimmed.startsWith('{')) {
    return fatalFile(
      fileName,
      `this does not look like batch output: each line should be a JSON object such as ${EXAMPLE}`
    );
  }

  const unit = array ? 'item' : 'line';
  const problems = new ProblemList(unit);
  const rows: ResultRow[] = [];
  const producers = new Set<ResultsProducer>();
  const inputs = { request: 0, prompt: 0 };
  const take = (value: unknown, n: number) => {
    const read = readResult(value, n, unit);
    if (!read.ok) {
      problems.add(n, read.message);
      if (read.input) inputs[read.input]++;
      return;
    }
    rows.push(read.row);
    producers.add(read.producer);
  };

  if (array) {
    const parsed = parseJsonFile(text);
    if (!parsed.ok) {
      return fatalFile(fileName, `${parsed.message}: batch output has one JSON object per line`);
    }
    const values = parsed.value;
    if (!Array.isArray(values) || values.length === 0) {
      return fatalFile(fileName, 'the file holds an empty JSON array: there are no results in it');
    }
    values.forEach((value, i) => take(value, i + 1));
  } else {
    forEachJsonLine(text, problems, take);
  }

  if (rows.length === 0) {
    const words = array ? 'items' : 'lines';
    let fatal: string;
    // Where one file-level reason explains every line's problem, those are dropped.
    if (inputs.request + inputs.prompt === problems.count) {
      fatal =
        inputs.request > 0
          ? `this looks like a batch input file (requests, not results): ${RUN_IT}`
          : `this looks like a prompt file, not results: ${RUN_IT}`;
      problems.clear();
    } else if (!array && looksLikeOneObject(trimmed)) {
      fatal =
        'the file holds one JSON object spread over several lines: batch output has one object per line';
      problems.clear();
    } else {
      fatal = `none of the ${words} could be read (${plural(problems.count, 'problem')}): fix them, or open another file`;
    }
    return {
      ...fatalFile(fileName, fatal),
      problems: [{ line: null, message: fatal }, ...problems.kept],
      problemCount: problems.count + 1
    };
  }

  const producer: ResultsProducer = producers.size === 1 ? [...producers][0]! : 'other';
  let done = 0;
  for (const row of rows) if (row.status === 'done') done++;
  return {
    fileName,
    producer,
    producerLabel: PRODUCER_LABELS[producer],
    rows,
    done,
    failed: rows.length - done,
    problems: problems.kept,
    problemCount: problems.count,
    fatal: false
  };
}

/** "LocalBatch results.jsonl" -> "LocalBatch results"; "scoring-results.csv" -> "scoring". */
function fileStem(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base).replace(/(^|[-_ .])results$/i, '');
}

/**
 * The download name for `file` converted by `exporter`: "run.jsonl" -> "run-results.csv".
 * A trailing "-results" is not doubled, so a LocalBatch export converts to the name the
 * job's own export would have.
 */
export function resultsExportName(fileName: string, exporter: Pick<Exporter, 'extension'>): string {
  return exportFileName(fileStem(fileName), exporter);
}

/**
 * The rows as the exporters' input, so CSV and LocalBatch's OpenAI batch output come from
 * the same writers as a job's export. A LocalBatch file keeps its job id and item indices,
 * so converting it back gives the same bytes; other files are numbered from 0. Results
 * files hold no prompts, so the CSV "prompt" column stays empty.
 */
export function resultsExportInput(file: ResultsFile): ExportInput {
  const local = file.rows.map((row) => LOCALBATCH_ID.exec(row.id));
  const jobIds = new Set(local.map((match) => match?.[1]));
  const sameJob = file.producer === 'localbatch' && jobIds.size === 1;
  const jobId = sameJob ? [...jobIds][0]! : 'results';
  const job = { id: jobId, name: fileStem(file.fileName) };
  const inputs: ExportItem[] = [];
  const results: ExportResult[] = [];
  file.rows.forEach((row, position) => {
    const index = sameJob ? Number(local[position]?.[2]) : position;
    inputs.push({ index, customId: row.customId, messages: [] });
    results.push({
      status: row.status,
      text: row.text,
      // Written as read: other producers also say "tool_calls", "content_filter" or "abort".
      finishReason: row.finishReason,
      usage: row.usage,
      error: row.error,
      model: row.model ?? '',
      finishedAt: (row.created ?? 0) * 1000
    });
  });
  return { job, inputs, results };
}
