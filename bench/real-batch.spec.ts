/**
 * The real-runtime part of `npm run bench`, and `npm run bench:gpu`: decode tokens per second
 * at 1, 2, 4 and 8 sequences at once on WebLLM's own runtime (bench/real-batch.ts), one
 * browser, the same model and prompts, with the ratio to one sequence; then the step loop's
 * batch of one against WebLLM's own chat.completions on the same requests (tokens identical,
 * and the ratio of their decode speeds, `real_batch_of_one_ratio`).
 *
 * - `npm run bench` (after bench.spec.ts): the test kit's Qwen2 model on SwiftShader, where
 *   LOCALBATCH_TEST_LIBS names the model libraries (tests/real/kit-mirror.ts); its figures join
 *   bench.json as real_tokens_per_s_seq1 … _seq8. SwiftShader runs the kernels on the CPU, so
 *   its ratios are not a GPU's: the table says so.
 * - `npm run bench:gpu` (LOCALBATCH_BENCH_GPU=1): the browser's real GPU, the model from
 *   WebLLM's hosts (or LOCALBATCH_MODEL_MIRROR), kept in a profile under .test-output so it
 *   downloads once; LOCALBATCH_BENCH_MODEL picks the model, CHROME_PATH the browser.
 */
import { chromium, expect, test } from '@playwright/test';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../tests/e2e/browser';
import {
  KIT_MODEL_ID,
  prepareRealKit,
  startKitMirror,
  type KitMirror
} from '../tests/real/kit-mirror';
import {
  serveRuntimePage,
  type ChatOptions,
  type RuntimeAnswer,
  type RuntimePage
} from '../tests/real/runtime-page';
import type { GenerateRequest } from '../src/lib/shared/request';
import type { BatchOfOneFigures, RealBatchFigures, RealBatchOptions } from './real-batch';

const GPU = process.env.LOCALBATCH_BENCH_GPU === '1';
const SIZES = [8, 4, 2, 1];
/** The batch of one's prompts: a few words each, short answers on a software GPU. */
const BATCH_OF_ONE_KIT = ['Hi', 'Name a colour.'];
const BATCH_OF_ONE_GPU = [
  'Name three rivers.',
  'What is a batch job?',
  'Say hello in French.',
  'Count to five.'
];

let runtimePage: RuntimePage | null = null;
let mirror: KitMirror | null = null;

test.afterAll(async () => {
  await mirror?.close();
  await runtimePage?.close();
});

/** bench.json of the run before this one in the same `npm run bench`, if there is one. */
async function benchJson(): Promise<string | null> {
  const root = new URL('../.test-output/bench/', import.meta.url).pathname;
  const dirs = await readdir(root).catch(() => [] as string[]);
  for (const dir of dirs) {
    const file = join(root, dir, 'bench.json');
    if (
      await readFile(file).then(
        () => true,
        () => false
      )
    )
      return file;
  }
  return null;
}

