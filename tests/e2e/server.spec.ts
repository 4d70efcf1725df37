/**
 * The server engine against a local OpenAI-compatible server (openai-server.ts): many
 * requests in flight through the faults servers have, a server that goes away and comes
 * back, and an API key that never leaves the settings.
 */
import { expect, test } from '@playwright/test';
import {
  batchFile,
  exportAs,
  seeded,
  serverJob,
  waitForCompleted,
  waitForFinished,
  withoutRunIds
} from './helpers';
import { startOpenAIServer, type Fault } from './openai-server';

test('500 items at 8 in flight through 429s, 5xx, drops, stalls and a server restart: none lost, none doubled, the same export as without faults', async ({
  page
}) => {
  test.setTimeout(300_000);
  const server = await startOpenAIServer({ delayMs: 4 });
  try {
    const file = batchFile(500, 'server.jsonl');
    await serverJob(page, server, file);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, 500, 120_000);
    const clean = await exportAs(page, 'OpenAI batch output (.jsonl)');
    expect(server.requests).toBe(500);

    // Faults at seeded points of the second run, and one restart of the whole server.
    const offset = server.requests;
    const random = seeded(11);
    const plan = new Map<number, Fault>();
    const kinds: Fault[] = ['429', '500', '503', 'drop', 'stall'];
    for (let i = 0; i < 40; i++) plan.set(1 + Math.floor(random() * 480), kinds[i % kinds.length]!);
    plan.set(250, 'restart');
    server.setFaults((n) => plan.get(n - offset) ?? null);

    await serverJob(page, server, file);
    const started = Date.now();
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await expect(page.getByTestId('server-line')).toContainText(
      /[2-8] requests in flight \(up to 8\)/
    );
    await waitForCompleted(page, 500, 240_000);
    const wallMs = Date.now() - started;
    await expect(page.getByTestId('count-done')).toHaveText('500');
    await expect(page.getByTestId('count-failed')).toHaveText('0');
    const faulted = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const ids = faulted.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).custom_id);
    expect(ids).toEqual(Array.from({ length: 500 }, (_, i) => `q-${i + 1}`));
    expect(new Set(ids).size).toBe(500);
    expect(withoutRunIds(faulted.text)).toBe(withoutRunIds(clean.text));

    const retries = Number(
      /(\d+) retr/.exec((await page.getByTestId('server-line').innerText()) ?? '')?.[1] ?? 0
    );
    expect(retries).toBeGreaterThanOrEqual(35);
    expect(server.faults.restart).toBe(1);
    console.log(
      `server faults run: ${server.requests - offset} requests, ${retries} retries shown, faults ${JSON.stringify(server.faults)}, ${(wallMs / 1000).toFixed(1)} s`
    );
  } finally {
    await server.close();
  }
});

test('a server that stays down pauses the job, saying what was kept, and it resumes by itself when the server is back', async ({
  page
}) => {
  test.setTimeout(180_000);
  const server = await startOpenAIServer({ delayMs: 30 });
  try {
    await serverJob(page, server, batchFile(40, 'down.jsonl'), { concurrency: 4 });
    // Ten answers, then none until the server is stopped: without the hold all 40 could
    // finish before the stop lands (as they did once, in a fresh clone's run).
    server.holdAfter(10);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForFinished(page, 10);
    await server.stop();
    const alert = page.getByRole('alert').filter({ hasText: 'The job stopped' });
    await expect(alert).toContainText('does not answer', { timeout: 90_000 });
    await expect(alert).toContainText(/Nothing was lost: \d+ of 40 results are saved\./);
    await expect(alert).toContainText('resumes by itself when it answers');
    await expect(page.getByRole('status')).toHaveText('Paused');
    server.release();
    await server.start();
    await waitForCompleted(page, 40, 90_000);
    await expect(page.getByTestId('run-log')).toContainText('Paused until it answers');
  } finally {
    await server.close();
  }
});

test('the API key is never stored with the job, in its exports, its run log or the page, even when the server repeats it', async ({
  page
}) => {
  const KEY = 'sk-live-SECRET-4242';
  const server = await startOpenAIServer({
    apiKey: KEY,
    faultAt: (n) => (n % 4 === 0 ? '400' : null)
  });
  try {
    await serverJob(page, server, batchFile(12, 'key.jsonl'), { apiKey: KEY, concurrency: 2 });
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, 12);
    expect(server.seen.every((request) => request.authorization === `Bearer ${KEY}`)).toBe(true);
    await expect(page.getByTestId('count-failed')).toHaveText('3');

    // Every job store: the catalog and the job's own database, every record in them.
    const stored = await page.evaluate(async () => {
      const names = (await indexedDB.databases()).map((db) => db.name ?? '');
      const dumps: string[] = [];
      for (const name of names.filter(
        (n) => n.startsWith('localbatch') && n !== 'localbatch-settings'
      )) {
        const db = await new Promise<IDBDatabase>((resolve, reject) => {
          const open = indexedDB.open(name);
          open.onsuccess = () => resolve(open.result);
          open.onerror = () => reject(open.error);
        });
        for (const store of Array.from(db.objectStoreNames)) {
          const all = await new Promise<unknown[]>((resolve, reject) => {
            const request = db.transaction(store).objectStore(store).getAll();
            request.onsuccess = () => resolve(request.result);
            request.onerror = () => reject(request.error);
          });
          dumps.push(JSON.stringify(all));
        }
        db.close();
      }
      return { names, text: dumps.join('\n') };
    });
    expect(stored.names.some((name) => name.startsWith('localbatch-job-'))).toBe(true);
    expect(stored.text).toContain('[API key]');
    expect(stored.text).not.toContain(KEY);

    const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const csv = await exportAs(page, 'CSV (.csv)');
    expect(jsonl.text).toContain('Bad request for key Bearer [API key]');
    for (const file of [jsonl, csv]) expect(file.text).not.toContain(KEY);
    await page.locator('[data-status="failed"]').first().click();
    await expect(page.getByRole('dialog')).toContainText('[API key]');
    expect(await page.locator('body').innerText()).not.toContain(KEY);
    await page.getByRole('dialog').getByRole('button', { name: 'Close', exact: true }).click();
    // The run log is in the job's database (searched above); the page, all of it:
    expect(await page.content()).not.toContain(KEY);
  } finally {
    await server.close();
  }
});
