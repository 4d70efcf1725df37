/**
 * The browser process is killed with SIGKILL mid-run (a persistent profile),
 * relaunched on the same profile, and Resume completes the job.
 */
import { expect, test } from '@playwright/test';
import { killBrowser, launch, newProfile, removeProfile } from './processes';
import {
  batchFile,
  createJob,
  exportAs,
  setAutoResume,
  waitForCompleted,
  waitForFinished,
  withoutRunIds
} from './helpers';

const TOTAL = 200;

test('SIGKILL of the browser mid-run: after a relaunch, Resume completes with an identical export', async () => {
  test.setTimeout(240_000);
  const profile = await newProfile();
  const file = batchFile(TOTAL);
  try {
    let context = await launch(profile);
    let page = context.pages()[0] ?? (await context.newPage());
    // This test presses Resume itself (the chaos run covers resuming by itself).
    await setAutoResume(page, false);

    // Item 61 waits after a token for the kill: at 0 ms a token the job could otherwise finish
    // before it.
    const id = await createJob(page, file, '?engine=simulated&tokenDelayMs=0&simHoldAt=60');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForFinished(page, 60);

    await killBrowser(profile, context);

    context = await launch(profile);
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`/jobs/${id}`);
    await expect(page.getByRole('status')).toHaveText('Interrupted');
    const kept = Number(
      await page.getByRole('progressbar', { name: 'Job progress' }).getAttribute('aria-valuenow')
    );
    expect(kept).toBeGreaterThanOrEqual(60);
    await page.getByRole('button', { name: 'Resume', exact: true }).click();
    await waitForCompleted(page, TOTAL);
    const resumed = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const resumedCsv = await exportAs(page, 'CSV (.csv)');

    // A clean run of the same file in the same browser, for comparison.
    await createJob(page, file);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, TOTAL);
    const clean = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const cleanCsv = await exportAs(page, 'CSV (.csv)');

    expect(resumed.text.trimEnd().split('\n')).toHaveLength(TOTAL);
    expect(withoutRunIds(resumed.text)).toBe(withoutRunIds(clean.text));
    expect(resumedCsv.text).toBe(cleanCsv.text);
    await context.close();
  } finally {
    await removeProfile(profile);
  }
});
