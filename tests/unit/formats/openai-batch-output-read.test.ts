import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { csvOutput } from '$lib/formats/csv';
import { describeProblem } from '$lib/formats/problems';
import { openaiBatchOutput } from '$lib/formats/openai-batch-output';
import {
  PRODUCER_LABELS,
  parseResultsFile,
  resultsExportInput,
  resultsExportName,
  type ResultRow,
  type ResultsFile
} from '$lib/formats/openai-batch-output-read';

const FIXTURES = 'tests/fixtures/results/';

function fixtureText(path: string): string {
  return readFileSync(FIXTURES + path, 'utf8');
}

function openFixture(path: string): ResultsFile {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return parseResultsFile(name, new Uint8Array(readFileSync(FIXTURES + path)));
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function described(file: ResultsFile): string[] {
  return file.problems.map((p) => describeProblem(file.fileName, p));
}

const QWEN = 'Qwen/Qwen2.5-7B-Instruct';
const CONTEXT_ERROR =
  "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (32000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.";

describe('parseResultsFile: the three producers', () => {
  test('vLLM run-batch: answers, an ErrorResponse and a bare error text', () => {
    const file = openFixture('vllm-run-batch.jsonl');
    expect(file).toMatchObject({
      fileName: 'vllm-run-batch.jsonl',
      producer: 'vllm',
      producerLabel: 'vLLM run-batch',
      done: 4,
      failed: 2,
      problems: [],
      problemCount: 0,
      fatal: false
    });
    expect(file.rows).toEqual([
      {
        line: 1,
        id: 'vllm-f0a889c48260506d269fdee35f7c126d',
        customId: 'q-1',
        status: 'done',
        text: '2 + 2 = 4.',
        finishReason: 'stop',
        usage: { prompt_tokens: 24, completion_tokens: 8, total_tokens: 32 },
        model: QWEN,
        created: 1751300000,
        error: null
      },
      {
        line: 2,
        id: 'vllm-b2135b2333b41336072023a517dd5bc0',
        customId: 'q-2',
        status: 'done',
        text: 'Der Nil 🌍 — 尼罗河 (النيل), naïve café',
        finishReason: 'stop',
        usage: { prompt_tokens: 19, completion_tokens: 17, total_tokens: 36 },
        model: QWEN,
        created: 1751300001,
        error: null
      },
      {
        line: 3,
        id: 'vllm-d6e2e74b6b890b87cb85314423f2e0b3',
        customId: 'q-3',
        status: 'done',
        text: '<img src=x onerror=alert(1)> is an XSS payload',
        finishReason: 'length',
        usage: { prompt_tokens: 31, completion_tokens: 12, total_tokens: 43 },
        model: QWEN,
        created: 1751300001,
        error: null
      },
      {
        line: 4,
        id: 'vllm-d683488a7cae299fdc7c65d42d64b7a1',
        customId: 'q-4',
        status: 'failed',
        text: '',
        finishReason: null,
        usage: null,
        model: null,
        created: null,
        error: { code: 'BadRequestError', message: CONTEXT_ERROR }
      },
      {
        line: 5,
        id: 'vllm-097b3639a6871dec0232e1a202acebed',
        customId: 'q-5',
        status: 'done',
        text: 'Line one\nLine two',
        finishReason: 'stop',
        usage: { prompt_tokens: 12, completion_tokens: 6, total_tokens: 18 },
        model: QWEN,
        created: 1751300003,
        error: null
      },
      {
        line: 6,
        id: 'vllm-062f6e453f210d53d889d3a073ca04ac',
        customId: 'q-6',
        status: 'failed',
        text: '',
        finishReason: null,
        usage: null,
        model: null,
        created: null,
        error: { code: 'http_400', message: 'Request must not be sent in stream mode' }
      }
    ] satisfies ResultRow[]);
  });

  test('OpenAI Batch API: answers, an "error" line and an error-file line', () => {
    const file = openFixture('openai-batch.jsonl');
    expect(file).toMatchObject({
      producer: 'openai',
      producerLabel: 'OpenAI Batch API',
      done: 2,
      failed: 2,
      problemCount: 0,
      fatal: false
    });
    const model = 'gpt-4o-mini-2024-07-18';
    expect(file.rows).toEqual([
      {
        line: 1,
        id: 'batch_req_1e3edcc1a1d759813057b09c',
        customId: 'request-1',
        status: 'done',
        text: 'Paris.',
        finishReason: 'stop',
        usage: { prompt_tokens: 20, completion_tokens: 2, total_tokens: 22 },
        model,
        created: 1751400001,
        error: null
      },
      {
        line: 2,
        id: 'batch_req_a96d45297ad62b6446027ebb',
        customId: 'request-2',
        status: 'done',
        text: 'Bonjour ! 😊',
        finishReason: 'stop',
        usage: { prompt_tokens: 18, completion_tokens: 5, total_tokens: 23 },
        model,
        created: 1751400002,
        error: null
      },
      {
        line: 3,
        id: 'batch_req_af1e2c146ff77fc7bbf90369',
        customId: 'request-3',
        status: 'failed',
        text: '',
        finishReason: null,
        usage: null,
        model: null,
        created: null,
        error: {
          code: 'batch_expired',
          message: 'This request could not be executed before the completion window expired.'
        }
      },
      {
        line: 4,
        id: 'batch_req_a59ef561b7bd3e4bfe2fa997',
        customId: 'request-4',
        status: 'failed',
        text: '',
        finishReason: null,
        usage: null,
        model: null,
        created: null,
        error: { code: 'invalid_request_error', message: "Invalid 'messages[0].role': 'bot'." }
      }
    ] satisfies ResultRow[]);
  });

  test("LocalBatch's own export", () => {
    const file = openFixture('localbatch-export.jsonl');
    expect(file).toMatchObject({
      producer: 'localbatch',
      producerLabel: 'LocalBatch export',
      done: 3,
      failed: 1,
      problemCount: 0,
      fatal: false
    });
    const model = 'Qwen2.5-7B-Instruct-q4f16_1-MLC';
    const job = 'batch_req_mbq3x7k2-1k9z3x82b7w4q1_';
    expect(file.rows).toEqual([
      {
        line: 1,
        id: job + '0',
        customId: 'score-1',
        status: 'done',
        text: '{"score": 4}',
        finishReason: 'stop',
        // 48 of its 61 prompt tokens were a prefix read once and shared.
        usage: {
          prompt_tokens: 61,
          completion_tokens: 7,
          total_tokens: 68,
          prompt_tokens_details: { cached_tokens: 48 }
        },
        model,
        created: 1751000000,
        error: null
      },
      {
        line: 2,
        id: job + '1',
        customId: 'score-2',
        status: 'done',
        text: '评分：5 — très bien 👍\nReason: "concise", <b>accurate</b>',
        finishReason: 'length',
        usage: { prompt_tokens: 58, completion_tokens: 16, total_tokens: 74 },
        model,
        created: 1751000002,
        error: null
      },
      {
        line: 3,
        id: job + '3',
        customId: 'score-4',
        status: 'failed',
        text: '',
        finishReason: null,
        usage: null,
        model: null,
        created: null,
        error: {
          code: 'context-exceeded',
          message:
            "The prompt needs 4210 tokens, but the plan's context of 4096 tokens leaves 3584 for the prompt after the answer."
        }
      },
      {
        line: 4,
        id: job + '4',
        customId: 'score-5',
        status: 'done',
        text: '=1+1',
        finishReason: 'stop',
        usage: { prompt_tokens: 40, completion_tokens: 3, total_tokens: 43 },
        model,
        created: 1751000004,
        error: null
      }
    ] satisfies ResultRow[]);
  });

  test('producer labels', () => {
    expect(PRODUCER_LABELS).toEqual({
      localbatch: 'LocalBatch export',
      vllm: 'vLLM run-batch',
      openai: 'OpenAI Batch API',
      other: 'OpenAI batch output (producer not recognised)'
    });
  });

  test('lines from different producers, or ids none of them writes, are "other"', () => {
    const vllm = fixtureText('vllm-run-batch.jsonl').split('\n')[0]!;
    const openai = fixtureText('openai-batch.jsonl').split('\n')[0]!;
    const mixed = parseResultsFile('mixed.jsonl', text(`${vllm}\n${openai}\n`));
    expect([mixed.producer, mixed.producerLabel, mixed.done]).toEqual([
      'other',
      'OpenAI batch output (producer not recognised)',
      2
    ]);
    const own = parseResultsFile(
      'own.jsonl',
      text('{"custom_id":7,"response":null,"error":{"code":"x","message":"m"}}\n')
    );
    expect(own.producer).toBe('other');
    expect(own.rows[0]).toMatchObject({ id: '', customId: '7', status: 'failed' });
  });

  test('CRLF, a BOM and blank lines; line numbers are physical lines', () => {
    const lines = fixtureText('openai-batch.jsonl').trimEnd().split('\n');
    const file = parseResultsFile(
      'crlf.jsonl',
      text('\uFEFF' + lines[0] + '\r\n\r\n' + lines[2] + '\r\n   \r\n')
    );
    expect(file.rows.map((r) => [r.line, r.customId, r.status])).toEqual([
      [1, 'request-1', 'done'],
      [3, 'request-3', 'failed']
    ]);
    expect(file.problemCount).toBe(0);
  });

  test('a JSON array of results counts items', () => {
    const lines = fixtureText('vllm-run-batch.jsonl').trimEnd().split('\n');
    const file = parseResultsFile('results.json', text(`[${lines[0]},\n${lines[3]}, 42]`));
    expect(file.rows.map((r) => [r.line, r.customId, r.status])).toEqual([
      [1, 'q-1', 'done'],
      [2, 'q-4', 'failed']
    ]);
    expect(described(file)).toEqual([
      'results.json item 3: this is a number, not a JSON object: each item must be a result such as {"custom_id": "...", "response": {...}, "error": null}'
    ]);
  });

  test('an answer without text (tool calls only) is done with empty text', () => {
    const file = parseResultsFile(
      't.jsonl',
      text(
        JSON.stringify({
          id: 'vllm-1',
          custom_id: 't',
          response: {
            status_code: 200,
            request_id: 'vllm-batch-1',
            body: {
              object: 'chat.completion',
              choices: [
                { message: { content: null, tool_calls: [{}] }, finish_reason: 'tool_calls' }
              ],
              usage: { prompt_tokens: 3, completion_tokens: null, total_tokens: 3 }
            }
          },
          error: null
        })
      )
    );
    expect(file.rows[0]).toEqual({
      line: 1,
      id: 'vllm-1',
      customId: 't',
      status: 'done',
      text: '',
      finishReason: 'tool_calls',
      usage: { prompt_tokens: 3, completion_tokens: 0, total_tokens: 3 },
      model: null,
      created: null,
      error: null
    });
  });
});

const EXAMPLE = '{"custom_id": "...", "response": {...}, "error": null}';
const RUN_IT = 'to run it, choose it under New job on the Jobs page and press Create job';

interface BadCase {
  file: string;
  fatal: boolean;
  /** Rows still read from the file. */
  rows: number;
  /** Every problem, as describeProblem writes it. */
  messages: string[];
}

const badCases: BadCase[] = [
  { file: 'empty.jsonl', fatal: true, rows: 0, messages: ['empty.jsonl: the file is empty'] },
  {
    file: 'batch-input.jsonl',
    fatal: true,
    rows: 0,
    messages: [
      `batch-input.jsonl: this looks like a batch input file (requests, not results): ${RUN_IT}`
    ]
  },
  {
    file: 'prompts.jsonl',
    fatal: true,
    rows: 0,
    messages: [`prompts.jsonl: this looks like a prompt file, not results: ${RUN_IT}`]
  },
  {
    file: 'not-jsonl.txt',
    fatal: true,
    rows: 0,
    messages: [
      `not-jsonl.txt: this does not look like batch output: each line should be a JSON object such as ${EXAMPLE}`
    ]
  },
  {
    file: 'utf16.jsonl',
    fatal: true,
    rows: 0,
    messages: ['utf16.jsonl: the file is saved as UTF-16: save it as UTF-8 and open it again']
  },
  {
    file: 'binary.jsonl',
    fatal: true,
    rows: 0,
    messages: [
      'binary.jsonl: this is not a text file (it is binary, or its text is not UTF-8): open a batch output file (.jsonl)'
    ]
  },
  {
    file: 'pretty-object.json',
    fatal: true,
    rows: 0,
    messages: [
      'pretty-object.json: the file holds one JSON object spread over several lines: batch output has one object per line'
    ]
  },
  {
    file: 'empty-array.json',
    fatal: true,
    rows: 0,
    messages: ['empty-array.json: the file holds an empty JSON array: there are no results in it']
  },
  {
    file: 'all-bad.jsonl',
    fatal: true,
    rows: 0,
    messages: [
      'all-bad.jsonl: none of the lines could be read (3 problems): fix them, or open another file',
      'all-bad.jsonl line 1: not valid JSON (Unexpected end of JSON input)',
      `all-bad.jsonl line 2: no "response" or "error": each line must be a result such as ${EXAMPLE}`,
      `all-bad.jsonl line 3: this is a list, not a JSON object: each line must be a result such as ${EXAMPLE}`
    ]
  },
  {
    file: 'bad-lines.jsonl',
    fatal: false,
    rows: 2,
    messages: [
      `bad-lines.jsonl line 2: this is a text, not a JSON object: each line must be a result such as ${EXAMPLE}`,
      'bad-lines.jsonl line 3: this is a batch request, not a result: it has "body" but no "response"',
      'bad-lines.jsonl line 4: "custom_id" is missing: every result names the request it answers',
      'bad-lines.jsonl line 5: "custom_id" must be a text (it is an object)',
      'bad-lines.jsonl line 6: "response" is a text: it must be an object with "status_code" and "body", or null',
      'bad-lines.jsonl line 7: "response.status_code" must be a whole number (it is "200")',
      'bad-lines.jsonl line 8: the response is "list", not "chat.completion": only /v1/chat/completions results can be shown',
      'bad-lines.jsonl line 9: "response" and "error" are both null: this line holds no result',
      'bad-lines.jsonl line 10: "response.body.choices" must be a non-empty list of {"message": ...} objects',
      `bad-lines.jsonl line 11: the answer's "content" is a list: it must be a text or null`,
      `bad-lines.jsonl line 13: "response.body" is null: a finished request's body must be a chat completion object`,
      `bad-lines.jsonl line 15: no "response" or "error": each line must be a result such as ${EXAMPLE}`,
      // A run killed while writing leaves the last line cut off.
      'bad-lines.jsonl line 16: not valid JSON (Unterminated string in JSON at column 91)'
    ]
  }
];

describe('parseResultsFile: bad inputs (tests/fixtures/results/bad)', () => {
  test.each(badCases.map((c) => [c.file, c] as const))('%s', (_name, c) => {
    const file = openFixture('bad/' + c.file);
    expect(described(file)).toEqual(c.messages);
    expect(file.fatal).toBe(c.fatal);
    expect(file.rows).toHaveLength(c.rows);
    expect(file.problemCount).toBe(c.messages.length);
    if (c.fatal) expect([file.producer, file.done, file.failed]).toEqual([null, 0, 0]);
    for (const problem of file.problems) {
      if (problem.line === null) expect(problem.message).not.toMatch(/^[A-Z]/);
    }
  });

  test('bad-lines.jsonl keeps the lines that are results, a 500 with no body as failed', () => {
    const file = openFixture('bad/bad-lines.jsonl');
    expect(file.producer).toBe('vllm');
    expect([file.done, file.failed]).toEqual([1, 1]);
    expect(file.rows.map((r) => [r.line, r.customId, r.status, r.text, r.error])).toEqual([
      [1, 'ok-1', 'done', 'fine', null],
      [
        14,
        'c-13',
        'failed',
        '',
        { code: 'http_500', message: 'The request failed with HTTP status 500.' }
      ]
    ]);
  });

  test('a file over the size limit is refused before decoding', () => {
    const file = parseResultsFile('huge.jsonl', new Uint8Array(256 * 1024 * 1024 + 1));
    expect(described(file)).toEqual([
      'huge.jsonl: the file is 256.1 MiB; the limit is 256 MiB: split it into smaller files'
    ]);
  });

  test('a broken JSON array names the line and column', () => {
    const file = parseResultsFile('r.json', text('[\n{"custom_id": "a",\n'));
    expect(described(file)).toEqual([
      'r.json: the file is not valid JSON (Expected double-quoted property name in JSON at line 3 column 1): batch output has one JSON object per line'
    ]);
  });
});

describe('converting a results file', () => {
  test('CSV of the vLLM file: the same writer as a job export, no prompt column values', () => {
    const out = csvOutput.write(resultsExportInput(openFixture('vllm-run-batch.jsonl')));
    expect(out).toBe(
      'custom_id,prompt,output,status,error,prompt_tokens,completion_tokens\r\n' +
        'q-1,,2 + 2 = 4.,done,,24,8\r\n' +
        'q-2,,"Der Nil 🌍 — 尼罗河 (النيل), naïve café",done,,19,17\r\n' +
        'q-3,,<img src=x onerror=alert(1)> is an XSS payload,done,,31,12\r\n' +
        `q-4,,,failed,"${CONTEXT_ERROR}",,\r\n` +
        'q-5,,"Line one\nLine two",done,,12,6\r\n' +
        'q-6,,,failed,Request must not be sent in stream mode,,\r\n'
    );
  });

  test('normalized JSONL of the OpenAI file: LocalBatch key order, ids numbered from 0', () => {
    const out = openaiBatchOutput.write(resultsExportInput(openFixture('openai-batch.jsonl')));
    expect(out.split('\n')).toEqual([
      '{"id":"batch_req_results_0","custom_id":"request-1","response":{"status_code":200,"request_id":"results-0","body":{"id":"chatcmpl-results-0","object":"chat.completion","created":1751400001,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Paris."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":2,"total_tokens":22}}},"error":null}',
      '{"id":"batch_req_results_1","custom_id":"request-2","response":{"status_code":200,"request_id":"results-1","body":{"id":"chatcmpl-results-1","object":"chat.completion","created":1751400002,"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour ! 😊"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":18,"completion_tokens":5,"total_tokens":23}}},"error":null}',
      '{"id":"batch_req_results_2","custom_id":"request-3","response":{"status_code":400,"request_id":"results-2","body":null},"error":{"code":"batch_expired","message":"This request could not be executed before the completion window expired."}}',
      '{"id":"batch_req_results_3","custom_id":"request-4","response":{"status_code":400,"request_id":"results-3","body":null},"error":{"code":"invalid_request_error","message":"Invalid \'messages[0].role\': \'bot\'."}}',
      ''
    ]);
  });

  test('a finish reason LocalBatch never writes is kept as read', () => {
    const vllm = fixtureText('vllm-run-batch.jsonl').split('\n')[0]!.replace('"stop"', '"abort"');
    const out = openaiBatchOutput.write(
      resultsExportInput(parseResultsFile('a.jsonl', text(vllm)))
    );
    expect(out).toContain('"finish_reason":"abort"');
  });

  test('a LocalBatch export converts back to the same bytes (its job id and item indices)', () => {
    const original = fixtureText('localbatch-export.jsonl');
    const file = openFixture('localbatch-export.jsonl');
    expect(openaiBatchOutput.write(resultsExportInput(file))).toBe(original);
    expect(resultsExportInput(file).inputs.map((i) => i.index)).toEqual([0, 1, 3, 4]);
    // The CSV escapes a formula start, as a job export does.
    expect(csvOutput.write(resultsExportInput(file)).split('\r\n')[4]).toBe(
      `score-5,,"'=1+1",done,,40,3`
    );
  });

  test.each([
    ['vllm-run-batch.jsonl', csvOutput, 'vllm-run-batch-results.csv'],
    ['weclone-scoring-results.jsonl', csvOutput, 'weclone-scoring-results.csv'],
    ['weclone-scoring-results.jsonl', openaiBatchOutput, 'weclone-scoring-results.jsonl'],
    ['batch_6789_output.jsonl', openaiBatchOutput, 'batch-6789-output-results.jsonl'],
    ['Ergebnisse März.txt', csvOutput, 'ergebnisse-märz-results.csv'],
    ['.jsonl', csvOutput, 'jsonl-results.csv'],
    ['results', csvOutput, 'localbatch-results.csv']
  ])('download name for %s (%s)', (fileName, exporter, expected) => {
    expect(resultsExportName(fileName, exporter)).toBe(expected);
  });
});

describe('parseResultsFile: size', () => {
  test('100,000 lines are read (the speed: npm run bench, results_file_100k_ms)', () => {
    const line = fixtureText('vllm-run-batch.jsonl').split('\n')[0]!;
    const lines: string[] = [];
    for (let i = 0; i < 100_000; i++) lines.push(line.replace('"q-1"', `"q-${i}"`));
    const bytes = text(lines.join('\n') + '\n');
    const file = parseResultsFile('big.jsonl', bytes);
    expect([file.rows.length, file.done, file.failed, file.problemCount]).toEqual([
      100_000, 100_000, 0, 0
    ]);
    expect(file.rows[99_999]).toMatchObject({ line: 100_000, customId: 'q-99999' });
  });
});
