/**
 * Sequences at once on the new-job form: saved with the job, and the plan the job page shows
 * sizes a KV cache for each (the batched path itself runs on the real runtime only:
 * tests/real/real.spec.ts).
 */
import { expect, test, type Page } from '@playwright/test';
import { setGpuMemory } from './helpers';

const F32_KV_PER_TOKEN = 114_688;

function promptFile() {
  const lines = ['Hi', 'Yes', 'No'].map((prompt, i) =>
    JSON.stringify({ custom_id: `s-${i + 1}`, prompt, max_tokens: 64 })
  );
  return {
    name: 'seq.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

function panel(page: Page) {
  return page.getByRole('region', { name: 'GPU and memory plan' });
}

async function createWith(page: Page, sequences: string) {
  await page.goto('/');
  await page.getByLabel('Prompt file').setInputFiles(promptFile());
  await page.getByLabel('Sequences at once').fill(sequences);
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
}

test('Sequences at once: the job keeps the number asked, and its plan holds a KV cache for each', async ({
  page
}) => {
  await page.goto('/');
  await setGpuMemory(page, 16_000);
  await createWith(page, '4');
  const gpu = panel(page);
  await expect(gpu.getByTestId('plan-sequences')).toHaveText('4');
  const window = Number((await gpu.getByTestId('plan-window').textContent())!.replace(/\D/g, ''));
  // One cache: 4 windows and a spare page (WebLLM's own is freed when the model loads).
  await expect(gpu.getByTestId('plan-kv')).toHaveAttribute(
    'data-bytes',
    String((4 * window + 16) * F32_KV_PER_TOKEN)
  );
  await expect(gpu.getByTestId('plan-reasons')).toContainText(
    '4 sequences at once, as the job asks.'
  );
});

test('left empty, the plan chooses: 8 sequences at once with 16,000 MiB said', async ({ page }) => {
  await page.goto('/');
  await setGpuMemory(page, 16_000);
  await createWith(page, '');
  await expect(panel(page).getByTestId('plan-sequences')).toHaveText('8');
  await expect(panel(page).getByTestId('plan-reasons')).toContainText(
    '8 sequences at once: the most of 8, 4, 2 whose KV caches fit with the same context window'
  );
});

test('a number outside 1 to 16 is refused on the form, with the reason', async ({ page }) => {
  await page.goto('/');
  await page.getByLabel('Prompt file').setInputFiles(promptFile());
  const field = page.getByLabel('Sequences at once');
  await field.fill('17');
  await expect(field).toHaveAttribute('aria-invalid', 'true');
  await expect(
    page.getByText('Sequences at once must be a whole number from 1 to 16.')
  ).toBeVisible();
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toBeDisabled();
  await field.fill('16');
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toBeEnabled();
});
