import { expect, type Page } from '@playwright/test';
import { readFile } from 'node:fs/promises';
import { SERVER_MODEL, type OpenAIServer } from './openai-server';

/** A deterministic OpenAI batch input file of `count` lines. */
export function batchFile(count: number, name = 'batch.jsonl') {
  const lines: string[] = [];
  for (let i = 1; i <= count; i++) {
    lines.push(
      JSON.stringify({
        custom_id: `q-${i}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'Qwen2.5-7B-Instruct',
          messages: [
            { role: 'system', content: 'Rate the answer from 1 to 5. Reply as JSON {"score": n}.' },
            { role: 'user', content: `Question ${i}: what is ${i} + ${i}?\nAnswer: ${2 * i}.` }
          ],
          max_completion_tokens: 16 + (i % 32),
          temperature: 0
        }
      })
    );
  }
  return { name, mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') };
}

export type PromptFile = ReturnType<typeof batchFile>;

/** Imports a file through the page and creates the job; returns its id. */
export async function createJob(
  page: Page,
  file: PromptFile,
  query = '?engine=simulated&tokenDelayMs=0'
) {
  await page.goto('/' + query);
  await page.getByLabel('Prompt file').setInputFiles(file);
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toBeEnabled();
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  return page.url().split('/jobs/')[1] ?? '';
}

export function progressBar(page: Page) {
  return page.getByRole('progressbar', { name: 'Job progress' });
}

export async function finishedCount(page: Page): Promise<number> {
  return Number((await progressBar(page).getAttribute('aria-valuenow')) ?? '0');
}

/** Waits until at least `count` items are finished. */
export async function waitForFinished(page: Page, count: number, timeout = 90_000) {
  await expect
    .poll(() => finishedCount(page), { timeout, intervals: [50, 100, 200] })
    .toBeGreaterThanOrEqual(count);
}

/**
 * Waits until item `index` holds the run (the simulated model's `simHoldAt`: after its first
 * token, its step loop waits for a fault): it is in flight, and nothing more finishes. With
 * several sequences at once the items beside it wait too, so fewer than `index` may be done.
 */
export async function waitForHeld(page: Page, index: number, timeout = 90_000) {
  const line = page.getByTestId('sequences-line');
  await expect
    .poll(
      async () =>
        ((await line.getAttribute('data-in-flight', { timeout: 1_000 }).catch(() => null)) ?? '')
          .split(',')
          .includes(String(index)),
      { timeout, intervals: [50, 100, 200] }
    )
    .toBe(true);
  let last = await finishedCount(page);
  await expect
    .poll(
      async () => {
        const now = await finishedCount(page);
        const still = now === last;
        last = now;
        return still;
      },
      { timeout, intervals: [400] }
    )
    .toBe(true);
}

export async function waitForCompleted(page: Page, total: number, timeout = 120_000) {
  await expect(page.getByRole('status')).toHaveText('Completed', { timeout });
  await expect(progressBar(page)).toHaveAttribute('aria-valuenow', String(total));
  await expect(progressBar(page)).toHaveAttribute('aria-valuemax', String(total));
}

/** Clicks Export, picks a format, and returns the downloaded file's name and text. */
export async function exportAs(page: Page, format: string) {
  await page.getByRole('button', { name: 'Export', exact: true }).click();
  const download = page.waitForEvent('download');
  await page.getByRole('menuitem', { name: format }).click();
  const file = await download;
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, 'utf8') };
}

/**
 * The OpenAI batch output with the fields the format makes unique per run
 * (ids, request ids, timestamps) blanked, and the prompt tokens a kept prefix
 * saved left out (they depend on what ran before in each sequence's slot: a run
 * reads the prefix again after every load; `cachedTokens` reads them); everything
 * else must match byte for byte.
 */
export function withoutRunIds(jsonl: string): string {
  return jsonl
    .split('\n')
    .map((line) => {
      if (!line) return line;
      const record = JSON.parse(line);
      record.id = 'ID';
      if (record.response) {
        record.response.request_id = 'REQ';
        if (record.response.body) {
          record.response.body.id = 'CHATCMPL';
          record.response.body.created = 0;
          delete record.response.body.usage?.prompt_tokens_details;
        }
      }
      return JSON.stringify(record);
    })
    .join('\n');
}

/** Each line's prompt tokens a kept prefix saved (usage's cached_tokens; 0 where none). */
export function cachedTokens(jsonl: string): number[] {
  return jsonl
    .trimEnd()
    .split('\n')
    .map(
      (line) =>
        (
          JSON.parse(line) as {
            response?: {
              body?: { usage?: { prompt_tokens_details?: { cached_tokens?: number } } };
            };
          }
        ).response?.body?.usage?.prompt_tokens_details?.cached_tokens ?? 0
    );
}

/** A small seeded generator, so "random moments" are the same in every run. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

/** Saves "GPU memory (MiB)" in the GPU and memory plan panel of the current page. */
export async function setGpuMemory(page: Page, megabytes: number) {
  const panel = page.getByRole('region', { name: 'GPU and memory plan' });
  await openPlanDetails(page);
  await panel.getByLabel('GPU memory (MiB)').fill(String(megabytes));
  await panel.getByRole('button', { name: 'Save memory settings' }).click();
  await expect(panel.getByTestId('plan-reasons')).toContainText(
    `${megabytes.toLocaleString('en')} MiB`
  );
}

/** Sets the model source to a mirror on the Models page. */
export async function setMirror(page: Page, url: string) {
  await page.goto('/models');
  await page.getByLabel('Mirror base URL').fill(url);
  await page.getByRole('button', { name: 'Check and save mirror' }).click();
  await expect(page.getByTestId('mirror-saved')).toContainText('Saved.');
  await expect(page.getByTestId('model-source')).toHaveText(`Model source: mirror ${url}`);
}

/** Opens the details of the GPU and memory plan panel (a one-line summary until then). */
export async function openPlanDetails(page: Page) {
  const button = page
    .getByRole('region', { name: 'GPU and memory plan' })
    .getByRole('button', { name: /Details: this GPU/ });
  if ((await button.getAttribute('aria-expanded')) !== 'true') await button.click();
  await expect(button).toHaveAttribute('aria-expanded', 'true');
}

/**
 * Turns a checkbox of Settings' Recovery section on or off: waits for the page to say what it
 * saved, then reloads to see what was stored.
 */
async function setRecovery(page: Page, label: string, on: boolean, saved: string) {
  await page.goto('/settings');
  const box = page.getByLabel(label);
  await expect(box).toBeEnabled();
  if ((await box.isChecked()) !== on) {
    await box.click();
    await expect(page.getByTestId('recovery-saved')).toHaveText(`Saved: ${saved}.`);
  }
  await page.reload();
  await expect(box).toBeChecked({ checked: on });
}

/** Turns "Resume interrupted jobs by themselves" on or off in the settings. */
export async function setAutoResume(page: Page, on: boolean) {
  await setRecovery(
    page,
    'Resume interrupted jobs by themselves when the app opens',
    on,
    `interrupted jobs ${on ? 'resume by themselves' : 'wait for Resume'}`
  );
}

/** Turns "Keep the screen on while a job runs" on or off in the settings. */
export async function setKeepAwake(page: Page, on: boolean) {
  await setRecovery(
    page,
    'Keep the screen on while a job runs',
    on,
    `the screen ${on ? 'stays on' : 'may turn off'} while a job runs`
  );
}

/** Turns "Notify me when a job ends while its tab is hidden" on or off (the browser must allow notifications). */
export async function setNotifyOnEnd(page: Page, on: boolean) {
  await setRecovery(
    page,
    'Notify me when a job ends while its tab is hidden',
    on,
    on
      ? 'a notification says when a job ends while its tab is hidden'
      : 'no notification when a job ends'
  );
}

/** Opens the app under its service worker (which lets the runner worker reach servers). */
async function openControlled(page: Page, query = '') {
  await page.goto('/' + query);
  await page.evaluate(async () => {
    await navigator.serviceWorker.ready;
  });
  await page.reload();
  await expect.poll(() => page.evaluate(() => !!navigator.serviceWorker.controller)).toBe(true);
}

/** Creates a job on the server through the import form; returns its id. */
export async function serverJob(
  page: Page,
  server: OpenAIServer,
  file: PromptFile,
  options: { apiKey?: string; concurrency?: number } = {}
) {
  await openControlled(page, '?serverFirstTokenMs=1500');
  await page.getByLabel('Engine').selectOption({ label: 'OpenAI-compatible server' });
  await page.getByLabel('Server URL').fill(server.url);
  if (options.apiKey) await page.getByLabel('API key').fill(options.apiKey);
  await page.getByRole('button', { name: 'Connect', exact: true }).click();
  await expect(page.getByTestId('server-connected')).toHaveText('Connected to vLLM: 1 model.');
  await expect(page.getByLabel('Model', { exact: true })).toHaveValue(SERVER_MODEL);
  await page.getByLabel('Requests in flight').fill(String(options.concurrency ?? 8));
  await page.getByLabel('Prompt file').setInputFiles(file);
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  return page.url().split('/jobs/')[1] ?? '';
}

/** The job of the page's URL: one record of its database (store/job-schema.ts KEYS). */
export function jobRecord<T>(page: Page, key: string | (string | number)[]): Promise<T> {
  const jobId = page.url().split('/jobs/')[1] ?? '';
  return page.evaluate(
    async ({ jobId, key }) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open(`localbatch-job-${jobId}`);
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const value = await new Promise<unknown>((resolve, reject) => {
        const get = db
          .transaction('items')
          .objectStore('items')
          .get(key as IDBValidKey);
        get.onsuccess = () => resolve(get.result);
        get.onerror = () => reject(get.error);
      });
      db.close();
      return value as T;
    },
    { jobId, key }
  );
}
