/**
 * Pause means paused (the simulated engine): pressed while an item hangs, right after a GPU
 * process kill, or while the supervisor retries the job's lock after replacing its worker, the
 * job is stored paused; a reload and a second tab show it paused, nothing resumes it by
 * itself, and Resume runs it to the end. No test here may print an unhandled rejection.
 */
import { expect, test, type BrowserContext, type Page } from '@playwright/test';
import {
  batchFile,
  createJob,
  finishedCount,
  jobRecord,
  waitForCompleted,
  waitForFinished,
  waitForHeld
} from './helpers';
import { jobLockName } from '../../src/lib/shared/storage-names';
import { NO_GPU_CRASH_LIMIT, killGpuProcess, launch, newProfile, removeProfile } from './processes';

const TOTAL = 24;
const runLog = (page: Page) => page.getByTestId('run-log');
const status = (page: Page) => page.getByRole('status');

/** Every unhandled rejection and page error of `page`, as text. */
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && /unhandled|uncaught/i.test(message.text())) {
      errors.push(message.text());
    }
  });
  return errors;
}

/**
 * The job is paused and stays so: stored paused, shown paused here after a reload and in a
 * second tab (which does not take it over), no item finishing meanwhile; then Resume (in the
 * first tab) runs it to the end.
 */
async function expectPausedEverywhere(context: BrowserContext, page: Page, id: string) {
  await expect(status(page)).toHaveText('Paused', { timeout: 20_000 });
  expect((await jobRecord<{ state: string }>(page, 'progress')).state).toBe('paused');
  const finished = await finishedCount(page);

  const second = await context.newPage();
  const errors = watchErrors(second);
  await second.goto(`/jobs/${id}`);
  await expect(status(second)).toHaveText('Paused');
  await expect(second.getByRole('button', { name: 'Resume', exact: true })).toBeVisible();

  await page.reload();
  await expect(status(page)).toHaveText('Paused');
  // Nothing resumes it: not the app opening again, not the second tab.
  await page.waitForTimeout(2_000);
  await expect(status(page)).toHaveText('Paused');
  await expect(status(second)).toHaveText('Paused');
  expect(await finishedCount(page)).toBe(finished);
  await expect(runLog(second)).not.toContainText('took over');
  await expect(runLog(page)).not.toContainText('resumed by itself');
  await second.close();
  expect(errors).toEqual([]);

  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await waitForCompleted(page, TOTAL, 60_000);
  await expect(page.getByTestId('count-done')).toHaveText(String(TOTAL));
}

/** A job whose item 5 hangs after its first tokens (on its first attempt), started, 4 done. */
async function startHangingJob(page: Page, name: string): Promise<string> {
  const id = await createJob(
    page,
    batchFile(TOTAL, name),
    '?engine=simulated&tokenDelayMs=5&simHangAtItem=4'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForFinished(page, 4);
  return id;
}

test('Pause while an item hangs: the job is stored paused within seconds, before any hang watch', async ({
  page,
  context
}) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const id = await startHangingJob(page, 'pause-hang.jsonl');
  // Item 5 has given its tokens and hangs: no step ends, and the abort never reaches it.
  await expect(page.getByTestId('stream')).not.toBeEmpty();
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  // Well before the hang watch (15 s): within the Pause's own limit (5 s).  ("Pausing" shows
  // only for as long as the run takes to stop: often too short to see.)
  await expect(status(page)).toHaveText('Paused', { timeout: 10_000 });
  await expect(runLog(page)).not.toContainText('no token for');
  await expectPausedEverywhere(context, page, id);
  expect(errors).toEqual([]);
});

test('Pause right after a GPU-process kill, while the engine restarts: the job is stored paused', async () => {
  test.setTimeout(120_000);
  const profile = await newProfile();
  try {
    const context = await launch(profile, NO_GPU_CRASH_LIMIT);
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = watchErrors(page);
    const id = await createJob(
      page,
      batchFile(TOTAL, 'pause-kill.jsonl'),
      '?engine=simulated&tokenDelayMs=5&sequences=4&simHoldAt=9'
    );
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForHeld(page, 9);
    await killGpuProcess(profile);
    await page.getByRole('button', { name: 'Pause', exact: true }).click();
    await expect(status(page)).toHaveText('Paused', { timeout: 20_000 });
    await expectPausedEverywhere(context, page, id);
    expect(errors).toEqual([]);
    await context.close();
  } finally {
    await removeProfile(profile);
  }
});

test('Pause while the supervisor retries the lock its replaced worker may hold: no more tries, stored paused', async ({
  page,
  context
}) => {
  test.setTimeout(120_000);
  const errors = watchErrors(page);
  const id = await startHangingJob(page, 'pause-lock.jsonl');
  // Another page of the app queues for the job's lock: it gets it when the hung worker is
  // stopped, so the new worker finds it taken and the supervisor retries it every 100 ms.
  const holder = await context.newPage();
  await holder.goto('/settings');
  await holder.evaluate((name) => {
    const w = window as unknown as { letGo?: () => void };
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- held until the test lets it go
    void navigator.locks.request(name, () => new Promise<void>((done) => (w.letGo = done)));
  }, jobLockName(id));
  await expect(runLog(page)).toContainText('engine restarted in a new worker', {
    timeout: 40_000
  });
  await page.getByRole('button', { name: 'Pause', exact: true }).click();
  // Stored paused by this tab (its new worker never got the lock to say so), not waited for.
  await expect
    .poll(async () => (await jobRecord<{ state: string }>(page, 'progress')).state, {
      timeout: 10_000
    })
    .toBe('paused');
  await expect(runLog(page)).toContainText('paused: the run stopped for Pause');
  await holder.evaluate(() => (window as unknown as { letGo: () => void }).letGo());
  await holder.close();
  await expectPausedEverywhere(context, page, id);
  expect(errors).toEqual([]);
});
