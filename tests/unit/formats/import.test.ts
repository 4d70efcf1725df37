import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { ACCEPTED_EXTENSIONS, parseImport } from '$lib/formats/import';
import { MAX_IMPORT_ITEMS, MAX_PROBLEMS_KEPT, describeProblem } from '$lib/formats/problems';
import { MAX_IMPORT_BYTES } from '$lib/formats/text-file';
import type { CsvOptions, ImportPreview } from '$lib/formats/types';

const FIXTURES = 'tests/fixtures/formats/';

function fixture(path: string): Uint8Array {
  return new Uint8Array(readFileSync(FIXTURES + path));
}

function importFixture(path: string, options?: CsvOptions): ImportPreview {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return parseImport(name, fixture(path), options);
}

function text(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function described(preview: ImportPreview): string[] {
  return preview.problems.map((p) => describeProblem(preview.fileName, p));
}

describe('parseImport: happy paths', () => {
  test('OpenAI batch input with BOM, CRLF and blank lines', () => {
    const p = importFixture('good/openai-batch.jsonl');
    expect(p).toEqual({
      fileName: 'openai-batch.jsonl',
      format: 'openai-batch',
      formatLabel: 'OpenAI batch input',
      items: [
        {
          line: 1,
          customId: 'q-1',
          messages: [
            { role: 'system', content: 'Answer briefly.' },
            { role: 'user', content: 'What is 2+2?' }
          ],
          params: { max_tokens: 512, temperature: 0 }
        },
        {
          line: 4,
          customId: 'q-2',
          messages: [{ role: 'user', content: 'Name a river in Égypt 🌍' }],
          params: { max_tokens: 64, top_p: 0.9, seed: 42 }
        },
        {
          line: 5,
          customId: 'q-3',
          messages: [{ role: 'user', content: 'Hi' }],
          params: {}
        }
      ],
      problems: [],
      fatal: false,
      columns: [],
      problemCount: 0
    });
  });

  test('plain JSONL: prompt, numeric id, system, messages, params', () => {
    const p = importFixture('good/plain.jsonl');
    expect(p.format).toBe('jsonl');
    expect(p.formatLabel).toBe('JSON lines');
    expect(p.problems).toEqual([]);
    expect(p.items).toEqual([
      {
        line: 1,
        customId: 'line-1',
        messages: [{ role: 'user', content: 'What is 2+2?' }],
        params: {}
      },
      {
        line: 2,
        customId: '7',
        messages: [
          { role: 'system', content: 'Be kind.' },
          { role: 'user', content: 'Say hi' }
        ],
        params: { max_tokens: 32, temperature: 1.5 }
      },
      {
        line: 4,
        customId: 'chat-1',
        messages: [
          { role: 'user', content: 'Hello' },
          { role: 'assistant', content: 'Hi!' },
          { role: 'user', content: 'Tell me a joke' }
        ],
        params: { top_p: 1 }
      }
    ]);
  });

  test('.ndjson is read as JSON lines; max_completion_tokens wins over max_tokens', () => {
    const p = parseImport(
      'x.ndjson',
      text('{"prompt":"a","max_tokens":5,"max_completion_tokens":9,"seed":-3}\n')
    );
    expect(p.items).toEqual([
      {
        line: 1,
        customId: 'line-1',
        messages: [{ role: 'user', content: 'a' }],
        params: { max_tokens: 9, seed: -3 }
      }
    ]);
  });

  test('JSON array (WeClone sft-my.json): ids from "id", system prepended, item numbers', () => {
    const p = importFixture('good/weclone-sft.json');
    // A dataset of pairs, not chats to continue: the question is asked, the answer kept apart.
    expect(p.format).toBe('sharegpt');
    expect(p.formatLabel).toBe('ShareGPT dataset (question/answer pairs)');
    expect(p.fatal).toBe(false);
    const system = '请你扮演一名人类，不要说自己是人工智能';
    expect(p.items).toEqual([
      {
        line: 1,
        customId: '0',
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: '在吗' }
        ],
        params: {},
        pair: {
          format: 'sharegpt',
          system,
          turns: [
            { role: 'user', content: '在吗' },
            { role: 'assistant', content: '在的' }
          ],
          hasImages: false,
          original: {
            id: 0,
            system,
            messages: [
              { role: 'user', content: '在吗' },
              { role: 'assistant', content: '在的' }
            ]
          }
        }
      }
    ]);
    expect(p.problems).toEqual([
      {
        line: 2,
        unit: 'item',
        message:
          'the last message is not the assistant\'s: each pair ends with the answer ("role": "assistant")'
      }
    ]);
  });

  test('JSON array without ids gets item-<n>; batch elements make it openai-batch', () => {
    const plain = parseImport('a.json', text('[{"prompt":"x"},{"prompt":"y"}]'));
    expect(plain.items.map((i) => i.customId)).toEqual(['item-1', 'item-2']);
    const batch = parseImport(
      'b.json',
      text('[{"custom_id":"b1","body":{"messages":[{"role":"user","content":"x"}]}}]')
    );
    expect(batch.format).toBe('openai-batch');
    expect(batch.formatLabel).toBe('OpenAI batch input (JSON array)');
    expect(batch.items[0]?.customId).toBe('b1');
  });

  test('a file mixing batch and plain lines is plain JSONL', () => {
    const p = parseImport(
      'm.jsonl',
      text('{"body":{"messages":[{"role":"user","content":"a"}]}}\n{"prompt":"b"}\n')
    );
    expect(p.format).toBe('jsonl');
    expect(p.items).toHaveLength(2);
  });

  test('CSV with quoted multiline cells, CRLF and a blank line: physical line numbers', () => {
    const p = importFixture('good/multiline.csv');
    expect(p.format).toBe('csv');
    expect(p.formatLabel).toBe('CSV');
    expect(p.columns).toEqual(['id', 'prompt', 'notes']);
    expect(p.problems).toEqual([]);
    expect(p.items).toEqual([
      {
        line: 2,
        customId: 'A1',
        messages: [{ role: 'user', content: 'Write a haiku about\r\nthe sea, with "waves"' }],
        params: {}
      },
      {
        line: 5,
        customId: 'A2',
        messages: [{ role: 'user', content: 'Plain prompt' }],
        params: {}
      },
      {
        line: 7,
        customId: 'A3',
        messages: [{ role: 'user', content: 'Last' }],
        params: {}
      }
    ]);
  });

  test('CSV template with {{column}} (spaces and case ignored), no id column -> line-<n>', () => {
    const p = importFixture('good/template.csv', {
      template: 'Q: {{ question }}\nExpected: {{answer}}'
    });
    expect(p.fatal).toBe(false);
    expect(p.items).toEqual([
      {
        line: 2,
        customId: 'line-2',
        messages: [{ role: 'user', content: 'Q: What is 2+2?\nExpected: 4' }],
        params: {}
      },
      {
        line: 3,
        customId: 'line-3',
        messages: [{ role: 'user', content: 'Q: Capital of France, please\nExpected: Paris' }],
        params: {}
      }
    ]);
  });

  test('CSV: the template wins over promptColumn; promptColumn and idColumn are used', () => {
    const both = importFixture('good/template.csv', {
      template: '{{answer}}?',
      promptColumn: 'Question'
    });
    expect(both.items.map((i) => i.messages[0]?.content)).toEqual(['4?', 'Paris?']);
    const byColumn = importFixture('good/template.csv', {
      promptColumn: 'answer',
      idColumn: 'Question'
    });
    expect(byColumn.items.map((i) => [i.customId, i.messages[0]?.content])).toEqual([
      ['What is 2+2?', '4'],
      ['Capital of France, please', 'Paris']
    ]);
  });

  test('CSV: idColumn "" turns off the automatic id column', () => {
    const p = importFixture('good/prompts.tsv', { idColumn: '' });
    expect(p.items.map((i) => i.customId)).toEqual(['line-2', 'line-3']);
  });

  test('TSV and semicolon CSV; automatic question and custom_id columns', () => {
    const tsv = importFixture('good/prompts.tsv');
    expect(tsv.format).toBe('csv');
    expect(tsv.items.map((i) => [i.line, i.customId, i.messages[0]?.content])).toEqual([
      [2, 't-1', 'What is 2+2?'],
      [3, 't-2', 'Hello, world']
    ]);
    const semi = importFixture('good/semicolon.csv');
    expect(semi.columns).toEqual(['prompt', 'lang']);
    expect(semi.items.map((i) => i.messages[0]?.content)).toEqual(['Bonjour, ça va ?', 'Hallo']);
  });

  test('TXT: one prompt per non-empty line, trimmed, CRLF, no final newline', () => {
    const p = importFixture('good/prompts.txt');
    expect(p.format).toBe('txt');
    expect(p.formatLabel).toBe('Plain text (one prompt per line)');
    expect(p.items).toEqual([
      {
        line: 1,
        customId: 'line-1',
        messages: [{ role: 'user', content: 'What is 2+2?' }],
        params: {}
      },
      {
        line: 3,
        customId: 'line-3',
        messages: [{ role: 'user', content: 'Name a river.' }],
        params: {}
      },
      {
        line: 5,
        customId: 'line-5',
        messages: [{ role: 'user', content: 'Last line without newline' }],
        params: {}
      }
    ]);
  });

  test('a .txt file that holds JSON lines is read as JSON lines', () => {
    const p = importFixture('good/jsonl-in-txt.txt');
    expect(p.format).toBe('jsonl');
    expect(p.items.map((i) => i.messages[0]?.content)).toEqual(['from a txt file', 'second']);
  });

  test('extensions are case-insensitive', () => {
    expect(parseImport('PROMPTS.TXT', text('a\n')).items).toHaveLength(1);
  });

  test('ACCEPTED_EXTENSIONS lists every extension read', () => {
    expect(ACCEPTED_EXTENSIONS).toBe('.jsonl,.ndjson,.json,.csv,.tsv,.txt');
  });
});

