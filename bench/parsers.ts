/**
 * The pure parsers at 100,000 items, timed in the bench page (not in unit tests, where
 * a busy machine would fail them by chance): the prompt file formats, the token
 * estimate of a whole job, and a results file read back. Each figure is the median of
 * three runs, in milliseconds.
 */
import { parseImport } from '$lib/formats/import';
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
    )
  };
}
