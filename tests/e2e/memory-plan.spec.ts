/**
 * The GPU memory plan on SwiftShader: the panel, the preflight against a
 * simulated GPU of `simMemoryMB`, and the step-down after a lost device.
 */
import { expect, test, type Page } from '@playwright/test';
import { modelById } from '../../src/lib/plan/catalog';
import { createJob, exportAs, openPlanDetails, waitForCompleted } from './helpers';

const MiB = 1024 * 1024;
const F32_KV_PER_TOKEN = 114_688;
const model = modelById('Qwen2.5-7B-Instruct-q4f32_1-MLC')!;

function panel(page: Page) {
  return page.getByRole('region', { name: 'GPU and memory plan' });
}

/** Items with short prompts, and one whose prompt needs a 4096-token window. */
function planFile(count: number) {
  const lines = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ custom_id: `p-${i + 1}`, prompt: `Score pair ${i + 1}.`, max_tokens: 64 })
  );
  // About 3,300 estimated tokens (a third of a token per letter): with 64 answer tokens the job needs 4096.
  lines.push(JSON.stringify({ custom_id: 'long', prompt: 'word '.repeat(2000), max_tokens: 64 }));
  return {
    name: 'plan.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

test('on SwiftShader the panel picks q4f32_1 for want of shader-f16 and shows the exact KV bytes', async ({
  page
}) => {
  await page.goto('/');
  const gpu = panel(page);
  // One line until the user asks for the details.
  await expect(gpu.getByTestId('plan-summary')).toHaveText(
    /^Qwen2\.5-7B-Instruct \(4-bit, f32\) with a [\d,]+-token context needs [\d,]+ MiB( of the [\d,]+ MiB this GPU may use|; the GPU's size is unknown)\.$/
  );
  await expect(gpu.getByTestId('plan-reasons')).toBeHidden();
  await openPlanDetails(page);
  await expect(gpu.getByTestId('plan-reasons')).toBeVisible();
  await expect(gpu.getByTestId('gpu-f16')).toHaveText('no');
  await expect(gpu.getByTestId('gpu-adapter')).toHaveText(
    'google · swiftshader — software GPU (SwiftShader, on the CPU)'
  );
  await expect(gpu.getByTestId('plan-model')).toHaveText('Qwen2.5-7B-Instruct-q4f32_1-MLC');
  await expect(gpu.getByTestId('plan-reasons')).toContainText(
    'q4f32_1 chosen because this GPU lacks shader-f16'
  );
  const window = Number((await gpu.getByTestId('plan-window').textContent())!.replace(/\D/g, ''));
  expect(window % 1024).toBe(0);
  expect(window).toBeGreaterThanOrEqual(1024);
  // The loop's paged KV cache holds a window for each sequence at once (the plan's choice
  // where the budget is known) and one 16-token page more.
  const sequences = Number(await gpu.getByTestId('plan-sequences').textContent());
  const tokens = sequences * window + 16;
  await expect(gpu.getByTestId('plan-kv')).toHaveAttribute(
    'data-bytes',
    String(tokens * F32_KV_PER_TOKEN)
  );
  await expect(gpu.getByTestId('plan-kv')).toContainText(
    (tokens * F32_KV_PER_TOKEN).toLocaleString('en')
  );

  // The same panel is in the settings, with its details open there.
  await page.getByRole('link', { name: 'Settings' }).click();
  await expect(panel(page).getByTestId('plan-model')).toHaveText('Qwen2.5-7B-Instruct-q4f32_1-MLC');
  await expect(panel(page).getByLabel('GPU memory (MiB)')).toBeVisible();
});

test('with simMemoryMB below the plan, Check this GPU says it does not fit, with numbers, and Start is blocked', async ({
  page
}) => {
  await createJob(page, planFile(5), '?engine=simulated&tokenDelayMs=0&simMemoryMB=3000');
  const gpu = panel(page);
  await expect(gpu.getByTestId('plan-window')).toHaveText('4,096 tokens');
  await gpu.getByRole('button', { name: 'Check this GPU' }).click();
  const result = gpu.getByTestId('preflight-result');
  await expect(result).toHaveAttribute('data-fits', 'false');
  await expect(result).toContainText('Does not fit: this GPU refused the model weights after');
  const total = Math.round(
    (model.weightsBytes + model.activationBytes + (4096 + 16) * F32_KV_PER_TOKEN) / MiB
  );
  await expect(result).toContainText(`of the ${total.toLocaleString('en')} MiB the plan needs`);
  await expect(page.getByRole('button', { name: 'Start', exact: true })).toBeDisabled();
  await expect(page.getByTestId('blocked')).toContainText('the memory plan does not fit this GPU');
  await expect(page.getByRole('progressbar', { name: 'Job progress' })).toHaveAttribute(
    'aria-valuenow',
    '0'
  );
});

test('with simMemoryMB that fits 2048 tokens but not 4096, the job steps down by itself and completes', async ({
  page
}) => {
  const fixed = model.weightsBytes + model.activationBytes;
  const at2048 = fixed + (2048 + 16) * F32_KV_PER_TOKEN;
  const at4096 = fixed + (4096 + 16) * F32_KV_PER_TOKEN;
  const capMB = Math.ceil((at2048 + 64 * MiB) / MiB);
  expect(capMB * MiB).toBeLessThan(at4096);

  const count = 12;
  await createJob(page, planFile(count), `?engine=simulated&tokenDelayMs=0&simMemoryMB=${capMB}`);
  await expect(panel(page).getByTestId('plan-window')).toHaveText('4,096 tokens');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, count + 1);

  await expect(page.getByTestId('run-log')).toContainText(
    'device lost (destroyed) at item 1; context 4096 → 2048'
  );
  await expect(panel(page).getByTestId('plan-window')).toHaveText('2,048 tokens');
  await expect(page.getByTestId('count-done')).toHaveText(String(count));
  await expect(page.getByTestId('count-failed')).toHaveText('1');

  const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
  const records = jsonl.text
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line));
  expect(records.map((r) => r.custom_id)).toEqual([
    ...Array.from({ length: count }, (_, i) => `p-${i + 1}`),
    'long'
  ]);
  expect(records.slice(0, count).every((r) => r.response.status_code === 200)).toBe(true);
  // The prompt that no longer fits the smaller window is failed with the reason, never sent.
  expect(records[count].error.code).toBe('context-exceeded');
  expect(records[count].error.message).toContain("the plan's context of 2048 tokens");
});

