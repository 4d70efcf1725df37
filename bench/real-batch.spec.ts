/**
 * The real-runtime part of `npm run bench`, and `npm run bench:gpu`: decode tokens per second
 * at 1, 2, 4 and 8 sequences at once on WebLLM's own runtime (bench/real-batch.ts), one
 * browser, the same model and prompts, with the ratio to one sequence.
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
import { createServer, type Server } from 'node:http';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../tests/e2e/browser';
import {
  KIT_MODEL_ID,
  prepareRealKit,
  startKitMirror,
  type KitMirror
} from '../tests/real/kit-mirror';
import type { RealBatchFigures, RealBatchOptions } from './real-batch';

const GPU = process.env.LOCALBATCH_BENCH_GPU === '1';
const BUILD = new URL('../.test-output/bench-real-build/', import.meta.url).pathname;
const SIZES = [8, 4, 2, 1];

let pageServer: Server | null = null;
let mirror: KitMirror | null = null;

test.afterAll(async () => {
  await mirror?.close();
  await new Promise<void>((resolve) =>
    pageServer ? pageServer.close(() => resolve()) : resolve()
  );
});

/** Serves the bench page and its script on 127.0.0.1. */
async function servePage(): Promise<string> {
  const html =
    '<!doctype html><meta charset="utf-8"><script type="module" src="/real-batch.js"></script>';
  const script = await readFile(join(BUILD, 'real-batch.js'));
  pageServer = createServer((req, res) => {
    if (req.url === '/') return res.writeHead(200, { 'Content-Type': 'text/html' }).end(html);
    if (req.url === '/real-batch.js')
      return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => pageServer!.listen(0, '127.0.0.1', resolve));
  const address = pageServer.address();
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
}

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
  const url = await servePage();
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
      : `on SwiftShader (${figures.adapter}): the kernels run on the CPU, so these ratios are not a GPU's`;
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
    await writeFile(
      testInfo.outputPath('real-batch.json'),
      JSON.stringify({ ...figures, ...json }, null, 2) + '\n'
    );
    const bench = GPU ? null : await benchJson();
    if (bench) {
      const merged = { ...(JSON.parse(await readFile(bench, 'utf8')) as object), ...json };
      await writeFile(bench, JSON.stringify(merged, null, 2) + '\n');
      console.log(`real_tokens_per_s_seq* added to ${bench}`);
    }
  } finally {
    await context.close();
  }
});