test('real runtime: decode tokens per second at 1, 2, 4 and 8 sequences at once', async ({
  browserName
}, testInfo) => {
  expect(browserName).toBe('chromium');
  let options: RealBatchOptions;
  if (GPU) {
    options = {
      modelId: process.env.LOCALBATCH_BENCH_MODEL ?? 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      mirror: process.env.LOCALBATCH_MODEL_MIRROR ?? null,
      steps: 16,
      sizes: SIZES
    };
  } else {
    const kit = prepareRealKit();
    test.skip(kit.skipped !== undefined, `the real-runtime bench: ${kit.skipped}`);
    mirror = await startKitMirror(kit.folder);
    options = { modelId: KIT_MODEL_ID, mirror: mirror.url, steps: 2, sizes: SIZES };
  }
  testInfo.setTimeout(GPU ? 1_800_000 : 3_600_000);
  runtimePage = await serveRuntimePage();
  const url = runtimePage.url;
  const profile = new URL(
    `../.test-output/${GPU ? 'gpu-profile' : 'bench-real-profile'}`,
    import.meta.url
  ).pathname;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: GPU ? (process.env.CHROME_PATH ?? CHROMIUM_PATH) : CHROMIUM_PATH,
    headless: GPU ? process.env.LOCALBATCH_HEADLESS === '1' : true,
    args: GPU ? ['--enable-unsafe-webgpu', '--ignore-gpu-blocklist'] : CHROMIUM_ARGS
  });
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.text().startsWith('[bench-real]')) console.log(message.text());
    });
    await page.goto(url);
    await page.waitForFunction(() => 'realBatch' in globalThis);
    const figures = await page.evaluate(
      (o) =>
        (
          globalThis as unknown as { realBatch(o: RealBatchOptions): Promise<RealBatchFigures> }
        ).realBatch(o),
      options
    );
    const one = figures.sizes.find((size) => size.sequences === 1)?.tokensPerSecond ?? 0;
    expect(one).toBeGreaterThan(0);
    const json: Record<string, number> = {};
    for (const size of figures.sizes)
      json[`real_tokens_per_s_seq${size.sequences}`] = Number(size.tokensPerSecond.toPrecision(4));
    const where = GPU
      ? `on ${figures.adapter || 'this GPU'}`
      : `on a software GPU (${figures.adapter}): the kernels run on the CPU, so these ratios are not a GPU's`;
    console.log(
      [
        `Batched decoding, ${figures.modelId}, ${where}; decode steps only, ${options.steps} at each size:`,
        'sequences  tokens/s   ratio to 1  ms a step',
        ...[...figures.sizes]
          .sort((a, b) => a.sequences - b.sequences)
          .map(
            (size) =>
              `${String(size.sequences).padEnd(11)}${size.tokensPerSecond.toPrecision(3).padEnd(11)}${(size.tokensPerSecond / one).toFixed(2).padEnd(12)}${(size.ms / Math.max(1, size.steps)).toFixed(0)}`
          ),
        JSON.stringify(json)
      ].join('\n')
    );

    // The batch of one against WebLLM's own chat.completions: the same requests, one model.
    const requests = (GPU ? BATCH_OF_ONE_GPU : BATCH_OF_ONE_KIT).map(
      (content, i): GenerateRequest => ({
        messages: [{ role: 'user', content }],
        temperature: 0,
        top_p: 1,
        max_tokens: GPU ? 64 : 6 + i,
        seed: 1
      })
    );
    const alone = await page.evaluate(
      (o) =>
        (
          globalThis as unknown as { batchOfOne(o: ChatOptions): Promise<BatchOfOneFigures> }
        ).batchOfOne(o),
      { modelId: options.modelId, mirror: options.mirror, requests }
    );
    const same = (a: RuntimeAnswer, b: RuntimeAnswer) =>
      a.text === b.text &&
      a.finish === b.finish &&
      a.prompt === b.prompt &&
      a.completion === b.completion;
    const identical = alone.webllm.every(
      (answer, i) => alone.loop[i] && same(answer, alone.loop[i]!)
    );
    json.real_batch_of_one_ratio = Number(alone.ratio.toPrecision(4));
    console.log(
      [
        `The batch of one against WebLLM's own chat.completions, ${requests.length} requests on one loaded model:`,
        `tokens identical: ${identical ? 'yes' : 'NO'}; decode tokens/s, the loop over chat.completions: ${alone.ratio.toFixed(3)} (target >= 0.97: ${alone.ratio >= 0.97 ? 'met' : 'MISSED'})`,
        JSON.stringify({ real_batch_of_one_ratio: json.real_batch_of_one_ratio })
      ].join('\n')
    );
    expect(identical, 'the batch of one gives WebLLM’s answers token for token').toBe(true);
    await writeFile(
      testInfo.outputPath('real-batch.json'),
      JSON.stringify({ ...figures, batchOfOne: alone, ...json }, null, 2) + '\n'
    );
    const bench = GPU ? null : await benchJson();
    if (bench) {
      const merged = { ...(JSON.parse(await readFile(bench, 'utf8')) as object), ...json };
      await writeFile(bench, JSON.stringify(merged, null, 2) + '\n');
      console.log(`real_tokens_per_s_seq* and real_batch_of_one_ratio added to ${bench}`);
    }
  } finally {
    await context.close();
  }
});
