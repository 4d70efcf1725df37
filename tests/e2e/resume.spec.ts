import { expect, test } from '@playwright/test';
import {
  batchFile,
  createJob,
  exportAs,
  finishedCount,
  seeded,
  setAutoResume,
  waitForCompleted,
  waitForFinished,
  waitForHeld,
  withoutRunIds
} from './helpers';

const TOTAL = 200;

for (const sequences of [1, 4]) {
  test(`a 200-item job reloaded 3 times mid-run at ${sequences} sequence${sequences === 1 ? '' : 's'} at once completes with the same export as a clean run`, async ({
    page
  }) => {
    const file = batchFile(TOTAL);

    // The baseline: the same file run without interruption.
    await createJob(page, file);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, TOTAL);
    const cleanJsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const cleanCsv = await exportAs(page, 'CSV (.csv)');
    expect(cleanJsonl.name).toBe('batch-results.jsonl');
    expect(cleanCsv.name).toBe('batch-results.csv');

    // The same file, reloaded at three seeded random items. Each of them holds the run after a
    // token for the reload: at 0 ms a token the job could otherwise finish before the last one.
    const random = seeded(2026);
    const windows: [number, number][] = [
      [5, 60],
      [70, 125],
      [135, 185]
    ];
    const moments = windows.map(([from, to]) => ({
      at: from + Math.floor(random() * (to - from)),
      waitMs: Math.floor(random() * 40)
    }));
    await createJob(
      page,
      file,
      `?engine=simulated&tokenDelayMs=0&sequences=${sequences}&simHoldAt=${moments.map((m) => m.at).join(',')}`
    );
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    for (const { at, waitMs } of moments) {
      await waitForHeld(page, at);
      await page.waitForTimeout(waitMs);
      await page.reload();
      // Resume interrupted jobs is on by default: the job goes on with no click.
    }
    await waitForCompleted(page, TOTAL);
    await expect(page.getByTestId('count-done')).toHaveText(String(TOTAL));
    await expect(page.getByTestId('count-failed')).toHaveText('0');

    const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const csv = await exportAs(page, 'CSV (.csv)');
    const lines = jsonl.text.trimEnd().split('\n');
    expect(lines).toHaveLength(TOTAL);
    expect(lines.map((line) => JSON.parse(line).custom_id)).toEqual(
      Array.from({ length: TOTAL }, (_, i) => `q-${i + 1}`)
    );
    expect(withoutRunIds(jsonl.text)).toBe(withoutRunIds(cleanJsonl.text));
    expect(csv.text).toBe(cleanCsv.text);
  });
}

test('Pause stops after the current token, keeps the partial item out, and Resume finishes', async ({
  page
}) => {
  const total = 12;
  // Item 3 waits after a token for Pause: the job cannot finish before it.
  await createJob(
    page,
    batchFile(total, 'pause.jsonl'),
    '?engine=simulated&tokenDelayMs=15&simHoldAt=2'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('stream')).not.toBeEmpty();
  await waitForFinished(page, 2);
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Paused');
  const kept = Number(await page.getByTestId('count-done').textContent());
  expect(kept).toBeGreaterThanOrEqual(2);
  expect(kept).toBeLessThan(total);
  // The item that was streaming when Pause was pressed has no result.
  await expect(page.locator('[data-status="done"]')).toHaveCount(kept);
  await expect(page.locator('[data-status="pending"]').first()).toBeVisible();

  // Nothing moves while paused.
  await page.waitForTimeout(300);
  await expect(page.getByTestId('count-done')).toHaveText(String(kept));

  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await waitForCompleted(page, total);

  // The full item opens on click, its output rendered as text.
  await page.locator('[data-status="done"]').first().click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByRole('heading', { name: 'Item 1: q-1' })).toBeVisible();
  await expect(dialog).toContainText('Line 1 of the input file · done · 1 attempt');
  await expect(dialog.getByTestId('item-output')).toContainText('[simulated]');
  await dialog.getByRole('button', { name: 'Close', exact: true }).click();
  await expect(dialog).toBeHidden();
});

test('a job created with ?engine=simulated resumes on the simulated engine whatever the URL says', async ({
  page
}) => {
  const id = await createJob(
    page,
    batchFile(30, 'engine.jsonl'),
    '?engine=simulated&tokenDelayMs=10&simHoldAt=3'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForFinished(page, 3);
  await page.goto(`/jobs/${id}?engine=webllm`);
  await expect(page.getByTestId('placeholder-note')).toBeVisible();
  // Leaving the page interrupted the run; opening the app resumed it by itself.
  await waitForCompleted(page, 30);
  await expect(page.getByTestId('count-done')).toHaveText('30');
});

test('with "Resume interrupted jobs" off, a reloaded job shows Interrupted and waits for Resume', async ({
  page
}) => {
  await setAutoResume(page, false);
  await createJob(
    page,
    batchFile(20, 'manual.jsonl'),
    '?engine=simulated&tokenDelayMs=10&simHoldAt=3'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForFinished(page, 3);
  await page.reload();
  await expect(page.getByRole('status')).toHaveText('Interrupted');
  const kept = await finishedCount(page);
  await page.waitForTimeout(500);
  expect(await finishedCount(page)).toBe(kept);
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await waitForCompleted(page, 20);
});

test('a job page for a job this browser does not have says so, links back to the jobs, and makes no store for it', async ({
  page
}) => {
  await page.goto('/jobs/not-here');
  await expect(page.getByRole('alert')).toHaveText(
    'There is no job not-here in this browser: it was deleted, or made in another browser or browser profile (each keeps its own jobs). Nothing was changed.'
  );
  await expect(page.getByRole('link', { name: '← All jobs' })).toBeVisible();
  const names = await page.evaluate(async () =>
    (await indexedDB.databases()).map((db) => db.name ?? '')
  );
  expect(names.filter((name) => name.includes('not-here'))).toEqual([]);
});
