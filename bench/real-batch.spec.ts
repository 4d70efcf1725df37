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
import { chromium, expect, test, type BrowserContext } from '@playwright/test';
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
  type RuntimePage,
  type SharedAnswer
} from '../tests/real/runtime-page';
import { PREFIX_QUESTIONS, PREFIX_SYSTEM } from '../tests/real/prefix-prompts';
import { RUBRICS, scoreSchema, scoringPrompt } from '../src/lib/presets/score-pairs';
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

/** The model the bench runs (the kit's on a software GPU, once its mirror is up), or null to skip. */
async function benchModel(): Promise<{ modelId: string; mirror: string | null } | null> {
  if (GPU)
    return {
      modelId: process.env.LOCALBATCH_BENCH_MODEL ?? 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      mirror: process.env.LOCALBATCH_MODEL_MIRROR ?? null
    };
  const kit = prepareRealKit();
  if (kit.skipped !== undefined) return null;
  mirror ??= await startKitMirror(kit.folder);
  return { modelId: KIT_MODEL_ID, mirror: mirror.url };
}

/** The browser the bench runs in (one profile, so the model downloads once), on the runtime page. */
async function benchBrowser(): Promise<BrowserContext> {
  runtimePage ??= await serveRuntimePage();
  const profile = new URL(
    `../.test-output/${GPU ? 'gpu-profile' : 'bench-real-profile'}`,
    import.meta.url
  ).pathname;
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: GPU ? (process.env.CHROME_PATH ?? CHROMIUM_PATH) : CHROMIUM_PATH,
    headless: GPU ? process.env.LOCALBATCH_HEADLESS === '1' : true,
    args: GPU ? ['--enable-unsafe-webgpu', '--ignore-gpu-blocklist'] : CHROMIUM_ARGS
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.text().startsWith('[bench-real]')) console.log(message.text());
  });
  await page.goto(runtimePage.url);
  return context;
}

test('real runtime: decode tokens per second at 1, 2, 4 and 8 sequences at once', async ({
  browserName
}, testInfo) => {
  expect(browserName).toBe('chromium');
  const model = await benchModel();
  test.skip(model === null, 'the real-runtime bench: no model library (LOCALBATCH_TEST_LIBS)');
  const options: RealBatchOptions = { ...model!, steps: GPU ? 16 : 2, sizes: SIZES };
  testInfo.setTimeout(GPU ? 1_800_000 : 3_600_000);
  const context = await benchBrowser();
  try {
    const page = context.pages()[0]!;
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

/**
 * Prefix sharing, on and off, the same prompts in one browser: WeClone-shaped scoring prompts
 * (the preset's full rubric, one pair each) on a GPU, 16 of them at 1 and 4 sequences at once;
 * on a software GPU, where a prompt token costs about a second and a half to read, 3 prompts of
 * a 100+-token system prompt at 1 and 2. Prompt tokens read per item and items per second,
 * shared over unshared (`real_prefill_tokens_per_item_shared`, `…_unshared`,
 * `real_items_per_s_shared_ratio`, at 1 sequence; `_seqN` at N).
 */
test('real runtime: prefix sharing on and off, the same prompts', async ({
  browserName
}, testInfo) => {
  expect(browserName).toBe('chromium');
  const model = await benchModel();
  test.skip(model === null, 'the real-runtime bench: no model library (LOCALBATCH_TEST_LIBS)');
  testInfo.setTimeout(GPU ? 3_600_000 : 7_200_000);
  const requests = GPU ? wecloneShaped(16) : systemShaped();
  const sizes = GPU ? [1, 4] : [1, 2];
  const context = await benchBrowser();
  try {
    const page = context.pages()[0]!;
    await page.waitForFunction(() => 'sharedPrefix' in globalThis);
    const run = (sequences: number, share: boolean) =>
      page.evaluate(
        (o) =>
          (
            globalThis as unknown as {
              sharedPrefix(
                o: ChatOptions & { sequences: number; share: boolean }
              ): Promise<{ prefixTokens: number; answers: SharedAnswer[]; seconds: number }>;
            }
          ).sharedPrefix(o),
        { ...model!, requests, sequences, share }
      );
    const json: Record<string, number> = {};
    const rows: string[] = [];
    for (const sequences of sizes) {
      const unshared = await run(sequences, false);
      const shared = await run(sequences, true);
      const same = (a: SharedAnswer, b: SharedAnswer | undefined) =>
        b !== undefined &&
        a.text === b.text &&
        a.prompt === b.prompt &&
        a.completion === b.completion;
      expect(
        unshared.answers.every((answer, i) => same(answer, shared.answers[i])),
        'the answers with sharing on are those with it off, token for token'
      ).toBe(true);
      const readPerItem = (r: typeof shared) =>
        r.answers.reduce((sum, a) => sum + a.prompt - a.cached, 0) / r.answers.length;
      const suffix = sequences === 1 ? '' : `_seq${sequences}`;
      json[`real_prefill_tokens_per_item_shared${suffix}`] = Number(readPerItem(shared).toFixed(1));
      json[`real_prefill_tokens_per_item_unshared${suffix}`] = Number(
        readPerItem(unshared).toFixed(1)
      );
      json[`real_items_per_s_shared_ratio${suffix}`] = Number(
        (unshared.seconds / shared.seconds).toPrecision(3)
      );
      rows.push(
        `${String(sequences).padEnd(11)}${String(shared.prefixTokens).padEnd(8)}${readPerItem(unshared).toFixed(1).padEnd(11)}${readPerItem(shared).toFixed(1).padEnd(11)}${unshared.seconds.toFixed(1).padEnd(12)}${shared.seconds.toFixed(1).padEnd(12)}${(unshared.seconds / shared.seconds).toFixed(2)}`
      );
    }
    console.log(
      [
        `Prefix sharing, ${model!.modelId}, ${requests.length} prompts, answers identical on and off:`,
        'sequences  prefix  read/item  read/item  s off       s on        items/s on/off',
        '                   off        on',
        ...rows,
        JSON.stringify(json)
      ].join('\n')
    );
    await writeFile(testInfo.outputPath('prefix.json'), JSON.stringify(json, null, 2) + '\n');
    const bench = GPU ? null : await benchJson();
    if (bench) {
      const merged = { ...(JSON.parse(await readFile(bench, 'utf8')) as object), ...json };
      await writeFile(bench, JSON.stringify(merged, null, 2) + '\n');
    }
  } finally {
    await context.close();
  }
});

/** WeClone-shaped requests: the preset's full English rubric over one pair each, its schema. */
function wecloneShaped(count: number): GenerateRequest[] {
  return Array.from({ length: count }, (_, i) => ({
    messages: [
      {
        role: 'user',
        content: scoringPrompt({ rubric: RUBRICS.en, language: 'en' }, [
          {
            id: String(i),
            turns: [
              { role: 'user', content: `Are we still on for ${i + 1} o'clock?` },
              { role: 'assistant', content: i % 2 ? 'Yes, see you there.' : 'Sorry, running late.' }
            ]
          }
        ])
      }
    ],
    temperature: 0,
    top_p: 1,
    max_tokens: 16,
    seed: 0,
    schema: scoreSchema(1)
  }));
}

/** Three questions after the same 100+-token system prompt (tests/real/prefix.spec.ts's). */
function systemShaped(): GenerateRequest[] {
  return PREFIX_QUESTIONS.map((content) => ({
    messages: [
      { role: 'system', content: PREFIX_SYSTEM },
      { role: 'user', content }
    ],
    temperature: 0,
    top_p: 1,
    max_tokens: 3,
    seed: 0
  }));
}
