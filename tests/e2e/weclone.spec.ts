import { expect, test, type Page } from '@playwright/test';
import { wecloneDataset, wecloneFile, type WeclonePair } from '../fixtures/weclone';
import { exportAs, waitForCompleted, waitForHeld } from './helpers';
import { NO_GPU_CRASH_LIMIT, killGpuProcess, launch, newProfile, removeProfile } from './processes';

const PAIRS = 64;
const NOT_SCORED = 'not scored';

/** Imports the dataset, picks the preset (and pairs per prompt), creates the job and runs it. */
async function scoreDataset(page: Page, pairs: WeclonePair[], query: string, perPrompt = 1) {
  await page.goto('/' + query);
  await page.getByLabel('Prompt file').setInputFiles(wecloneFile(pairs));
  await expect(page.getByRole('heading', { name: /ShareGPT dataset/ })).toBeVisible();
  await page.getByLabel('Preset').selectOption({ label: 'Score chat pairs (WeClone)' });
  await expect(page.getByLabel('Temperature')).toHaveValue('0');
  await expect(page.getByLabel('Rubric', { exact: true })).toHaveValue(/1 to 5|1 到 5/);
  if (perPrompt !== 1) {
    await page.getByLabel('Pairs per prompt').fill(String(perPrompt));
    // The form shows what the batch saves: the rubric is sent once for all its pairs.
    const estimate = page.getByTestId('per-pair');
    await expect(estimate).toContainText(`with ${perPrompt} pairs per prompt`);
    const [alone, batched] = (
      (await estimate.innerText()).match(/[\d,]+(?= (?:prompt )?tokens? per pair| per pair)/g) ?? []
    ).map((n) => Number(n.replace(/,/g, '')));
    expect(batched).toBeLessThan((alone ?? 0) / 2);
  }
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
}

/** The Scores table: count per score label. */
async function scoresTable(page: Page): Promise<Record<string, number>> {
  const region = page.getByRole('region', { name: 'Scores' });
  const rows = region.getByRole('table').getByRole('row');
  const counts: Record<string, number> = {};
  for (const row of (await rows.all()).slice(1)) {
    const cells = await row.locator('th, td').allInnerTexts();
    counts[cells[0] ?? ''] = Number((cells[1] ?? '').replace(/,/g, ''));
  }
  return counts;
}

/** Counts per score from the scored dataset, as the Scores table labels them. */
function countsOf(scored: WeclonePair[]): Record<string, number> {
  const counts: Record<string, number> = { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, [NOT_SCORED]: 0 };
  for (const item of scored) {
    const label = item.images.length ? NOT_SCORED : String(item.score);
    counts[label] = (counts[label] ?? 0) + 1;
  }
  return counts;
}

/** Every field but `score`, in the file's order: equal text means the item came back unchanged. */
function withoutScore(item: WeclonePair): string {
  return JSON.stringify({ ...item, score: null });
}

