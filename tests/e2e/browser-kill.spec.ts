/**
 * The browser process is killed with SIGKILL mid-run (a persistent profile),
 * relaunched on the same profile, and Resume completes the job.
 */
import { chromium, expect, test, type BrowserContext } from '@playwright/test';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BASE_URL, CHROMIUM_ARGS, CHROMIUM_PATH } from './browser';
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

function launch(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    args: CHROMIUM_ARGS,
    baseURL: BASE_URL,
    acceptDownloads: true
  });
}

/** Every process whose command line names this profile; the browser is the one without --type. */
async function profileProcesses(profile: string) {
  const found: { pid: number; browser: boolean }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.includes(profile)) continue;
    found.push({ pid: Number(entry), browser: !cmdline.includes('--type=') });
  }
  return found;
}

test('SIGKILL of the browser mid-run: after a relaunch, Resume completes with an identical export', async () => {
  test.setTimeout(240_000);
  const profile = await mkdtemp(join(tmpdir(), 'localbatch-profile-'));
  const file = batchFile(TOTAL);
  try {
    let context = await launch(profile);
    let page = context.pages()[0] ?? (await context.newPage());
    // This test presses Resume itself (the chaos run covers resuming by itself).
    await setAutoResume(page, false);

    const id = await createJob(page, file);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForFinished(page, 60);

    const processes = await profileProcesses(profile);
    const browser = processes.find((p) => p.browser);
    expect(browser, 'the browser process of this profile').toBeTruthy();
    const closed = new Promise((resolve) => context.once('close', resolve));
    process.kill(browser!.pid, 'SIGKILL');
    await closed;
    // The browser's helpers die with it; make sure none holds the profile.
    await expect
      .poll(async () => (await profileProcesses(profile)).length, { timeout: 15_000 })
      .toBe(0);

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
    for (const { pid } of await profileProcesses(profile)) process.kill(pid, 'SIGKILL');
    await rm(profile, { recursive: true, force: true });
  }
});
