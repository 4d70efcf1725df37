import { expect, test, type Page } from '@playwright/test';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

function file(name: string, text: string, mimeType = 'text/plain') {
  return { name, mimeType, buffer: Buffer.from(text) };
}

test('the import preview lists every problem with its line; Create job uses the valid lines', async ({
  page
}) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  const lines = [
    '{"custom_id":"a","prompt":"Say hi"}',
    '{"custom_id":"b","prompt":',
    '{"custom_id":"c"}',
    '{"custom_id":"a","prompt":"Again"}',
    '{"custom_id":"d","messages":[{"role":"user","content":"Hello"}]}'
  ];
  await page.getByLabel('Prompt file').setInputFiles(file('mixed.jsonl', lines.join('\n')));
  const problems = page.getByRole('alert').filter({ hasText: 'Problems' });
  await expect(problems).toContainText('mixed.jsonl line 2');
  await expect(problems).toContainText('mixed.jsonl line 3');
  await expect(problems).toContainText('mixed.jsonl line 4');
  await expect(problems.getByRole('listitem')).toHaveCount(3);
  await expect(page.getByTestId('import-summary')).toHaveText('2 valid prompts, 3 problems.');

  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\//);
  await expect(page.getByRole('progressbar', { name: 'Job progress' })).toHaveAttribute(
    'aria-valuemax',
    '2'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Completed');
});

test('a file-level problem blocks the job and Cancel leaves every stored job untouched', async ({
  page
}) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  await page.getByLabel('Prompt file').setInputFiles(file('good.txt', 'one\ntwo\nthree\n'));
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\//);
  await page.goto('/');
  const jobs = page.getByRole('region', { name: 'Your jobs' }).getByRole('listitem');
  await expect(jobs).toHaveCount(1);

  await page.getByLabel('Prompt file').setInputFiles(file('empty.jsonl', '   \n\n'));
  await expect(page.getByRole('alert').filter({ hasText: 'Problems' })).toContainText(
    'empty.jsonl'
  );
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toBeDisabled();
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toHaveCount(0);
  await page.reload();
  await expect(jobs).toHaveCount(1);
});

/**
 * How long the page's thread took to answer its first input: from the input to the end of
 * its handlers (Event Timing's first-input entry: the wait for a free main thread plus the
 * handlers). The paint after it is left out: with software rendering (SwiftShader) on a busy
 * 2-core machine it takes what the compositor takes, whatever the page does.
 */
function firstInputMs(page: Page) {
  // The entry is queued once the frame after the input is presented, which a busy machine
  // delays: wait for it (buffered, so one already queued counts), for up to 10 s.
  return page.evaluate(
    () =>
      new Promise<number | null>((resolve) => {
        const done = (entry: PerformanceEntry | undefined) => {
          if (!entry) return;
          const first = entry as PerformanceEventTiming;
          observer.disconnect();
          resolve(first.processingEnd - first.startTime);
        };
        const observer = new PerformanceObserver((list) => done(list.getEntries()[0]));
        observer.observe({ type: 'first-input', buffered: true });
        setTimeout(() => {
          observer.disconnect();
          resolve(null);
        }, 10_000);
      })
  );
}

// @alone: it times the page's answer to a click, so `npm test` runs it with no other browser
// test beside it (scripts/test.mjs): one beside it on a 2-core machine took the CPU the page needed.
test(
  'while a 100,000-line file is read, checked and stored, the page answers a click at once, and Cancel leaves nothing',
  {
    tag: '@alone'
  },
  async ({ page }, testInfo) => {
    test.setTimeout(120_000);
    // Prompts of a realistic length (about 250 characters, 26 MB in all): reading, checking
    // and storing then take long enough for a click and a Cancel to land while they run.
    const context =
      'Context: the customer wrote in about an order that arrived late and partly damaged; they ask for a refund of the damaged part, a discount on the next order, and an explanation of the delay.';
    const lines: string[] = [];
    for (let i = 1; i <= 100_000; i++) {
      lines.push(
        JSON.stringify({
          custom_id: `q-${i}`,
          prompt: `Question ${i}: what is ${i} + ${i}? Please answer briefly. ${context}`
        })
      );
    }
    await page.goto('/?engine=simulated&tokenDelayMs=0');
    await expect(page.getByText('No jobs yet.')).toBeVisible();
    const details = page
      .getByRole('region', { name: 'GPU and memory plan' })
      .getByRole('button', { name: /Details: this GPU/ });
    await expect(details).toBeVisible();

    // Chosen from the disk, as a user does: a buffer would be handed over through the page's
    // own thread (a test tool's cost that no user pays).
    const path = testInfo.outputPath('big.jsonl');
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, lines.join('\n'));
    // When the click was made (the input event's own time) and when the import's progress
    // line went away: set up before the file is chosen, so nothing stands between the
    // import's start and the click.
    await page.evaluate(() => {
      const seen = window as unknown as { clickAt?: number; importEndedAt?: number };
      addEventListener('click', (event) => (seen.clickAt ??= event.timeStamp), { capture: true });
      let shown = false;
      new MutationObserver(() => {
        const going = !!document.querySelector('[data-testid="import-progress"]');
        if (going) shown = true;
        else if (shown) seen.importEndedAt ??= performance.now();
      }).observe(document.body, { childList: true, subtree: true });
    });
    // The click goes straight to the button's place, with none of the tool's waiting for
    // frames first: the import (about a second) must still be going when it lands.
    await page.getByLabel('Prompt file').setInputFiles(path);
    await expect(page.getByTestId('import-progress')).toBeVisible();
    const at = await details.evaluate((button) => {
      button.scrollIntoView({ block: 'center' });
      const box = button.getBoundingClientRect();
      return { x: box.x + box.width / 2, y: box.y + box.height / 2 };
    });
    await page.mouse.click(at.x, at.y);
    await expect(details).toHaveAttribute('aria-expanded', 'true');
    // The click was made while the import was still going.
    const times = await page.evaluate(() => {
      const seen = window as unknown as { clickAt?: number; importEndedAt?: number };
      return { clickAt: seen.clickAt ?? null, importEndedAt: seen.importEndedAt ?? null };
    });
    expect(times.clickAt).not.toBeNull();
    expect(times.clickAt!).toBeLessThan(times.importEndedAt ?? Infinity);
    const answered = await firstInputMs(page);
    expect(answered).not.toBeNull();
    expect(answered!).toBeLessThan(100);

    await expect(page.getByTestId('import-summary')).toHaveText('100,000 valid prompts.', {
      timeout: 60_000
    });
    // Storing, then Cancel: the half-stored job is removed and never listed.
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await expect(page.getByTestId('import-progress')).toContainText('Storing the job');
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
    await expect(page.getByTestId('import-progress')).toHaveCount(0);
    const databases = await page.evaluate(async () =>
      (await indexedDB.databases())
        .map((db) => db.name ?? '')
        .filter((name) => name.startsWith('localbatch-job-'))
    );
    expect(databases).toEqual([]);
    await page.reload();
    await expect(page.getByText('No jobs yet.')).toBeVisible();
  }
);
