/**
 * Batch files that go out and come back: a job's requests exported as OpenAI batch input
 * (for `vllm run-batch`), half of them answered by a run-batch output file imported into
 * the job, the rest run here.
 */
import { expect, test } from '@playwright/test';
import { batchFile, createJob, exportAs, waitForCompleted, withoutRunIds } from './helpers';

const TOTAL = 40;

/** A line of `vllm run-batch` output carrying the same answer as a line of LocalBatch's export. */
function asVllm(line: string, n: number): string {
  const record = JSON.parse(line);
  const hex = n.toString(16).padStart(32, '0');
  return JSON.stringify({
    id: `vllm-${hex}`,
    custom_id: record.custom_id,
    response: {
      status_code: 200,
      request_id: `vllm-batch-${hex}`,
      body: { ...record.response.body, id: `cmpl-${hex}`, created: 1_732_000_000 + n }
    },
    error: null
  });
}

test('a job exported as batch input, half answered by a run-batch output (plus an unknown id) imported back, the rest run here: the same export as a run done here', async ({
  page
}) => {
  const file = batchFile(TOTAL, 'round-trip.jsonl');
  await createJob(page, file);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, TOTAL);
  const reference = await exportAs(page, 'OpenAI batch output (.jsonl)');

  await createJob(page, file);
  // Requests can go out before anything ran here.
  const input = await exportAs(page, 'OpenAI batch input (.jsonl)');
  expect(input.name).toBe('round-trip-batch-input.jsonl');
  const requests = input.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(requests).toHaveLength(TOTAL);
  expect(requests[0]).toMatchObject({
    custom_id: 'q-1',
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'Qwen/Qwen2.5-7B-Instruct',
      messages: [
        { role: 'system', content: 'Rate the answer from 1 to 5. Reply as JSON {"score": n}.' },
        { role: 'user', content: 'Question 1: what is 1 + 1?\nAnswer: 2.' }
      ],
      max_completion_tokens: 17,
      temperature: 0
    }
  });

  // vLLM answers the first half (in its own order and ids), and one id that is not the job's.
  const answered = reference.text
    .trimEnd()
    .split('\n')
    .slice(0, TOTAL / 2)
    .map((line, n) => asVllm(line, n))
    .reverse();
  const stranger = asVllm(reference.text.split('\n')[0]!, 99).replace('"q-1"', '"q-999"');
  await page.getByLabel('Import results into this job').setInputFiles({
    name: 'out.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from([...answered, stranger].join('\n') + '\n')
  });
  await expect(page.getByTestId('import-report')).toHaveText(
    'Imported 20 results from out.jsonl (vLLM run-batch); 1 line left out (see below). The items it does not answer run here.'
  );
  await expect(
    page.getByText('out.jsonl line 21: custom_id "q-999" is not an item of this job: left out')
  ).toBeVisible();
  await expect(page.getByTestId('count-done')).toHaveText('20');

  // Importing the same file again changes nothing: each item keeps one result.
  await page.getByLabel('Import results into this job').setInputFiles({
    name: 'out.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(answered.join('\n') + '\n')
  });
  await expect(page.getByTestId('import-report')).toContainText('Imported 20 results');
  await expect(page.getByTestId('count-done')).toHaveText('20');

  await page.getByRole('button', { name: /^(Start|Resume)$/ }).click();
  await waitForCompleted(page, TOTAL);
  const mixed = await exportAs(page, 'OpenAI batch output (.jsonl)');
  expect(withoutRunIds(mixed.text)).toBe(withoutRunIds(reference.text));
});

/** The run-batch output line answering a batch input line with `{"score": n}`. */
function answer(line: string, n: number): string {
  const request = JSON.parse(line);
  const hex = n.toString(16).padStart(32, '0');
  return JSON.stringify({
    id: `vllm-${hex}`,
    custom_id: request.custom_id,
    response: {
      status_code: 200,
      request_id: `vllm-batch-${hex}`,
      body: {
        id: `cmpl-${hex}`,
        object: 'chat.completion',
        created: 1_732_000_000,
        model: request.body.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: `{"score": ${(n % 5) + 1}}` },
            finish_reason: 'stop'
          }
        ],
        usage: { prompt_tokens: 30, completion_tokens: 6, total_tokens: 36 }
      }
    },
    error: null
  });
}

test('a 12,000-item export goes, in pieces, to the file the save dialog gave: the same bytes as the download; a closed dialog writes nothing', async ({
  page
}) => {
  test.setTimeout(180_000);
  const total = 12_000;
  await createJob(page, batchFile(total, 'big.jsonl'));
  const input = await exportAs(page, 'OpenAI batch input (.jsonl)');
  const output = input.text
    .trimEnd()
    .split('\n')
    .map((line, n) => answer(line, n))
    .join('\n');
  await page.getByLabel('Import results into this job').setInputFiles({
    name: 'out.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(output + '\n')
  });
  await expect(page.getByTestId('count-done')).toHaveText('12,000', { timeout: 60_000 });
  // Without a save dialog (the test browser has none): a download built from Blob parts.
  const downloaded = await exportAs(page, 'CSV (.csv)');
  expect(downloaded.name).toBe('big-results.csv');
  const rows = downloaded.text.trimEnd().split('\r\n');
  expect(rows).toHaveLength(total + 1);
  expect(rows[1]).toMatch(/^q-1,/);
  expect(rows.at(-1)).toMatch(/^q-12000,/);
  // Pieces read ahead are written in order: every row, in input order.
  expect(rows.slice(1).map((row) => row.split(',')[0])).toEqual(
    Array.from({ length: total }, (_, i) => `q-${i + 1}`)
  );

  // A save dialog that hands over a file (one in the origin's private file system).
  await page.evaluate(() => {
    const w = window as unknown as Record<string, unknown>;
    w.showSaveFilePicker = async (options: { suggestedName: string; types: unknown[] }) => {
      w.pickerOptions = options;
      const root = await navigator.storage.getDirectory();
      return root.getFileHandle(options.suggestedName, { create: true });
    };
  });
  let downloads = 0;
  page.on('download', () => downloads++);
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  await page.getByRole('menuitem', { name: 'CSV (.csv)' }).click();
  await expect(page.getByTestId('share-outcome')).toHaveText('Saved big-results.csv.');
  await expect(page.getByRole('button', { name: 'Export', exact: true })).toBeFocused();
  const saved = await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const file = await (await root.getFileHandle('big-results.csv')).getFile();
    return {
      text: await file.text(),
      options: (window as unknown as { pickerOptions: unknown }).pickerOptions
    };
  });
  expect(saved.text).toBe(downloaded.text);
  expect(saved.options).toEqual({
    suggestedName: 'big-results.csv',
    types: [{ description: 'CSV', accept: { 'text/csv': ['.csv'] } }]
  });

  // The dialog closed: nothing is written, nothing downloaded, and the page says so.
  await page.evaluate(() => {
    (window as unknown as Record<string, unknown>).showSaveFilePicker = async () => {
      throw new DOMException('The user aborted a request.', 'AbortError');
    };
  });
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  await page.getByRole('menuitem', { name: 'OpenAI batch output (.jsonl)' }).click();
  await expect(page.getByTestId('share-outcome')).toHaveText('The export was cancelled.');
  const files = await page.evaluate(async () => {
    const names: string[] = [];
    const root = (await navigator.storage.getDirectory()) as unknown as {
      keys(): AsyncIterable<string>;
    };
    for await (const name of root.keys()) names.push(name);
    return names;
  });
  expect(files).toEqual(['big-results.csv']);
  expect(downloads).toBe(0);
});
