/**
 * A job's results by keyboard: the list is one Tab stop (100,000 rows must not
 * be 100,000 stops); arrows, Page Up/Down, Home and End move; Enter opens.
 */
import { expect, test, type Page } from '@playwright/test';
import { batchFile, createJob, waitForCompleted } from './helpers';
import { wecloneDataset, wecloneFile } from '../fixtures/weclone';

function focusedRow(page: Page) {
  return page.evaluate(() => document.activeElement?.getAttribute('data-row') ?? null);
}

test("a job's results list is one Tab stop that the arrow keys, Page keys, Home and End move through", async ({
  page
}) => {
  await createJob(page, batchFile(40, 'keys.jsonl'));
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 40);

  const results = page.getByRole('list', { name: 'Results' });
  await expect(results.locator('[data-row][tabindex="0"]')).toHaveCount(1);
  await results.locator('[data-row="0"]').focus();
  await page.keyboard.press('End');
  await expect.poll(() => focusedRow(page)).toBe('39');
  await page.keyboard.press('ArrowUp');
  await expect.poll(() => focusedRow(page)).toBe('38');
  await page.keyboard.press('Home');
  await expect.poll(() => focusedRow(page)).toBe('0');
  await page.keyboard.press('PageDown');
  await expect.poll(() => focusedRow(page)).toBe('12');
  await expect(results.locator('[data-row][tabindex="0"]')).toHaveAttribute('data-row', '12');

  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog');
  await expect(dialog).toContainText('q-13');
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect.poll(() => focusedRow(page)).toBe('12');

  // Tab leaves the list at once, and Shift+Tab comes back to the same row.
  await page.keyboard.press('Tab');
  expect(await focusedRow(page)).toBeNull();
  await page.keyboard.press('Shift+Tab');
  await expect.poll(() => focusedRow(page)).toBe('12');
});

test("the job page's buttons are one row, evenly spaced, their tops in line, at 1280 px and at a phone's width", async ({
  page
}) => {
  // A job held after a token, so Pause is there beside Export and Share….
  await createJob(page, batchFile(12, 'row.jsonl'), '?engine=simulated&tokenDelayMs=5&simHoldAt=3');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Pause', exact: true })).toBeVisible();
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    const boxes: { x: number; y: number; width: number; height: number }[] = [];
    for (const name of ['Pause', 'Export', 'Share…']) {
      const box = await page.getByRole('button', { name, exact: true }).boundingBox();
      expect(box, name).not.toBeNull();
      boxes.push(box!);
    }
    for (const box of boxes)
      expect(Math.abs(box.y - boxes[0]!.y), `at ${width} px`).toBeLessThan(1);
    const gaps = boxes.slice(1).map((box, i) => box.x - (boxes[i]!.x + boxes[i]!.width));
    // 0.5rem between each: Export and Share… no longer touch.
    for (const gap of gaps)
      expect(Math.round(gap), `gaps ${gaps.join(', ')} at ${width} px`).toBe(8);
  }
});

test("at a phone's width (390 px) no page is wider than the screen: the jobs page with a dataset's preview, a scored job, Models, Settings, Results", async ({
  page
}) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const fits = async (where: string) =>
    expect(
      await page.evaluate(() => document.documentElement.scrollWidth),
      `${where} is wider than 390 px`
    ).toBeLessThanOrEqual(390);
  await page.goto('/?engine=simulated&tokenDelayMs=1');
  await fits('the jobs page');
  await page.getByLabel('Prompt file').setInputFiles(wecloneFile(wecloneDataset(8)));
  await page.getByLabel('Preset').selectOption({ label: 'Score chat pairs (WeClone)' });
  await fits("the jobs page with a dataset's preview");
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 8);
  await fits('a scored job with its results');
  for (const path of ['/models', '/settings', '/results']) {
    await page.goto(path);
    await expect(page.getByRole('heading', { level: 1 })).toBeVisible();
    await fits(path);
  }
});
