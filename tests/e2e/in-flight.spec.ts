/**
 * Several items in flight (the simulated model's step loop runs 4 sequences at once, as WebLLM's
 * does): real faults lose nothing, and a poison item is found by running the suspects alone.
 */
import { expect, test } from '@playwright/test';
import {
  batchFile,
  createJob,
  exportAs,
  jobRecord,
  waitForCompleted,
  waitForHeld,
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

    await createJob(page, file, '?engine=simulated&tokenDelayMs=0&sequences=4');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, TOTAL);
    const clean = await exportAs(page, 'OpenAI batch output (.jsonl)');

    // Items 21 and 46 hold the step loop after a token (the sequences beside them wait too, as
    // on a stalled GPU) until the kill and the reload: the job cannot finish before either.
    await createJob(page, file, '?engine=simulated&tokenDelayMs=4&sequences=4&simHoldAt=20,45');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForHeld(page, 20);
    await killGpuProcess(profile);
    await waitForHeld(page, 45);
    await page.reload();
    await waitForCompleted(page, TOTAL);
    // Each fault ended its hold: no item waited for the hang watchdog.
    const log = page.getByTestId('run-log');
    await expect(log).toContainText('engine restarted on a new device');
    await expect(log).not.toContainText('no token for');
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
    '?engine=simulated&tokenDelayMs=2&sequences=4&simPoisonItem=9'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 24);
  await expect(page.getByTestId('count-failed')).toHaveText('1');
  await expect(page.getByTestId('count-done')).toHaveText('23');
  const log = page.getByTestId('run-log');
  await expect(log).toContainText('item 10 failed after 3 attempts (device-lost); moving on');
  // Lost once together (put down to whichever of the four the loop failed first: nobody is
  // blamed), then three times alone; a crash an item repeats alone is its own, so the job keeps
  // its 4 sequences at once for the items after it.
  const losses = await jobRecord<{ kind: string; message: string }[]>(page, 'log');
  const lines = losses.filter((line) => line.kind !== 'tokens').map((line) => line.message);
  expect(lines).toEqual([
    expect.stringMatching(
      /^device lost \(unknown\) at item (7|8|9|10); engine restarted on a new device$/
    ),
    'device lost (unknown) at item 10; engine restarted on a new device',
    'device lost (unknown) at item 10; engine restarted on a new device',
    'device lost (unknown) at item 10; engine restarted on a new device',
    'item 10 failed after 3 attempts (device-lost); moving on'
  ]);
  const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
  const failed = jsonl.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line))
    .filter((line) => line.error !== null);
  expect(failed.map((line) => line.custom_id)).toEqual(['q-10']);
});
