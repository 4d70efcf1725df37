/**
 * The pure parsers at 100,000 items, timed in the bench page (not in unit tests, where
 * a busy machine would fail them by chance): the prompt file formats, the token
 * estimate of a whole job, a results file read back, and the CSV export's text (as the
 * export writes it, 5,000 rows to a papaparse call, beside its baseline of one call a row,
 * as exports were written until 2026-12-07). Each figure is the median of three runs, in
 * milliseconds.
 */
import { csvOutput } from '$lib/formats/csv';
import { parseImport } from '$lib/formats/import';
import type { ExportItem, ExportJob, ExportResult } from '$lib/formats/types';
import { MAX_IMPORT_ITEMS } from '$lib/formats/problems';
import { parseResultsFile } from '$lib/formats/openai-batch-output-read';
import { estimateJobTokens } from '$lib/plan/tokens';

const ROUNDS = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Median ms of `run`, which must return `expected` (so the work is checked, not skipped). */
function timed(run: () => number, expected: number, what: string): number {
  const times: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    const got = run();
    times.push(performance.now() - start);
    if (got !== expected) throw new Error(`${what}: ${got} items, expected ${expected}.`);
  }
  return median(times);
}

const encode = (text: string) => new TextEncoder().encode(text);

/** One vLLM run-batch output line of about 600 bytes, as the results viewer reads them. */
function resultLine(i: number): string {
  return JSON.stringify({
    id: `vllm-${i}`,
    custom_id: `q-${i}`,
    response: {
      status_code: 200,
      request_id: `vllm-batch-${i}`,
      body: {
        id: `chatcmpl-${i}`,
        object: 'chat.completion',
        created: 1751300000,
        model: 'Qwen/Qwen2.5-7B-Instruct',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: `Answer number ${i}: 2 + 2 = 4.` },
            finish_reason: 'stop'
          }
        ],
        usage: { prompt_tokens: 24, total_tokens: 32, completion_tokens: 8 }
      }
    },
    error: null
  });
}

/** 100,000 items and results as an export reads them: a prompt and an answer each. */
function exportRows(n: number): { items: ExportItem[]; results: ExportResult[] } {
  const items = Array.from(
    { length: n },
    (_, i): ExportItem =>
      ({
        index: i,
        line: i + 1,
        customId: `q-${i + 1}`,
        messages: [{ role: 'user', content: `Question number ${i + 1}: what is ${i} plus ${i}?` }],
        params: {}
      }) as ExportItem
  );
  const results = items.map(
    (_, i): ExportResult =>
      ({
        status: 'done',
        text: `The answer to ${i} is ${2 * i}, as "anyone" can see,\nsurely.`,
        usage: { prompt_tokens: 20, completion_tokens: 12, total_tokens: 32 },
        error: null,
        model: 'm',
        finishedAt: 1
      }) as ExportResult
  );
  return { items, results };
}

/** The CSV export's text of `rows`, `chunk` rows at a time as writeExport gives them; its length. */
function csvChunked(rows: ReturnType<typeof exportRows>, chunk: number): number {
  const writer = csvOutput.writer({ name: 'bench' } as ExportJob);
  let length = 0;
  for (let from = 0; from < rows.items.length; from += chunk) {
    length += writer.addMany!(
      rows.items.slice(from, from + chunk),
      rows.results.slice(from, from + chunk)
    ).length;
  }
  return length + writer.end().length;
}

/** The baseline: the writer's `add`, one papaparse call a row, as exports were written before. */
function csvRowByRow(rows: ReturnType<typeof exportRows>): number {
  const writer = csvOutput.writer({ name: 'bench' } as ExportJob);
  let length = 0;
  rows.items.forEach((item, i) => (length += writer.add(item, rows.results[i]).length));
  return length + writer.end().length;
}

export function parsers(): Record<string, number> {
  const n = MAX_IMPORT_ITEMS;
  const jsonl = encode(
    Array.from({ length: n }, (_, i) =>
      JSON.stringify({ custom_id: `q-${i}`, prompt: `Question number ${i}?`, max_tokens: 64 })
    ).join('\n') + '\n'
  );
  const csv = encode(
    ['id,prompt', ...Array.from({ length: n }, (_, i) => `${i},"Prompt ${i}, please"`)].join('\r\n')
  );
  const txt = encode(Array.from({ length: n }, (_, i) => `Prompt ${i}`).join('\n'));
  const text =
    'Rate this answer from 1 to 5 for relevance and style. Question: how was your day? 今天很好。 Answer: fine, thanks! 2024-05-01';
  const requests = Array.from({ length: n }, (_, i) => ({
    messages: [
      {
        role: 'system' as const,
        content: 'You are a strict grader. Reply with JSON {"score": n}.'
      },
      { role: 'user' as const, content: `${text} #${i}` }
    ],
    max_tokens: 64
  }));
  const results = encode(Array.from({ length: n }, (_, i) => resultLine(i)).join('\n') + '\n');
  return {
    parse_100k_jsonl_ms: timed(() => parseImport('big.jsonl', jsonl).items.length, n, 'JSONL'),
    parse_100k_csv_ms: timed(() => parseImport('big.csv', csv).items.length, n, 'CSV'),
    parse_100k_txt_ms: timed(() => parseImport('big.txt', txt).items.length, n, 'TXT'),
    estimate_100k_ms: timed(
      () => (estimateJobTokens(requests).needs.maxAnswerTokens === 64 ? n : 0),
      n,
      'token estimate'
    ),
    results_file_100k_ms: timed(
      () => parseResultsFile('big.jsonl', results).rows.length,
      n,
      'results file'
    ),
    // The same text both ways (its length checked), in this one page, one after the other.
    ...csvFigures(n)
  };
}

function csvFigures(n: number): Record<string, number> {
  const rows = exportRows(n);
  const expected = csvChunked(rows, 5_000);
  return {
    csv_text_100k_ms: timed(() => csvChunked(rows, 5_000), expected, 'CSV text'),
    csv_text_100k_row_by_row_ms: timed(() => csvRowByRow(rows), expected, 'CSV text row by row')
  };
}