test("once the model's tokenizer has counted the prompts, a window too small for them grows before they run", async ({
  page
}) => {
  // Punctuation: a third of a token each by the estimate, one each by the (simulated) tokenizer.
  const lines = [
    JSON.stringify({ custom_id: 'short', prompt: 'Score pair 1.', max_tokens: 64 }),
    JSON.stringify({ custom_id: 'dense', prompt: '!'.repeat(3000), max_tokens: 64 })
  ];
  await createJob(
    page,
    { name: 'dense.jsonl', mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n')) },
    '?engine=simulated&tokenDelayMs=0'
  );
  await expect(panel(page).getByTestId('plan-window')).toHaveText('2,048 tokens');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 2);
  await expect(page.getByTestId('run-log')).toContainText(
    /Counted the prompts with the model's tokenizer: the longest needs 3,0\d\d tokens \(estimated 1,0\d\d\); context 2048 → 3072/
  );
  await expect(panel(page).getByTestId('plan-window')).toHaveText('3,072 tokens');
  await expect(page.getByTestId('count-done')).toHaveText('2');
  await expect(page.getByTestId('count-failed')).toHaveText('0');
});

test('the plan is shown for the engines that run on this GPU, never for a server, even before its address is filled in', async ({
  page
}) => {
  await page.goto('/');
  await expect(panel(page)).toBeVisible();
  await page.getByLabel('Engine').selectOption({ label: 'OpenAI-compatible server' });
  // Chosen, with no URL or model yet: still a server, so no GPU plan.
  await expect(page.getByLabel('Server URL')).toHaveValue('');
  await expect(panel(page)).toHaveCount(0);
  await page.getByLabel('Server URL').fill('http://127.0.0.1:9');
  await expect(panel(page)).toHaveCount(0);
  await page.getByLabel('Engine').selectOption({ index: 0 });
  await expect(panel(page)).toBeVisible();
});

test("one reading of the GPU's memory everywhere: a simulated job's page gives the MiB the jobs page gives", async ({
  page
}) => {
  const small = 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC';
  await page.goto(`/?model=${small}`);
  const home = await panel(page).getByTestId('plan-summary').textContent();
  const mib = /of the ([\d,]+ MiB) this GPU may use/.exec(home ?? '')?.[1];
  expect(mib, home ?? '').toBeDefined();
  await createJob(page, planFile(3), `?engine=simulated&model=${small}`);
  await expect(panel(page).getByTestId('plan-summary')).toContainText(
    `; this GPU may use ${mib}, which the simulated engine does not hold it to.`
  );
  await openPlanDetails(page);
  await expect(panel(page)).toContainText(`${mib}, not applied (simulated engine)`);
});
