/**
 * Several items in flight (the simulated engine runs 4 at once, as a server would):
 * real faults lose nothing, and a poison item is found by running the suspects alone.
 */
import { expect, test } from '@playwright/test';
import {
  batchFile,
  createJob,
  exportAs,
  waitForCompleted,
  waitForFinished,
  withoutRunIds
} from './helpers';
import { NO_GPU_CRASH_LIMIT, killGpuProcess, launch, newProfile, removeProfile } from './processes';

const TOTAL = 80;

test('at 4 in flight, a GPU-process kill and a page reload mid-run lose nothing and double nothing', async () => {
  test.setTimeout(180_000);
  const profile = await newProfile();
  try {
    const context = await launch(profile, NO_GPU_CRASH_LIMIT);
    const page = context.pages()[0] ?? (await context.newPage());
    const file = batchFile(TOTAL, 'flight.jsonl');

    await createJob(page, file, '?engine=simulated&tokenDelayMs=0&simConcurrency=4');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, TOTAL);
    const clean = await exportAs(page, 'OpenAI batch output (.jsonl)');

    // Items 21 and 46 wait after a token for the kill and the reload (the others run on beside
    // them): the job cannot finish before either.
    await createJob(
      page,
      file,
      '?engine=simulated&tokenDelayMs=4&simConcurrency=4&simHoldAt=20,45'
    );
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForFinished(page, 20);
    await killGpuProcess(profile);
    await waitForFinished(page, 45);
    await page.reload();
    await waitForCompleted(page, TOTAL);
    await expect(page.getByTestId('run-log')).toContainText('engine restarted on a new device');
    await expect(page.getByTestId('count-done')).toHaveText(String(TOTAL));
    const faulted = await exportAs(page, 'OpenAI batch output (.jsonl)');
    const ids = faulted.text
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line).custom_id);
    expect(ids).toEqual(Array.from({ length: TOTAL }, (_, i) => `q-${i + 1}`));
    expect(withoutRunIds(faulted.text)).toBe(withoutRunIds(clean.text));
    await context.close();
  } finally {
    await removeProfile(profile);
  }
});

test('a poison item among 4 in flight is run alone, failed after 3 attempts alone, and the 3 beside it complete', async ({
  page
}) => {
  await createJob(
    page,
    batchFile(24, 'poison-flight.jsonl'),
    '?engine=simulated&tokenDelayMs=2&simConcurrency=4&simPoisonItem=9'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 24);
  await expect(page.getByTestId('count-failed')).toHaveText('1');
  await expect(page.getByTestId('count-done')).toHaveText('23');
  const log = page.getByTestId('run-log');
  await expect(log).toContainText('item 10 failed after 3 attempts (device-lost); moving on');
  // Lost once together (nobody blamed), then three times alone.
  await expect(log.getByText(/device lost \(unknown\) at item 10/)).toHaveCount(4);
  const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
  const failed = jsonl.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((line) => line.error !== null);
  expect(failed.map((line) => line.custom_id)).toEqual(['q-10']);
});
