/**
 * The screen stays on while a job runs in the tab (Chromium's own Screen Wake Lock), and is let
 * go when the run ends; Settings turns it off. The page's own calls to the API are recorded by
 * an init script that wraps `navigator.wakeLock.request`, so the test sees the real sentinels.
 */
import { expect, test, type Page } from '@playwright/test';
import { batchFile, createJob, finishedCount, setKeepAwake, waitForCompleted } from './helpers';

declare global {
  interface Window {
    __wakeLocks: WakeLockSentinel[];
  }
}

test.beforeEach(async ({ page }) => {
  await page.addInitScript(() => {
    window.__wakeLocks = [];
    const wakeLock = navigator.wakeLock;
    const request = wakeLock.request.bind(wakeLock);
    wakeLock.request = async (type) => {
      const sentinel = await request(type);
      window.__wakeLocks.push(sentinel);
      return sentinel;
    };
  });
});

/** How many screen locks the page asked for, and how many it still holds. */
const locks = (page: Page) =>
  page.evaluate(() => ({
    asked: window.__wakeLocks.length,
    held: window.__wakeLocks.filter((s) => !s.released).length
  }));

test('the screen stays on while a job runs in the tab and is let go when it completes; the title leads with the share done', async ({
  page
}) => {
  await createJob(page, batchFile(12, 'awake.jsonl'), '?engine=simulated&tokenDelayMs=60');
  expect(await locks(page)).toEqual({ asked: 0, held: 0 });
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const line = page.getByTestId('keep-awake');
  await expect(line).toHaveText('The screen stays on while this job runs (Settings).');
  await expect(line.getByRole('link', { name: 'Settings' })).toHaveAttribute('href', '/settings');
  await expect.poll(() => locks(page)).toEqual({ asked: 1, held: 1 });
  // The tab's title leads with how far the job is while it runs.
  await expect(page).toHaveTitle(/^([1-9]?\d)% · awake: LocalBatch$/);
  await waitForCompleted(page, 12);
  await expect(line).toBeHidden();
  await expect(page).toHaveTitle('awake: LocalBatch');
  await expect.poll(() => locks(page)).toEqual({ asked: 1, held: 0 });
});

test('with "Keep the screen on while a job runs" off, a run asks for no screen lock', async ({
  page
}) => {
  await setKeepAwake(page, false);
  await createJob(page, batchFile(6, 'sleepy.jsonl'), '?engine=simulated&tokenDelayMs=20');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 6);
  await expect(page.getByTestId('keep-awake')).toBeHidden();
  expect(await locks(page)).toEqual({ asked: 0, held: 0 });
});

test('turned off in another tab while a job runs here: this tab lets the screen lock go at once (the settings are broadcast)', async ({
  page,
  context
}) => {
  await createJob(page, batchFile(200, 'long.jsonl'), '?engine=simulated&tokenDelayMs=60');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect.poll(() => locks(page)).toEqual({ asked: 1, held: 1 });
  const other = await context.newPage();
  await setKeepAwake(other, false);
  await expect.poll(() => locks(page)).toEqual({ asked: 1, held: 0 });
  await expect(page.getByTestId('keep-awake')).toBeHidden();
  expect(await finishedCount(page)).toBeLessThan(200);
  await other.close();
});
