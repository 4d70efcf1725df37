/**
 * The memory plan on Mesa's lavapipe (a software GPU: Chromium's WebGPU on OpenGL ES, on
 * ANGLE, on Mesa's Vulkan CPU driver, in compatibility mode), in a Chromium of the test's
 * own with those flags (scripts/webgpu-adapter.mjs). Its storage buffer bindings stop at
 * 128 MiB: the 7B's embedding (260 MiB) cannot be one, so the plan refuses it on the job
 * page, and a Start stops with the plan's words, before any model file is fetched. Needs Debian's
 * mesa-vulkan-drivers (`.ci/run` installs it).
 */
import { chromium, expect, test, type Browser } from '@playwright/test';
import { WEBGPU_ADAPTER_ARGS } from '../../scripts/webgpu-adapter.mjs';
import { BASE_CHROMIUM_ARGS, BASE_URL, CHROMIUM_PATH } from './browser';
import { startFakeMirror, type FakeMirror } from './fake-mirror';
import { batchFile, createJob, openPlanDetails, setMirror } from './helpers';

let browser: Browser | null = null;
let mirror: FakeMirror | null = null;
test.afterEach(async () => {
  await browser?.close();
  await mirror?.close().catch(() => undefined);
  browser = mirror = null;
});

test('on lavapipe the 7B is refused before any download, naming the binding limit; the adapter is a software GPU', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...BASE_CHROMIUM_ARGS, ...WEBGPU_ADAPTER_ARGS.lavapipe]
  });
  const page = await browser.newPage({ baseURL: BASE_URL });
  await page.goto('/');
  const panel = page.getByRole('region', { name: 'GPU and memory plan' });
  await openPlanDetails(page);
  const adapter = panel.getByTestId('gpu-adapter');
  await expect(
    adapter,
    "Chromium offers a lavapipe adapter (Debian's mesa-vulkan-drivers is installed)"
  ).toContainText('llvmpipe', { timeout: 30_000 });
  await expect(adapter).toContainText("— software GPU (Mesa's llvmpipe, on the CPU)");
  await expect(panel.getByTestId('gpu-f16')).toHaveText('no');

  // The binding limit refuses it before memory is weighed (the budget's sentence comes first).
  mirror = await startFakeMirror();
  await setMirror(page, mirror.url);
  mirror.clearLog();

  await createJob(page, batchFile(3, 'lavapipe.jsonl'), '');
  const refusal = page.getByTestId('plan-refusal');
  await expect(refusal).toHaveText(
    "Qwen2.5-7B-Instruct's largest weight tensor is 260 MiB (272,498,688 bytes), more than the 128 MiB maxStorageBufferBindingSize of this GPU. Qwen2.5-7B-Instruct cannot run on this GPU. Qwen2.5-1.5B-Instruct (q4f32_1) would fit."
  );
  await openPlanDetails(page);
  await expect(page.getByTestId('plan-reasons')).toContainText(
    "This is a software GPU (Mesa's llvmpipe, running on the CPU): it uses system RAM."
  );
  // Started anyway, the job stops with the plan's words before it asks for a file.
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'The job stopped.' })).toContainText(
    'more than the 128 MiB maxStorageBufferBindingSize of this GPU',
    { timeout: 30_000 }
  );
  // Nothing of the model was asked for: no weights, no config, no library.
  expect(mirror.requests.map((request) => request.path)).toEqual([]);
});
