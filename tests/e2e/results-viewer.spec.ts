import { expect, test } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import Papa from 'papaparse';

const VLLM_FILE = 'tests/fixtures/results/vllm-run-batch.jsonl';
const XSS_TEXT = '<img src=x onerror=alert(1)> is an XSS payload';

test('a vLLM run-batch file opens read-only, model output stays text, and converts to CSV', async ({
  page
}) => {
  // A dialog would mean the payload in the file ran as HTML.
  const dialogs: string[] = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the dialog is answered while the click that opened it is awaited
    void dialog.dismiss();
  });

  await page.goto('/');
  await page.getByRole('link', { name: 'Open results file' }).click();
  await page.waitForURL(/\/results$/);
  await page.getByLabel('Results file').setInputFiles(VLLM_FILE);

  await expect(page.getByRole('heading', { name: 'vllm-run-batch.jsonl' })).toBeVisible();
  await expect(page.getByTestId('results-producer')).toHaveText('vLLM run-batch');
  await expect(page.getByTestId('results-done')).toHaveText('4');
  await expect(page.getByTestId('results-failed')).toHaveText('2');

  const list = page.getByRole('list', { name: 'Results' });
  const rows = list.getByRole('listitem');
  await expect(rows).toHaveCount(6);
  await expect(rows.nth(1)).toContainText('Der Nil 🌍 — 尼罗河 (النيل), naïve café');
  await expect(rows.nth(2).locator('.out')).toHaveText(XSS_TEXT);
  await expect(rows.nth(3)).toContainText('failed');
  await expect(rows.nth(5)).toContainText('Request must not be sent in stream mode');
  await expect(list.locator('img')).toHaveCount(0);
  // Nothing can be edited: the page has no text fields.
  await expect(page.getByRole('textbox')).toHaveCount(0);

  // Keyboard: one Tab from the last Convert button reaches the list, arrows move, Enter opens.
  await page.getByRole('button', { name: 'Close file', exact: true }).focus();
  await page.keyboard.press('Tab');
  await expect(rows.nth(0).getByRole('button')).toBeFocused();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  await expect(rows.nth(2).getByRole('button')).toBeFocused();
  await page.keyboard.press('Enter');
  const details = page.getByTestId('result-details');
  await expect(details.getByRole('heading', { name: 'Line 3: q-3' })).toBeVisible();
  await expect(details.locator('pre')).toHaveText(XSS_TEXT);
  await page.keyboard.press('End');
  await expect(rows.nth(5).getByRole('button')).toBeFocused();
  await expect(page.locator('img')).toHaveCount(0);

  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download CSV (.csv)' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('vllm-run-batch-results.csv');
  const csv = await readFile(await file.path(), 'utf8');
  const parsed = Papa.parse<Record<string, string>>(csv, { header: true, skipEmptyLines: true });
  expect(parsed.errors).toEqual([]);
  expect(parsed.meta.fields).toEqual([
    'custom_id',
    'prompt',
    'output',
    'status',
    'error',
    'prompt_tokens',
    'completion_tokens'
  ]);
  const row = (
    customId: string,
    output: string,
    status: string,
    error: string,
    promptTokens: string,
    completionTokens: string
  ) => ({
    custom_id: customId,
    prompt: '',
    output,
    status,
    error,
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens
  });
  expect(parsed.data).toEqual([
    row('q-1', '2 + 2 = 4.', 'done', '', '24', '8'),
    row('q-2', 'Der Nil 🌍 — 尼罗河 (النيل), naïve café', 'done', '', '19', '17'),
    row('q-3', XSS_TEXT, 'done', '', '31', '12'),
    row(
      'q-4',
      '',
      'failed',
      "This model's maximum context length is 32768 tokens. However, you requested 33000 tokens (32000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.",
      '',
      ''
    ),
    row('q-5', 'Line one\nLine two', 'done', '', '12', '6'),
    row('q-6', '', 'failed', 'Request must not be sent in stream mode', '', '')
  ]);
  expect(dialogs).toEqual([]);
});

test('100,000 results: counts, a virtualized list, and End reaches the last row', async ({
  page
}) => {
  const lines: string[] = [];
  for (let i = 1; i <= 100_000; i++) {
    const line = {
      id: `batch_req_${i}`,
      custom_id: `r-${i}`,
      response:
        i % 1000 === 0
          ? null
          : {
              status_code: 200,
              request_id: `req_${i}`,
              body: {
                object: 'chat.completion',
                model: 'gpt-4o-mini',
                choices: [{ index: 0, message: { content: `Answer ${i}` }, finish_reason: 'stop' }]
              }
            },
      error: i % 1000 === 0 ? { code: 'batch_expired', message: 'Expired.' } : null
    };
    lines.push(JSON.stringify(line));
  }
  await page.goto('/results');
  await page.getByLabel('Results file').setInputFiles({
    name: 'big.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n') + '\n')
  });
  await expect(page.getByTestId('results-producer')).toHaveText('OpenAI Batch API');
  await expect(page.getByTestId('results-done')).toHaveText('99,900');
  await expect(page.getByTestId('results-failed')).toHaveText('100');
  const rows = page.getByRole('list', { name: 'Results' }).getByRole('listitem');
  // Only the rows in view (and the focused one) are in the page.
  expect(await rows.count()).toBeLessThan(100);

  await page.getByRole('button', { name: 'Close file', exact: true }).focus();
  await page.keyboard.press('Tab');
  await page.keyboard.press('End');
  const last = page.locator('[data-row="99999"]');
  await expect(last).toBeFocused();
  await expect(last).toContainText('r-100000');
  await expect(last).toContainText('Expired.');
  await page.keyboard.press('ArrowUp');
  await expect(page.locator('[data-row="99998"]')).toBeFocused();
  await expect(page.locator('[data-row="99998"]')).toContainText('Answer 99999');
});

test('a batch input file is refused with a pointer to Create job', async ({ page }) => {
  await page.goto('/results');
  await page
    .getByLabel('Results file')
    .setInputFiles('tests/fixtures/results/bad/batch-input.jsonl');
  await expect(page.getByRole('alert')).toContainText(
    'batch-input.jsonl: this looks like a batch input file (requests, not results): to run it, choose it under New job on the Jobs page and press Create job'
  );
  await expect(page.getByRole('list', { name: 'Results' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Download CSV (.csv)' })).toHaveCount(0);
});
