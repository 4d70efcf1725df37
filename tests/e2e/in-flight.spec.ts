/**
 * Several items in flight (the simulated model's step loop runs 4 sequences at once, as WebLLM's
 * does): real faults lose nothing, and a poison item is found by halving the suspects.
 */
import { expect, test } from '@playwright/test';
import {
  batchFile,
  cachedTokens,
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
    // The prompts share their first 16 tokens (a page): each of the 4 slots keeps them. A clean
    // run reads them 4 times; the faulted one again after the kill and after the reload, 4
    // times each at most (a lost device drops every slot's).
    const read = (text: string) => cachedTokens(text).filter((tokens) => tokens === 0).length;
    expect(cachedTokens(clean.text).every((tokens) => tokens === 0 || tokens === 16)).toBe(true);
    expect(read(clean.text)).toBe(4);
    expect(cachedTokens(faulted.text).every((tokens) => tokens === 0 || tokens === 16)).toBe(true);
    expect(read(faulted.text)).toBeGreaterThan(4);
    expect(read(faulted.text)).toBeLessThanOrEqual(12);
    await context.close();
  } finally {
    await removeProfile(profile);
  }
});

test('a poison item among 8 in flight is found by halving the suspects: 4 lone or halved runs, its 7 neighbours complete, nothing lost or doubled', async ({
  page
}) => {
  const TOTAL = 24;
  await createJob(
    page,
    batchFile(TOTAL, 'poison-flight.jsonl'),
    '?engine=simulated&tokenDelayMs=2&sequences=8&simPoisonItem=5'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, TOTAL);
  await expect(page.getByTestId('count-failed')).toHaveText('1');
  await expect(page.getByTestId('count-done')).toHaveText(String(TOTAL - 1));
  const log = await jobRecord<{ kind: string; message: string }[]>(page, 'log');
  const lines = log.filter((line) => line.kind !== 'tokens').map((line) => line.message);
  const LOST = /^device lost \(unknown\) at item \d+; engine restarted on a new device$/;
  // Lost by the 8 (item 6 crashes as it is read), by the 8 again together, then by each half
  // that holds item 6: items 1-4 finish, 5 and 6 fail, 5 finishes alone, 6 fails alone.
  expect(lines).toEqual([
    expect.stringMatching(LOST),
    'items 1–8 run again with nothing beside them: the device was lost while they ran',
    expect.stringMatching(LOST),
    'items 1–4 (4 of 8 suspects) run with nothing beside them, to find the item that loses the device',
    'items 5 and 6 (2 of 4 suspects) run with nothing beside them, to find the item that loses the device',
    expect.stringMatching(LOST),
    'item 5 (1 of 2 suspects) runs alone, to find the item that loses the device',
    'item 6 (1 of 1 suspects) runs alone, to find the item that loses the device',
    'device lost (unknown) at item 6; engine restarted on a new device',
    'item 6 failed after 4 attempts, the last alone (device-lost); moving on'
  ]);
  // The job's plan is untouched: the crash was the item's, not the batch's size.
  const progress = await jobRecord<{ sequencesCap: number | null; windowCap: number | null }>(
    page,
    'progress'
  );
  expect(progress).toMatchObject({ sequencesCap: null, windowCap: null });
  await expect(page.getByTestId('run-log')).toContainText('item 6 failed after 4 attempts');
  const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
  const rows = jsonl.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as { custom_id: string; error: unknown });
  expect(rows.map((row) => row.custom_id)).toEqual(
    Array.from({ length: TOTAL }, (_, i) => `q-${i + 1}`)
  );
  expect(rows.filter((row) => row.error !== null).map((row) => row.custom_id)).toEqual(['q-6']);
});