for (const sequences of [1, 4]) {
  test(`a WeClone dataset scored with the preset at ${sequences} sequence${sequences === 1 ? '' : 's'} at once: the Scores table, the scored and cleaned datasets and dataset_info.json agree`, async ({
    page
  }) => {
    const pairs = wecloneDataset(PAIRS);
    await scoreDataset(page, pairs, `?engine=simulated&tokenDelayMs=0&sequences=${sequences}`);
    await waitForCompleted(page, PAIRS);
    await expect(page.getByTestId('count-skipped')).toHaveText('1');

    const scoredFile = await exportAs(page, 'WeClone scored dataset (sft-my.json)');
    expect(scoredFile.name).toBe('sft-my.json');
    const scored = JSON.parse(scoredFile.text) as WeclonePair[];
    expect(scoredFile.text).toBe(JSON.stringify(scored, null, 4) + '\n');
    expect(scored).toHaveLength(PAIRS);
    scored.forEach((item, i) => {
      expect(withoutScore(item)).toBe(withoutScore(pairs[i]!));
      expect(item.score).toBe(item.images.length ? 6 : item.score);
      if (!item.images.length) expect([1, 2, 3, 4, 5]).toContain(item.score);
    });
    const counts = countsOf(scored);
    expect(counts[NOT_SCORED]).toBe(1);
    expect(await scoresTable(page)).toEqual(counts);
    // The chart names the table it repeats, not where the table sits (beside it on a wide
    // window, below it on a narrow one).
    const scores = page.getByRole('region', { name: 'Scores' });
    await expect(scores.getByRole('img')).toHaveAccessibleName(
      'Bar chart of how many pairs got each score; the table Pairs per score gives the same figures.'
    );
    await expect(scores.getByRole('table', { name: 'Pairs per score' })).toBeVisible();

    // The default threshold keeps scores of 2 and up, and every pair with images.
    const keeps = (threshold: number) =>
      scored.filter((item) => item.images.length > 0 || item.score >= threshold);
    await expect(page.getByTestId('kept')).toContainText(`keeps ${keeps(2).length} pairs`);
    const cleaned = await exportAs(page, 'WeClone cleaned dataset (sft-my-cleaned.json)');
    expect(cleaned.name).toBe('sft-my-cleaned.json');
    expect(JSON.parse(cleaned.text)).toEqual(keeps(2));
    expect(cleaned.text).toBe(JSON.stringify(keeps(2), null, 2) + '\n');

    // A stricter threshold, kept with the job.
    await page.getByLabel('Keep score at least').fill('4');
    await page.getByLabel('Keep score at least').press('Enter');
    await page.getByLabel('Keep score at least').blur();
    await expect(page.getByTestId('kept')).toContainText(`keeps ${keeps(4).length} pairs`);
    await page.reload();
    await expect(page.getByLabel('Keep score at least')).toHaveValue('4');
    const stricter = await exportAs(page, 'WeClone cleaned dataset (sft-my-cleaned.json)');
    const kept = JSON.parse(stricter.text) as WeclonePair[];
    expect(kept).toEqual(keeps(4));
    for (const item of kept) {
      const input = pairs.find((pair) => pair.id === item.id)!;
      expect(withoutScore(item)).toBe(withoutScore(input));
    }

    const info = await exportAs(page, 'LLaMA-Factory dataset_info.json');
    expect(info.name).toBe('dataset_info.json');
    const entries = JSON.parse(info.text) as Record<
      string,
      { file_name: string; formatting?: string }
    >;
    const files = Object.values(entries).map((entry) => entry.file_name);
    expect(files).toContain('sft-my.json');
    expect(files).toContain('sft-my-cleaned.json');
    expect(entries['chat-sft']).toMatchObject({ file_name: 'sft-my.json', formatting: 'sharegpt' });
    expect(entries['chat-sft-cleaned']).toMatchObject({ file_name: 'sft-my-cleaned.json' });

    const sharegpt = await exportAs(page, 'ShareGPT (.json)');
    const alpaca = await exportAs(page, 'Alpaca (.json)');
    expect(sharegpt.name).toBe('sft-my-sharegpt.json');
    expect(files).toContain('sft-my-sharegpt.json');
    expect(files).toContain('sft-my-alpaca.json');
    const conversations = JSON.parse(sharegpt.text) as {
      messages: { role: string; content: string }[];
    }[];
    expect(conversations).toHaveLength(PAIRS - 1);
    expect(conversations[0]?.messages.at(-1)?.role).toBe('assistant');
    expect(JSON.parse(conversations[0]?.messages.at(-1)?.content ?? '')).toEqual({
      score: scored[0]?.score
    });
    expect(JSON.parse(alpaca.text)).toHaveLength(PAIRS - 1);

    // The list shows one score at a time, and an item its pair and score.
    await page.getByLabel('Show').selectOption({ label: 'Not scored' });
    const list = page.getByRole('list', { name: 'Results' });
    await expect(list.getByRole('listitem')).toHaveCount(1);
    await list.getByRole('button').first().click();
    await expect(page.getByRole('dialog')).toContainText('not scored');
    await expect(page.getByRole('dialog')).toContainText('The pair has images');
  });
}

