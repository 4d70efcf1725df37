/**
 * The real WebLLM engine with no network: every host but localhost fails to
 * resolve (see browser.ts), so loading the model fails at its first fetch.
 * The user must read which host could not be reached, and the job and its
 * stored results must be unchanged.
 */
import { expect, test } from '@playwright/test';
import { batchFile, createJob, exportAs, progressBar, setGpuMemory } from './helpers';

const TOTAL = 20;
const SEEDED = 5;

test('WebLLM with no network: a clear error naming the host; the job and its results are unchanged', async ({
  page
}) => {
  test.setTimeout(300_000);
  // SwiftShader's memory is system RAM, which Chrome reports as at most 8 GB; say how much there is
  // so that the 7B plan fits and the preflight runs, as on a machine whose owner set it.
  await page.goto('/settings');
  await setGpuMemory(page, 16_000);

  const id = await createJob(page, batchFile(TOTAL, 'offline.jsonl'), '');
  await expect(page.getByText(/WebLLM on this GPU/).first()).toBeVisible();

  // Give the job five stored results, as if it had run before going offline.
  await page.evaluate(
    async ({ id, seeded }) => {
      const db = await new Promise<IDBDatabase>((resolve, reject) => {
        const open = indexedDB.open(`localbatch-job-${id}`);
        open.onsuccess = () => resolve(open.result);
        open.onerror = () => reject(open.error);
      });
      const tx = db.transaction('items', 'readwrite');
      const items = tx.objectStore('items');
      const progress = await new Promise<Record<string, unknown>>((resolve) => {
        const get = items.get('progress');
        get.onsuccess = () => resolve(get.result);
      });
      for (let index = 0; index < seeded; index++) {
        items.put(
          {
            index,
            customId: `q-${index + 1}`,
            status: 'done',
            text: `{"score": ${(index % 5) + 1}}`,
            finishReason: 'stop',
            usage: { prompt_tokens: 40, completion_tokens: 6, total_tokens: 46 },
            error: null,
            model: 'Qwen2.5-7B-Instruct-q4f32_1-MLC',
            finishedAt: 1_790_000_000_000 + index,
            attempts: 1
          },
          ['out', index]
        );
      }
      items.put(
        {
          ...progress,
          cursor: seeded,
          done: seeded,
          promptTokens: 200,
          completionTokens: 30,
          elapsedMs: 5000,
          state: 'paused'
        },
        'progress'
      );
      await new Promise((resolve) => (tx.oncomplete = resolve));
      db.close();
    },
    { id, seeded: SEEDED }
  );
  await page.reload();
  await expect(progressBar(page)).toHaveAttribute('aria-valuenow', String(SEEDED));
  const before = await exportAs(page, 'OpenAI batch output (.jsonl)');
  expect(before.text.trimEnd().split('\n')).toHaveLength(SEEDED);

  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'The job stopped' });
  // Before the first fetch of the model, the preflight allocates the whole plan (the model is
  // not cached): on SwiftShader that is system RAM, 28-33 s alone for the 7B plan (measured in
  // the trace, between the library's failed fetch and the config's), over 60 s beside another
  // browser test.
  await expect(alert).toContainText('huggingface.co', { timeout: 180_000 });
  await expect(alert).toContainText('could not be reached');
  await expect(alert).toContainText(`Nothing was lost: ${SEEDED} of ${TOTAL} results are saved.`);
  await expect(alert).toContainText('Connect to the network, then press Resume.');
  await expect(page.getByRole('status')).toHaveText('Stopped');
  await expect(page.getByRole('button', { name: 'Resume', exact: true })).toBeVisible();

  // Unchanged: the same count, the same results byte for byte, the same inputs.
  await expect(progressBar(page)).toHaveAttribute('aria-valuenow', String(SEEDED));
  const after = await exportAs(page, 'OpenAI batch output (.jsonl)');
  expect(after.text).toBe(before.text);
  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Stopped');
  await expect(page.getByRole('alert').filter({ hasText: 'The job stopped' })).toContainText(
    'huggingface.co'
  );
  await expect(page.locator('[data-status="pending"]').first()).toBeVisible();
  await expect(progressBar(page)).toHaveAttribute('aria-valuemax', String(TOTAL));
});
