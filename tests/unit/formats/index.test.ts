import Papa from 'papaparse';
import { describe, expect, test } from 'vitest';
import { csvOutput } from '$lib/formats/csv';
import { exportFileName } from '$lib/formats/file-name';
import { exporters } from '$lib/formats/index';
import { parseImport } from '$lib/formats/import';
import { openaiBatchInput } from '$lib/formats/jsonl';
import { openaiBatchOutput } from '$lib/formats/openai-batch-output';
import type { ExportInput, ExportResult } from '$lib/formats/types';
import type { ItemInput, ItemResult, JobMeta } from '$lib/shared/job';
import { DEFAULT_SETTINGS } from '$lib/shared/job';

const job: JobMeta = {
  id: 'job42',
  name: 'WeClone scoring!',
  createdAt: 1_700_000_000_000,
  sourceFileName: 'prompts.jsonl',
  format: 'openai-batch',
  total: 3,
  settings: { ...DEFAULT_SETTINGS, name: 'WeClone scoring!' },
  engine: {
    kind: 'simulated',
    modelId: null,
    tokenDelayMs: 0,
    simMemoryMB: null,
    simHangAtItem: null
  },
  needs: { longestPromptTokens: 100, maxAnswerTokens: 512, exact: false }
};

const inputs: ItemInput[] = [
  {
    index: 0,
    line: 1,
    customId: 'q-1',
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2+2?' },
      { role: 'assistant', content: '4' },
      { role: 'user', content: '=SUM(A1:A2)\nand "more"' }
    ],
    params: {}
  },
  {
    index: 1,
    line: 2,
    customId: 'q-2',
    messages: [{ role: 'user', content: 'Say ünïcode 🌍' }],
    params: { max_tokens: 8 }
  },
  {
    index: 2,
    line: 3,
    customId: 'q-3',
    messages: [{ role: 'user', content: 'Never finished' }],
    params: {}
  }
];

const done: ItemResult = {
  index: 0,
  customId: 'q-1',
  status: 'done',
  text: '+4, "quoted", line\nbreak',
  finishReason: 'stop',
  usage: {
    prompt_tokens: 12,
    completion_tokens: 5,
    total_tokens: 17,
    prefill_tokens_per_s: 900.5,
    decode_tokens_per_s: 30.25
  },
  error: null,
  model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
  finishedAt: 1_700_000_123_999,
  attempts: 1
};

/** A failed result as another program may write it: the exporters take any error code. */
const failed: ExportResult & Pick<ItemResult, 'index' | 'customId' | 'attempts'> = {
  index: 1,
  customId: 'q-2',
  status: 'failed',
  text: '',
  finishReason: null,
  usage: null,
  error: { code: 'context_length_exceeded', message: 'The prompt is longer than 4096 tokens.' },
  model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
  finishedAt: 1_700_000_200_000,
  attempts: 3
};

const input: ExportInput = { job, inputs, results: [done, failed, undefined] };