interface BadCase {
  file: string;
  options?: CsvOptions;
  fatal: boolean;
  /** Valid items still read from the file. */
  items: number;
  /** Every problem, as describeProblem writes it. */
  messages: string[];
}

const ACCEPTED =
  'LocalBatch reads JSON lines (.jsonl), JSON arrays (.json), CSV (.csv) and plain text (.txt, one prompt per line)';
const NO_PROMPT =
  'no prompt: add a "prompt" text or a "messages" list (or a "body" with "messages" for an OpenAI batch line)';
const NOT_TEXT =
  'this is not a text file (it is binary, or its text is not UTF-8): save the prompts as UTF-8 text and import that file';
const MESSAGES_LIST =
  '"messages" must be a non-empty list of {"role": ..., "content": ...} objects';

const badCases: BadCase[] = [
  {
    file: 'empty.jsonl',
    fatal: true,
    items: 0,
    messages: ['empty.jsonl: the file is empty']
  },
  {
    file: 'whitespace-only.txt',
    fatal: true,
    items: 0,
    messages: ['whitespace-only.txt: the file is empty']
  },
  {
    file: 'binary.jsonl',
    fatal: true,
    items: 0,
    messages: [`binary.jsonl: ${NOT_TEXT}`]
  },
  {
    file: 'nul-bytes.txt',
    fatal: true,
    items: 0,
    messages: [`nul-bytes.txt: ${NOT_TEXT}`]
  },
  {
    file: 'utf16.csv',
    fatal: true,
    items: 0,
    messages: ['utf16.csv: the file is saved as UTF-16: save it as UTF-8 and import it again']
  },
  {
    file: 'report.pdf',
    fatal: true,
    items: 0,
    messages: [`report.pdf: .pdf files can't be imported: ${ACCEPTED}`]
  },
  {
    file: 'README',
    fatal: true,
    items: 0,
    messages: [`README: the file name has no extension, so its format is unknown: ${ACCEPTED}`]
  },
  {
    file: 'not-json.jsonl',
    fatal: true,
    items: 0,
    messages: [
      'not-json.jsonl: this does not look like JSON lines: each line should be a JSON object such as {"prompt": "..."}'
    ]
  },
  {
    file: 'pretty-object.json',
    fatal: true,
    items: 0,
    messages: [
      'pretty-object.json: the file holds one JSON object spread over several lines: write one object per line, or make the file a JSON array of objects'
    ]
  },
  {
    file: 'broken-array.json',
    fatal: true,
    items: 0,
    messages: [
      "broken-array.json: the file is not valid JSON (Expected ',' or '}' after property value in JSON at line 4 column 1): fix it, or save one JSON object per line as .jsonl"
    ]
  },
  {
    file: 'empty-array.json',
    fatal: true,
    items: 0,
    messages: [
      'empty-array.json: the file holds an empty JSON array: add at least one prompt object'
    ]
  },
  {
    file: 'bad-json.jsonl',
    fatal: false,
    items: 1,
    messages: [
      "bad-json.jsonl line 2: not valid JSON (Expected ',' or '}' after property value in JSON at column 27)",
      "bad-json.jsonl line 3: not valid JSON (Expected property name or '}' in JSON at column 2)",
      'bad-json.jsonl line 4: not valid JSON (Unexpected non-whitespace character after JSON at column 23)'
    ]
  },
  {
    file: 'not-object.jsonl',
    fatal: false,
    items: 1,
    messages: [
      'not-object.jsonl line 2: this is a list, not a JSON object: each line must be an object such as {"prompt": "..."}',
      'not-object.jsonl line 3: this is a text, not a JSON object: each line must be an object such as {"prompt": "..."}',
      'not-object.jsonl line 4: this is a number, not a JSON object: each line must be an object such as {"prompt": "..."}',
      'not-object.jsonl line 5: this is null, not a JSON object: each line must be an object such as {"prompt": "..."}'
    ]
  },
  {
    file: 'no-prompt.jsonl',
    fatal: false,
    items: 1,
    messages: [
      `no-prompt.jsonl line 2: ${NO_PROMPT}`,
      'no-prompt.jsonl line 3: "prompt" is a number: it must be a text',
      'no-prompt.jsonl line 4: "prompt" is empty: write the prompt or remove the line',
      'no-prompt.jsonl line 5: this has both "prompt" and "messages": keep only one',
      'no-prompt.jsonl line 6: "system" is a number: it must be a text'
    ]
  },
  {
    file: 'bad-messages.jsonl',
    fatal: false,
    items: 1,
    messages: [
      `bad-messages.jsonl line 2: ${MESSAGES_LIST}`,
      `bad-messages.jsonl line 3: ${MESSAGES_LIST}`,
      'bad-messages.jsonl line 4: message 1 has role "bot": use "system", "user" or "assistant"',
      'bad-messages.jsonl line 5: message 1 has content that is a list: "content" must be a text',
      'bad-messages.jsonl line 6: "messages" has no "user" message: add one that holds the prompt',
      'bad-messages.jsonl line 7: message 1 is a text, not a {"role": ..., "content": ...} object'
    ]
  },
  {
    file: 'bad-params.jsonl',
    fatal: false,
    items: 1,
    messages: [
      'bad-params.jsonl line 2: "max_tokens" must be a whole number above 0 (it is 0)',
      'bad-params.jsonl line 3: "max_tokens" must be a whole number above 0 (it is 1.5)',
      'bad-params.jsonl line 4: "max_tokens" must be a whole number above 0 (it is "512")',
      'bad-params.jsonl line 5: "temperature" must be a number from 0 to 2 (it is 3)',
      'bad-params.jsonl line 6: "temperature" must be a number from 0 to 2 (it is -0.1)',
      'bad-params.jsonl line 7: "top_p" must be a number above 0 and at most 1 (it is 0)',
      'bad-params.jsonl line 8: "top_p" must be a number above 0 and at most 1 (it is 1.5)',
      'bad-params.jsonl line 9: "seed" must be a whole number (it is "x")'
    ]
  },
  {
    file: 'bad-ids.jsonl',
    fatal: false,
    items: 2,
    messages: [
      'bad-ids.jsonl line 3: duplicate custom_id "q-1" (first seen on line 1)',
      'bad-ids.jsonl line 5: duplicate custom_id "q-1" (first seen on line 1)',
      'bad-ids.jsonl line 6: "custom_id" must be a text or a number (it is an object)',
      'bad-ids.jsonl line 7: "custom_id" is empty: give it a value or remove it'
    ]
  },
  {
    file: 'batch-bad.jsonl',
    fatal: false,
    items: 1,
    messages: [
      'batch-bad.jsonl line 2: url "/v1/embeddings" is not supported: only "/v1/chat/completions" requests can be run',
      'batch-bad.jsonl line 3: "body" is a text: it must be an object with "messages"',
      'batch-bad.jsonl line 4: "body" has no "messages": add the chat messages, e.g. [{"role": "user", "content": "..."}]',
      'batch-bad.jsonl line 5: "max_completion_tokens" must be a whole number above 0 (it is -1)'
    ]
  },
  {
    file: 'all-bad.jsonl',
    fatal: true,
    items: 0,
    messages: [
      'all-bad.jsonl: none of the lines could be read (3 problems): fix them and import the file again',
      `all-bad.jsonl line 1: ${NO_PROMPT}`,
      `all-bad.jsonl line 2: ${NO_PROMPT}`,
      "all-bad.jsonl line 4: not valid JSON (Expected property name or '}' in JSON at column 2)"
    ]
  },
  {
    file: 'bad-items.json',
    fatal: false,
    items: 1,
    messages: [
      'bad-items.json item 2: duplicate custom_id "1" (first seen on item 1)',
      'bad-items.json item 3: this is a text, not a JSON object: each item must be an object such as {"prompt": "..."}',
      `bad-items.json item 4: ${NO_PROMPT}`
    ]
  },
  {
    file: 'csv-empty-prompt.csv',
    fatal: false,
    items: 1,
    messages: [
      'csv-empty-prompt.csv line 3: the "prompt" cell is empty: write a prompt or delete the row',
      'csv-empty-prompt.csv line 4: the "prompt" cell is empty: write a prompt or delete the row'
    ]
  },
  {
    file: 'csv-bad-rows.csv',
    fatal: false,
    items: 1,
    messages: [
      'csv-bad-rows.csv line 3: this row has 3 cells but the header has 2 columns: wrap a cell that holds commas in "double quotes"',
      'csv-bad-rows.csv line 4: this row has 1 cell but the header has 2 columns: wrap a cell that holds commas in "double quotes"',
      'csv-bad-rows.csv line 5: a quoted cell starts here but is never closed, so the rest of the file was read as one cell: add the closing quote, and write each " inside a quoted cell as ""'
    ]
  },
  {
    file: 'csv-misplaced-quote.csv',
    fatal: false,
    items: 2,
    messages: [
      'csv-misplaced-quote.csv line 3: a quote is out of place: wrap a cell that holds commas, quotes or line breaks in "double quotes", and write each " inside it as ""'
    ]
  },
  {
    file: 'csv-empty-id.csv',
    fatal: false,
    items: 1,
    messages: [
      'csv-empty-id.csv line 3: the "custom_id" cell is empty: every row needs an id',
      'csv-empty-id.csv line 4: duplicate custom_id "a" (first seen on line 2)'
    ]
  },
  {
    file: 'csv-no-prompt-column.csv',
    fatal: true,
    items: 0,
    messages: [
      'csv-no-prompt-column.csv: no prompt column: the first row must name the columns, and none is called prompt, question, input or text. The columns are: "name", "answer". Pick the column that holds the prompts, or write a template such as "Answer this: {{name}}"'
    ]
  },
  {
    file: 'csv-no-header.csv',
    fatal: true,
    items: 0,
    messages: [
      'csv-no-header.csv: no prompt column: the first row must name the columns, and none is called prompt, question, input or text. The columns are: "What is 2+2?", "4". Pick the column that holds the prompts, or write a template such as "Answer this: {{What is 2+2?}}"'
    ]
  },
  {
    file: 'csv-header-only.csv',
    fatal: true,
    items: 0,
    messages: [
      'csv-header-only.csv: the file has a header row ("id", "prompt") but no rows of prompts below it'
    ]
  },
  {
    file: 'csv-template-unknown.csv',
    options: { template: 'Q: {{question}} A: {{ Answr }}' },
    fatal: true,
    items: 0,
    messages: [
      'csv-template-unknown.csv: the template uses {{Answr}}, but there is no column "Answr". The columns are: "question", "answer"'
    ]
  },
  {
    file: 'csv-prompt-column-unknown.csv',
    options: { promptColumn: 'prompt2', idColumn: 'nope' },
    fatal: true,
    items: 0,
    messages: [
      'csv-prompt-column-unknown.csv: there is no column "prompt2". The columns are: "question", "answer". Pick one of them'
    ]
  },
  {
    file: 'csv-prompt-column-unknown.csv',
    options: { idColumn: 'nope' },
    fatal: true,
    items: 0,
    messages: [
      'csv-prompt-column-unknown.csv: there is no id column "nope". The columns are: "question", "answer". Pick one of them, or none'
    ]
  }
];