test('answers that are not valid JSON are unparsed, counted under 0 with their reason, and Retry unparsed scores them', async ({
  page
}) => {
  const pairs = wecloneDataset(30, []);
  await scoreDataset(page, pairs, '?engine=simulated&tokenDelayMs=0&simBreakEvery=5');
  await waitForCompleted(page, 30);
  await expect(page.getByTestId('count-unparsed')).toHaveText('6');
  expect((await scoresTable(page))['0']).toBe(6);

  await page.getByLabel('Show').selectOption({ label: 'Score 0' });
  const list = page.getByRole('list', { name: 'Results' });
  await expect(list.getByRole('listitem')).toHaveCount(6);
  await list.getByRole('button').first().click();
  const dialog = page.getByRole('dialog');
  await expect(dialog.getByTestId('item-unparsed')).toContainText('The answer is not JSON');
  await expect(dialog.getByTestId('item-score')).toHaveText('Score: 0');
  await dialog.getByRole('button', { name: 'Close' }).click();

  await page.getByRole('button', { name: 'Retry unparsed', exact: true }).click();
  await waitForCompleted(page, 30);
  await expect(page.getByTestId('count-unparsed')).toHaveCount(0);
  expect((await scoresTable(page))['0']).toBe(0);
  await expect(page.getByRole('button', { name: 'Retry unparsed', exact: true })).toHaveCount(0);
  const scored = JSON.parse((await exportAs(page, 'WeClone scored dataset (sft-my.json)')).text);
  expect(scored.filter((item: WeclonePair) => item.score === 0)).toHaveLength(0);
});

/** Every value the job's progress bar shows, recorded in the page (from each page load on). */
async function recordProgress(page: Page) {
  await page.addInitScript(() => {
    const seen: number[] = [];
    (window as unknown as { __seen: number[] }).__seen = seen;
    new MutationObserver(() => {
      const bar = document.querySelector('[aria-label="Job progress"]');
      const value = Number(bar?.getAttribute('aria-valuenow') ?? 'NaN');
      if (Number.isFinite(value) && seen.at(-1) !== value) seen.push(value);
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['aria-valuenow'] });
  });
}

function seenProgress(page: Page): Promise<number[]> {
  return page.evaluate(() => (window as unknown as { __seen?: number[] }).__seen ?? []);
}

/**
 * Pairs of the batched tests: 12 prompts of 8. After the kill the prompts in flight run again
 * together and commit at about the same time; the prompts after them give the progress more
 * steps to watch.
 */
const BATCHED_PAIRS = 96;

for (const sequences of [1, 4]) {
  test(`8 pairs per prompt at ${sequences} sequence${sequences === 1 ? '' : 's'} at once: the same scores as 1, committed 8 at a time, through a reload and a GPU-process kill`, async () => {
    test.setTimeout(240_000);
    const profile = await newProfile();
    try {
      const context = await launch(profile, NO_GPU_CRASH_LIMIT);
      const page = context.pages()[0] ?? (await context.newPage());
      const pairs = wecloneDataset(BATCHED_PAIRS);

      await scoreDataset(page, pairs, '?engine=simulated&tokenDelayMs=0');
      await waitForCompleted(page, BATCHED_PAIRS);
      const alone = await exportAs(page, 'WeClone scored dataset (sft-my.json)');

      await recordProgress(page);
      // The batches from pairs 17 and 33 hold the run after a token for the reload and the kill.
      await scoreDataset(
        page,
        pairs,
        `?engine=simulated&tokenDelayMs=4&sequences=${sequences}&simHoldAt=16,32`,
        8
      );
      await waitForHeld(page, 16);
      const beforeReload = await seenProgress(page);
      await page.reload();
      await waitForHeld(page, 32);
      await killGpuProcess(profile);
      await waitForCompleted(page, BATCHED_PAIRS);
      await expect(page.getByTestId('run-log')).toContainText('engine restarted on a new device');
      await expect(page.getByTestId('run-log')).not.toContainText('no token for');
      const seen = [...beforeReload, ...(await seenProgress(page))];

      // Each batch's results land together: the count only ever moves by whole batches.
      expect(seen.length, `progress seen: ${seen.join(', ')}`).toBeGreaterThan(3);
      for (const value of seen) expect(value % 8, `progress ${value} of ${seen}`).toBe(0);
      const batched = await exportAs(page, 'WeClone scored dataset (sft-my.json)');
      expect(batched.text).toBe(alone.text);
      const ids = (JSON.parse(batched.text) as WeclonePair[]).map((item) => item.id);
      expect(ids).toEqual(pairs.map((pair) => pair.id));
      await expect(page.getByTestId('count-done')).toHaveText(String(BATCHED_PAIRS - 1));
      await context.close();
    } finally {
      await removeProfile(profile);
    }
  });
}
