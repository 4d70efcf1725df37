/**
 * A job's results by keyboard: the list is one Tab stop (100,000 rows must not
 * be 100,000 stops); arrows, Page Up/Down, Home and End move; Enter opens.
 */
import { expect, test, type Page } from '@playwright/test';
import { batchFile, createJob, waitForCompleted } from './helpers';

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