describe('openaiBatchOutput', () => {
  test('meta', () => {
    expect({ ...openaiBatchOutput, write: undefined, writer: undefined }).toEqual({
      id: 'openai-batch-output',
      label: 'OpenAI batch output',
      mimeType: 'application/jsonl',
      extension: 'jsonl',
      write: undefined
    });
  });

  test('one line per finished item, fixed key order, no speeds, failed items vLLM-style', () => {
    const out = openaiBatchOutput.write(input);
    expect(out).toBe(
      '{"id":"batch_req_job42_0","custom_id":"q-1","response":{"status_code":200,"request_id":"job42-0","body":{"id":"chatcmpl-job42-0","object":"chat.completion","created":1700000123,"model":"Qwen2.5-7B-Instruct-q4f16_1-MLC","choices":[{"index":0,"message":{"role":"assistant","content":"+4, \\"quoted\\", line\\nbreak"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":5,"total_tokens":17}}},"error":null}\n' +
        '{"id":"batch_req_job42_1","custom_id":"q-2","response":{"status_code":400,"request_id":"job42-1","body":null},"error":{"code":"context_length_exceeded","message":"The prompt is longer than 4096 tokens."}}\n'
    );
    expect(out).not.toContain('tokens_per_s');
  });

  test('byte-stable: the same input gives the same text', () => {
    expect(openaiBatchOutput.write(input)).toBe(openaiBatchOutput.write(structuredClone(input)));
  });

  test('nothing finished -> empty text; unknown usage and error are explicit', () => {
    expect(openaiBatchOutput.write({ job, inputs, results: [] })).toBe('');
    const out = openaiBatchOutput.write({
      job,
      inputs: inputs.slice(0, 1),
      results: [
        { ...done, usage: null, finishReason: 'length' },
        { ...failed, error: null }
      ]
    });
    const line = JSON.parse(out) as {
      response: { body: { usage: unknown; choices: { finish_reason: string }[] } };
    };
    expect(line.response.body.usage).toBeNull();
    expect(line.response.body.choices[0]?.finish_reason).toBe('length');
    const failedOnly = openaiBatchOutput.write({
      job,
      inputs: inputs.slice(1, 2),
      results: [{ ...failed, error: null }]
    });
    expect(failedOnly).toContain(
      '"error":{"code":"unknown","message":"The item failed without an error message."}}\n'
    );
  });

  test('every line parses as JSON and keeps input order', () => {
    const lines = openaiBatchOutput.write(input).split('\n');
    expect(lines.pop()).toBe('');
    expect(lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual([
      'q-1',
      'q-2'
    ]);
  });
});

describe('csvOutput', () => {
  test('meta', () => {
    expect([csvOutput.id, csvOutput.label, csvOutput.mimeType, csvOutput.extension]).toEqual([
      'csv-output',
      'CSV',
      'text/csv',
      'csv'
    ]);
  });

  test('header, last user message, quoting, CRLF, formula escaping (also before a line break)', () => {
    expect(csvOutput.write(input)).toBe(
      'custom_id,prompt,output,status,error,prompt_tokens,completion_tokens\r\n' +
        `q-1,"'=SUM(A1:A2)\nand ""more""","'+4, ""quoted"", line\nbreak",done,,12,5\r\n` +
        'q-2,Say ünïcode 🌍,,failed,The prompt is longer than 4096 tokens.,,\r\n'
    );
  });

  test('rows written together (addMany, as an export writes 5,000 at a time) are the rows written one by one', () => {
    // The tricky rows twice over, with an item that has no result between them.
    const many = [...inputs, ...inputs, ...inputs];
    const manyResults = [...input.results, undefined, ...input.results.slice(1), ...input.results];
    const one = csvOutput.writer(job);
    let byOne = '';
    many.forEach((item, i) => (byOne += one.add(item, manyResults[i])));
    const together = csvOutput.writer(job);
    const byMany =
      together.addMany!(many.slice(0, 4), manyResults.slice(0, 4)) +
      together.addMany!(many.slice(4), manyResults.slice(4));
    expect(byMany + together.end()).toBe(byOne + one.end());
    expect(byOne.split('\r\n').filter((line) => line.startsWith('q-'))).toHaveLength(5);
  });

  test('header only when nothing has finished', () => {
    expect(csvOutput.write({ job, inputs, results: [] })).toBe(
      'custom_id,prompt,output,status,error,prompt_tokens,completion_tokens\r\n'
    );
  });

  test('escapes =, +, -, @, tab and CR starts in every text column', () => {
    const out = csvOutput.write({
      job,
      inputs: [{ ...inputs[1]!, customId: '@id', messages: [{ role: 'user', content: '-1' }] }],
      results: [{ ...done, text: '\tx', error: { code: 'e', message: '=bad' }, status: 'failed' }]
    });
    const rows = Papa.parse<string[]>(out.trimEnd(), { delimiter: ',' }).data;
    expect(rows[1]).toEqual(["'@id", "'-1", "'\tx", 'failed', "'=bad", '12', '5']);
  });

  test('round-trips through papaparse', () => {
    const rows = Papa.parse<Record<string, string>>(csvOutput.write(input), {
      header: true,
      skipEmptyLines: true
    }).data;
    expect(rows.map((r) => r.custom_id)).toEqual(['q-1', 'q-2']);
    expect(rows[1]?.prompt).toBe('Say ünïcode 🌍');
  });
});

describe('exporters and exportFileName', () => {
  test('exporters list', () => {
    expect(exporters.map((e) => e.id)).toEqual([
      'openai-batch-output',
      'csv-output',
      'openai-batch-input',
      'weclone-scored',
      'weclone-cleaned',
      'sharegpt-output',
      'alpaca-output',
      'dataset-info'
    ]);
  });

  test.each([
    ['WeClone scoring!', 'jsonl', 'weclone-scoring-results.jsonl'],
    ['  --My   Job: v2.1 (final)/', 'csv', 'my-job-v2-1-final-results.csv'],
    ['../../etc/passwd', 'jsonl', 'etc-passwd-results.jsonl'],
    ['', 'jsonl', 'localbatch-results.jsonl'],
    ['!!!', 'csv', 'localbatch-results.csv'],
    ['Café Ｆｕｌｌ', 'csv', 'café-full-results.csv'],
    ['微信 评分', 'jsonl', '微信-评分-results.jsonl'],
    ['a'.repeat(70) + ' b', 'jsonl', 'a'.repeat(60) + '-results.jsonl'],
    ['x'.repeat(59) + ' yz', 'jsonl', 'x'.repeat(59) + '-results.jsonl']
  ])('%j -> %s', (name, extension, expected) => {
    expect(exportFileName(name, { extension })).toBe(expected);
  });

  test('exportFileName uses the exporter extension', () => {
    expect(exportFileName(job.name, openaiBatchOutput)).toBe('weclone-scoring-results.jsonl');
    expect(exportFileName(job.name, csvOutput)).toBe('weclone-scoring-results.csv');
  });

  test('a text file imports through parseImport, beside the exporters', () => {
    expect(parseImport('a.txt', new TextEncoder().encode('hi')).items).toHaveLength(1);
  });
});

describe('openaiBatchInput', () => {
  test('one request per item, as vllm run-batch and the OpenAI Batch API read them', () => {
    const text = openaiBatchInput.write({ job, inputs, results: [] });
    const lines = text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toHaveLength(3);
    expect(lines[1]).toEqual({
      custom_id: 'q-2',
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: 'Qwen/Qwen2.5-7B-Instruct',
        messages: [{ role: 'user', content: 'Say ünïcode 🌍' }],
        max_completion_tokens: 8,
        temperature: job.settings.temperature,
        top_p: job.settings.top_p,
        seed: job.settings.seed
      }
    });
    // A file LocalBatch reads back as the same prompts.
    const again = parseImport('again.jsonl', new TextEncoder().encode(text));
    expect(again.format).toBe('openai-batch');
    expect(again.items.map((item) => item.customId)).toEqual(['q-1', 'q-2', 'q-3']);
    expect(again.items[1]?.params).toEqual({
      max_tokens: 8,
      temperature: job.settings.temperature,
      top_p: job.settings.top_p,
      seed: job.settings.seed
    });
  });
});