describe('parseImport: bad inputs (tests/fixtures/formats/bad)', () => {
  const named = badCases.map(
    (c) => [c.options ? `${c.file} ${JSON.stringify(c.options)}` : c.file, c] as const
  );
  test.each(named)('%s', (_name, { file, options, fatal, items, messages }) => {
    const p = importFixture('bad/' + file, options);
    expect(described(p)).toEqual(messages);
    expect(p.fatal).toBe(fatal);
    expect(p.items).toHaveLength(items);
    expect(p.problemCount).toBe(messages.length);
    for (const problem of p.problems) {
      if (problem.line === null) expect(problem.message).not.toMatch(/^[A-Z]/);
    }
  });
});

describe('parseImport: limits', () => {
  test('100,000 JSONL lines parse (their speed: npm run bench, parse_100k_*_ms)', () => {
    const lines: string[] = [];
    for (let i = 0; i < MAX_IMPORT_ITEMS; i++) {
      lines.push(
        JSON.stringify({ custom_id: `q-${i}`, prompt: `Question number ${i}?`, max_tokens: 64 })
      );
    }
    const bytes = text(lines.join('\n') + '\n');
    const p = parseImport('big.jsonl', bytes);
    expect(p.fatal).toBe(false);
    expect(p.problemCount).toBe(0);
    expect(p.items).toHaveLength(100_000);
    expect(p.items[99_999]).toEqual({
      line: 100_000,
      customId: 'q-99999',
      messages: [{ role: 'user', content: 'Question number 99999?' }],
      params: { max_tokens: 64 }
    });
  });

  test('100,000 CSV rows and TXT lines parse', () => {
    const rows = ['id,prompt'];
    for (let i = 0; i < MAX_IMPORT_ITEMS; i++) rows.push(`${i},"Prompt ${i}, please"`);
    const csv = parseImport('big.csv', text(rows.join('\r\n')));
    expect(csv.items).toHaveLength(100_000);
    expect(csv.items[99_999]?.line).toBe(100_001);

    const txt = Array.from({ length: MAX_IMPORT_ITEMS }, (_, i) => `Prompt ${i}`).join('\n');
    expect(parseImport('big.txt', text(txt)).items).toHaveLength(100_000);
  });

  test('100,001 items are refused as too large (JSONL, TXT, CSV, JSON array)', () => {
    const n = MAX_IMPORT_ITEMS + 1;
    const jsonl = parseImport('big.jsonl', text('{"prompt":"x"}\n'.repeat(n)));
    expect(described(jsonl)).toEqual([
      'big.jsonl: the file has 100,001 lines; at most 100,000 can be imported at once: split it into smaller files'
    ]);
    expect(jsonl.fatal).toBe(true);
    expect(jsonl.items).toEqual([]);

    const txt = parseImport('big.txt', text('x\n'.repeat(n)));
    expect(described(txt)).toEqual([
      'big.txt: the file has 100,001 lines; at most 100,000 can be imported at once: split it into smaller files'
    ]);
    const csv = parseImport('big.csv', text('prompt\n' + 'x\n'.repeat(n)));
    expect(described(csv)).toEqual([
      'big.csv: the file has 100,001 rows; at most 100,000 can be imported at once: split it into smaller files'
    ]);
    const arr = parseImport(
      'big.json',
      text('[' + Array(n).fill('{"prompt":"x"}').join(',') + ']')
    );
    expect(described(arr)).toEqual([
      'big.json: the file has 100,001 items; at most 100,000 can be imported at once: split it into smaller files'
    ]);
  });

  test('more than 256 MiB is refused before decoding', () => {
    expect(MAX_IMPORT_BYTES).toBe(268_435_456);
    const p = parseImport('huge.jsonl', new Uint8Array(MAX_IMPORT_BYTES + 1));
    expect(described(p)).toEqual([
      'huge.jsonl: the file is 256.1 MiB; the limit is 256 MiB: split it into smaller files'
    ]);
    expect(p.fatal).toBe(true);
  });

  test('problems past MAX_PROBLEMS_KEPT are counted but not kept', () => {
    const p = parseImport('bad.jsonl', text('{"prompt":"ok"}\n' + 'oops\n'.repeat(5000)));
    expect(MAX_PROBLEMS_KEPT).toBe(1000);
    expect(p.fatal).toBe(false);
    expect(p.items).toHaveLength(1);
    expect(p.problems).toHaveLength(1000);
    expect(p.problemCount).toBe(5000);
    expect(p.problems[999]?.line).toBe(1001);
  });

  test('a fatal problem comes first and is counted', () => {
    const p = parseImport('bad.jsonl', text('{"x":1}\n'.repeat(1500)));
    expect(p.problems).toHaveLength(1001);
    expect(p.problems[0]).toEqual({
      line: null,
      message:
        'none of the lines could be read (1,500 problems): fix them and import the file again'
    });
    expect(p.problemCount).toBe(1501);
  });
});

describe('describeProblem', () => {
  test('file-level, line and item problems', () => {
    expect(describeProblem('a.jsonl', { line: null, message: 'the file is empty' })).toBe(
      'a.jsonl: the file is empty'
    );
    expect(describeProblem('a.jsonl', { line: 7, message: 'not valid JSON (x)' })).toBe(
      'a.jsonl line 7: not valid JSON (x)'
    );
    expect(describeProblem('a.json', { line: 3, message: 'm', unit: 'item' })).toBe(
      'a.json item 3: m'
    );
  });
});
