/**
 * The real engine: WebLLM's own runtime (the pinned version, the one users get) runs the
 * test kit's Qwen2 model library (scripts/real-kit/) on a software GPU (lavapipe where it is
 * installed, else SwiftShader: scripts/test-real.mjs), through the app as a user drives it:
 * the Models page downloads the model from a mirror on 127.0.0.1, jobs run on "This GPU
 * (WebLLM)". No simulated engine is anywhere on this path but in the test that compares it.
 *
 * Each test sets up what it needs (kit-fixture.ts: one browser a worker, with the model
 * downloaded) and compares against answers recorded once from the one-at-a-time runs
 * (recorded.ts), so any test runs alone. Prompts are a word long and answers a few tokens:
 * a token costs about 1.5 s on lavapipe and 16 s on SwiftShader.
 */
import { expect } from '@playwright/test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createJob,
  exportAs,
  jobRecord,
  openPlanDetails,
  progressBar,
  waitForCompleted
} from '../e2e/helpers';
import { SLOWDOWN } from '../e2e/browser';
import { killGpuProcess, removeProfile } from '../e2e/processes';
import { modelById } from '../../src/lib/plan/catalog';
import {
  KIT_LABEL,
  KIT_LIB_PATH,
  KIT_MODEL_ID,
  downloadKitModel,
  launchForKit,
  test,
  useKitMirror,
  type KitBrowser
} from './kit-fixture';
import {
  chatFile,
  outputLines,
  runLog,
  startRecordingBuffers,
  type OutputLine
} from './real-helpers';
import { answerOf, recordOrCompare, recorded, type Answer } from './recorded';
import { serveRuntimePage, type ChatOptions, type RuntimeAnswer } from './runtime-page';
import type { BatchOfOneFigures } from '../../bench/real-batch';
import { createScoringJob, scoringResults } from './scoring-job';
import { SCORED_PAIRS, SCORE_TOKENS, scoringRequest } from './scoring';
import type { GenerateRequest } from '../../src/lib/shared/request';

const KIT_QUERY = `?model=${KIT_MODEL_ID}`;
/** One sequence at a time: WebLLM's own path (the plan would choose several with 16 GB said). */
const SINGLE = `${KIT_QUERY}&sequences=1`;
/**
 * The small job's file, run one at a time and then batched: answers of different lengths, so
 * sequences finish at different steps and the next item takes the freed slot mid-batch.
 */
const SMALL_PROMPTS = ['Hi', 'Yes', 'No', 'Ok'];
const SMALL_MAX_TOKENS = [5, 2, 3, 2];
const smallFile = (count = SMALL_PROMPTS.length, name = 'real-small.jsonl') =>
  chatFile(
    name,
    SMALL_PROMPTS.slice(0, count),
    {},
    SMALL_MAX_TOKENS.slice(0, count).map((max_tokens) => ({ max_tokens }))
  );
/** A job's run on lavapipe (longer on SwiftShader): load, a prompt of ~15 tokens, a few tokens out. */
const RUN_MS = 300_000 * SLOWDOWN;

test('the Models page downloads the kit model from the mirror into WebLLM’s own cache', async ({
  kitMirror
}) => {
  // A browser of its own: the shared one has the model already.
  const { profile, context, page } = await launchForKit();
  try {
    await useKitMirror(page, kitMirror.mirror);
    await downloadKitModel(page);

    const manifest = JSON.parse(
      readFileSync(join(kitMirror.folder, KIT_MODEL_ID, 'resolve/main/ndarray-cache.json'), 'utf8')
    ) as { records: { dataPath: string }[] };
    const cached = await page.evaluate(async () => {
      const keys: Record<string, string[]> = {};
      for (const name of ['webllm/model', 'webllm/config', 'webllm/wasm']) {
        const cache = await caches.open(name);
        keys[name] = (await cache.keys()).map((request) => new URL(request.url).pathname).sort();
      }
      return keys;
    });
    const base = `/${KIT_MODEL_ID}/resolve/main/`;
    expect(cached['webllm/model']).toEqual(
      expect.arrayContaining([
        ...manifest.records.map((r) => base + r.dataPath),
        base + 'ndarray-cache.json',
        base + 'tokenizer.json'
      ])
    );
    expect(cached['webllm/config']).toEqual([base + 'mlc-chat-config.json']);
    expect(cached['webllm/wasm']).toEqual([KIT_LIB_PATH]);
    await expect(
      page.getByRole('listitem', { name: KIT_LABEL, exact: true }).getByTestId('cached-state')
    ).toHaveText('Downloaded');
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

test('@baseline a small job, one at a time, streams real tokens; the counts agree with the tokenizer’s; the export holds the recorded answers', async ({
  kit
}) => {
  const { page, served } = kit;
  await createJob(page, smallFile(), SINGLE);
  await expect(page.getByTestId('plan-model')).toContainText('Qwen2.5-0.5B-Instruct');
  // Downloaded, the library is read for its own figures: the plan says so, with the runtime's KV shape.
  await openPlanDetails(page);
  await expect(page.getByTestId('plan-reasons')).toContainText(
    'Figures from the model library Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm itself: weights 295 MiB (267 tensors), KV cache 24,576 bytes a token (24 layers x 2 KV heads x 64), scratch 80 MiB (prefill 77 MiB + embed 4 MiB; 178 MiB for several sequences at once), at most 4,096 tokens of context.'
  );
  await page.getByRole('button', { name: 'Check this GPU' }).click();
  await expect(page.getByTestId('preflight-result')).toHaveAttribute('data-fits', 'true', {
    timeout: 60_000
  });
  served.mirror.requests.length = 0;

  const buffers = await startRecordingBuffers(page, () =>
    page.getByRole('button', { name: 'Start', exact: true }).click()
  );
  // A token arrives and is shown while the item is still running.
  const stream = page.getByTestId('stream');
  await expect(stream).not.toBeEmpty({ timeout: RUN_MS });
  expect(await progressBar(page).getAttribute('aria-valuenow')).toBe('0');
  await waitForCompleted(page, SMALL_PROMPTS.length, RUN_MS * 2);
  // Downloaded first: the job asked the mirror for nothing.
  expect(served.mirror.requests).toEqual([]);

  const lines = outputLines((await exportAs(page, 'OpenAI batch output (.jsonl)')).text);
  const counted = await jobRecord<number[]>(page, 'prompt-tokens');
  expect(lines.map((line) => line.custom_id)).toEqual(['q-1', 'q-2', 'q-3', 'q-4']);
  lines.forEach((line: OutputLine, i) => {
    const body = line.response.body;
    expect(line.response.status_code).toBe(200);
    expect(body.model).toBe(KIT_MODEL_ID);
    expect(body.choices[0]?.finish_reason).toBe('length');
    expect(body.choices[0]?.message.content.length).toBeGreaterThan(0);
    expect(body.usage.completion_tokens).toBe(SMALL_MAX_TOKENS[i]);
    // The app's exact count (its own chat template over WebLLM's tokenizer) is the runtime's.
    expect(body.usage.prompt_tokens).toBe(counted[i]);
  });
  const longest = Math.max(...lines.map((line) => line.response.body.usage.prompt_tokens));
  await expect(runLog(page)).toContainText(
    `Counted the prompts with the model's tokenizer: the longest needs ${longest} tokens`
  );

  // The plan's KV cache against the buffers on the device: one per layer, each a layer's keys
  // and values for the window and its spare page (24 layers x 2 x 2 KV heads x 64 x 4 B). WebLLM's
  // own cache (made at load for its chat, of one 16-token page and the spare one) is freed at once.
  const plan = (
    await jobRecord<{ plan: { kvBytes: number; contextWindow: number } }>(page, 'progress')
  ).plan;
  const perLayer = (plan.contextWindow + 16) * 2 * 2 * 64 * 4;
  expect(plan.kvBytes).toBe(24 * perLayer);
  const sizes = await buffers.sizes();
  const live = await buffers.live();
  expect(
    live.filter((size) => size === perLayer),
    `buffers on the device: ${JSON.stringify(live)}`
  ).toHaveLength(24);
  const webllmLayer = (16 + 16) * 2 * 2 * 64 * 4;
  expect(sizes.filter((size) => size === webllmLayer)).toHaveLength(24);
  expect(live.filter((size) => size === webllmLayer)).toHaveLength(0);
  // The plan's largest scratch buffer (which must bind, as a weight must) is the largest buffer
  // the runtime made that holds no weight and no KV: a 1,024-token chunk through gate and up.
  const manifest = JSON.parse(
    readFileSync(join(served.folder, KIT_MODEL_ID, 'resolve/main/ndarray-cache.json'), 'utf8')
  ) as { records: { records: { nbytes: number }[] }[] };
  const weights = new Set(manifest.records.flatMap((shard) => shard.records.map((r) => r.nbytes)));
  const scratch = sizes.filter((size) => !weights.has(size) && size !== perLayer);
  expect(Math.max(...scratch)).toBe(modelById(KIT_MODEL_ID)!.largestScratch.single);

  recordOrCompare(
    'small',
    {
      answers: lines.map(answerOf),
      usageKeys: Object.keys(lines[0]!.response.body.usage).sort()
    },
    served.stamp
  );
});

/**
 * Runs the small job's file with `sequences` at once and returns its export's lines, and the
 * sets of items seen in flight together (the page's sequences line, read as the job runs).
 */
async function runBatched(
  { page }: KitBrowser,
  sequences: number
): Promise<{ lines: OutputLine[]; together: string[] }> {
  await createJob(page, smallFile(), `${KIT_QUERY}&sequences=${sequences}`);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('sequences-line')).toContainText(`(up to ${sequences} at once)`, {
    timeout: RUN_MS
  });
  const together = await watchInFlight(page, RUN_MS * 2);
  await waitForCompleted(page, SMALL_PROMPTS.length, 1_000);
  await expect(page.getByTestId('count-failed')).toHaveText('0');
  const lines = outputLines((await exportAs(page, 'OpenAI batch output (.jsonl)')).text);
  return { lines, together };
}

/** Until the job completes (or `timeout`): the sets of items the page showed in flight together. */
async function watchInFlight(page: KitBrowser['page'], timeout: number): Promise<string[]> {
  const together = new Set<string>();
  const line = page.getByTestId('sequences-line');
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (
      (await page
        .getByRole('status')
        .textContent()
        .catch(() => null)) === 'Completed'
    )
      break;
    const seen = await line.getAttribute('data-in-flight', { timeout: 1_000 }).catch(() => null);
    if (seen) together.add(seen);
    await page.waitForTimeout(500);
  }
  return [...together];
}

test('two sequences at once: every answer token for token the recorded one-at-a-time answer; a finished sequence’s slot goes to the next item', async ({
  kit
}) => {
  const alone = recorded('small', kit.served.stamp).answers;
  const { lines, together } = await runBatched(kit, 2);
  expect(lines.map(answerOf)).toEqual(alone);
  // q-2 (2 tokens) finishes while q-1 (5) still decodes, and q-3 takes its slot beside q-1.
  expect(together).toContain('0,1');
  expect(together).toContain('0,2');
  expect(together.every((seen) => seen.split(',').length <= 2)).toBe(true);
});

test('four sequences at once: every answer token for token the recorded one-at-a-time answer', async ({
  kit
}) => {
  const alone = recorded('small', kit.served.stamp).answers;
  const { lines, together } = await runBatched(kit, 4);
  expect(lines.map(answerOf)).toEqual(alone);
  expect(together).toContain('0,1,2,3');
});

test('@baseline WeClone scoring, one at a time: xgrammar holds each answer to the preset’s schema, and the app reads it', async ({
  kit
}) => {
  await createScoringJob(kit, SCORED_PAIRS, SINGLE);
  await kit.page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(kit.page, SCORED_PAIRS.length, RUN_MS * 3);

  const results = await scoringResults(kit);
  // xgrammar allows only what the schema allows: {"score": 1..5}, whitespace aside.
  const answers = [1, 2, 3, 4, 5].map((n) => `{"score":${n}}`);
  let unparsed = 0;
  results.lines.forEach((line, i) => {
    const text = line.response.body.choices[0]?.message.content ?? '';
    const finish = line.response.body.choices[0]?.finish_reason;
    const compact = text.replace(/\s+/g, '');
    expect(
      answers.some((answer) => answer.startsWith(compact)),
      `"${text}" fits the schema`
    ).toBe(true);
    if (finish === 'stop') {
      expect(answers).toContain(compact);
      expect(results.scores[i]).toBe((JSON.parse(text) as { score: number }).score);
    } else {
      // Cut by max_tokens: a valid prefix, which the app counts as unparsed (score 0), as WeClone does.
      expect(finish).toBe('length');
      expect(line.response.body.usage.completion_tokens).toBe(SCORE_TOKENS);
      expect(results.scores[i]).toBe(0);
      unparsed += 1;
    }
  });
  await expect(kit.page.getByTestId('count-unparsed')).toHaveText(String(unparsed));
  recordOrCompare(
    'scoring',
    { answers: results.lines.map(answerOf), scores: results.scores },
    kit.served.stamp
  );
});

test('WebLLM’s own chat.completions gives the step loop’s answers, token for token: plain (the recorded ones), and with the scoring schema', async ({
  kit
}) => {
  const small = recorded('small', kit.served.stamp).answers.slice(0, 2);
  // The requests as the app makes them: the small job's first two lines, and the first scoring
  // pair's prompt as the WeClone preset lays it out (its one-line rubric, its schema).
  const plain = SMALL_PROMPTS.slice(0, 2).map((content, i): GenerateRequest => ({
    messages: [{ role: 'user', content }],
    temperature: 0,
    top_p: 1,
    max_tokens: SMALL_MAX_TOKENS[i]!,
    seed: 0
  }));
  const scored = scoringRequest(SCORED_PAIRS[0]!);
  const runtime = await serveRuntimePage();
  const page = await kit.context.newPage();
  try {
    await page.goto(runtime.url);
    await page.waitForFunction(() => 'batchOfOne' in globalThis);
    // chat.completions, then the loop's batch of one on the same loaded model, each prompt
    // read whole. (A job reads the prefix its prompts share as a chunk of its own, which can
    // change a near-tie: the scoring job's own answers are the @baseline's.)
    const { webllm, loop } = await page.evaluate(
      (o) =>
        (
          globalThis as unknown as { batchOfOne(o: ChatOptions): Promise<BatchOfOneFigures> }
        ).batchOfOne(o),
      { modelId: KIT_MODEL_ID, mirror: kit.served.mirror.url, requests: [...plain, scored] }
    );
    const compared = (answers: RuntimeAnswer[]) =>
      answers.map(({ text, finish, prompt, completion }) => ({ text, finish, prompt, completion }));
    expect(compared(webllm)).toEqual(compared(loop));
    const withoutId = ({ id: _id, ...rest }: Answer) => rest;
    expect(compared(webllm).slice(0, 2)).toEqual(small.map(withoutId));
  } finally {
    await page.close();
    await runtime.close();
  }
});

/** A job's run log as kinds and messages (the store's `log` record). */
interface LogLine {
  kind: string;
  index: number | null;
  message: string;
}

/** The one loss the kill test's run log shows, on the real runtime and on the simulated engine. */
const ONE_LOSS_AT_FIRST_ITEM = [
  'restart at 0: device lost (unknown) at item 1; engine restarted on a new device'
];
const losses = (log: LogLine[]) =>
  log
    .filter((line) => line.kind !== 'tokens')
    .map((line) => `${line.kind} at ${line.index}: ${line.message}`);

/**
 * Runs the small job's first two items ('Hi' for 5 tokens, 'Yes' for 2) and kills the GPU
 * process after the first item's first token.
 */
async function killDuringFirstItem(kit: KitBrowser, query: string, timeout: number) {
  const { page } = kit;
  await createJob(page, smallFile(2, 'kill.jsonl'), query);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  // The first item's first token: generation is under way on the GPU.
  await expect(page.getByTestId('stream')).not.toBeEmpty({ timeout });
  expect(await progressBar(page).getAttribute('aria-valuenow')).toBe('0');
  await killGpuProcess(kit.profile);
  await waitForCompleted(page, 2, timeout * 2);
  await expect(runLog(page)).toContainText('engine restarted on a new device');
  await expect(page.getByTestId('count-done')).toHaveText('2');
  await expect(page.getByTestId('count-failed')).toHaveText('0');
  const log = await jobRecord<LogLine[]>(page, 'log');
  await test.info().attach('run log', {
    body: log.map((l) => `${l.kind}: ${l.message}`).join('\n'),
    contentType: 'text/plain'
  });
  return {
    log,
    lines: outputLines((await exportAs(page, 'OpenAI batch output (.jsonl)')).text)
  };
}

test('a GPU-process kill during generation: the job resumes on the real runtime with the recorded answers, nothing lost or doubled', async ({
  kit
}) => {
  const alone = recorded('small', kit.served.stamp).answers.slice(0, 2);
  const run = await killDuringFirstItem(kit, SINGLE, RUN_MS);
  // One loss, at the first item, taken for a lost device (the runtime's error, whichever of its
  // shapes it took, mapped to device-lost: unmapped, the item would have failed).
  expect(losses(run.log)).toEqual(ONE_LOSS_AT_FIRST_ITEM);
  expect(run.lines.map(answerOf)).toEqual(alone);
});

test('the simulated engine stands in for the real one: the run log of the real kill test, the usage of the recorded answers', async ({
  kit
}) => {
  const { answers, usageKeys } = recorded('small', kit.served.stamp);
  // The same file, the same fault, on the simulated engine (its first item waits for the kill),
  // planned for the kit's model (the default 7B does not bind on lavapipe).
  const sim = await killDuringFirstItem(
    kit,
    `?engine=simulated&model=${KIT_MODEL_ID}&tokenDelayMs=5&simHoldAt=0`,
    60_000
  );
  expect(losses(sim.log)).toEqual(ONE_LOSS_AT_FIRST_ITEM);
  const usage = (line: OutputLine) => ({
    keys: Object.keys(line.response.body.usage).sort(),
    completion: line.response.body.usage.completion_tokens,
    total: line.response.body.usage.total_tokens - line.response.body.usage.prompt_tokens,
    finish: line.response.body.choices[0]?.finish_reason
  });
  expect(sim.lines.map(usage)).toEqual(
    answers.slice(0, 2).map((answer: Answer) => ({
      keys: usageKeys,
      completion: answer.completion,
      total: answer.completion,
      finish: answer.finish
    }))
  );
});

test('WeClone scoring, two sequences at once, through a GPU-process kill mid-batch and a reload: the recorded scores of one at a time', async ({
  kit
}) => {
  const alone = recorded('scoring', kit.served.stamp);
  test.setTimeout(40 * 60_000 * SLOWDOWN);
  const { page } = kit;
  // The scoring pairs twice over: the first two are in flight together when the GPU goes, so
  // they run again together with nothing beside them (suspects: recovery.ts); the last two
  // then run together to the end.
  const pairs = [...SCORED_PAIRS, ...SCORED_PAIRS];
  await createScoringJob(kit, pairs, `${KIT_QUERY}&sequences=2`);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByTestId('sequences-line')).toHaveAttribute('data-in-flight', '0,1', {
    timeout: RUN_MS
  });
  await expect(page.getByTestId('stream')).not.toBeEmpty({ timeout: RUN_MS });
  await killGpuProcess(kit.profile);
  await expect(runLog(page)).toContainText('engine restarted on a new device', {
    timeout: RUN_MS
  });
  // The page goes away while the job runs again: it resumes by itself where it stood.
  await page.reload();
  const together = await watchInFlight(page, 35 * 60_000 * SLOWDOWN);
  await waitForCompleted(page, pairs.length, 1_000);
  await expect(page.getByTestId('count-failed')).toHaveText('0');

  const log = await jobRecord<LogLine[]>(page, 'log');
  await test.info().attach('run log and items in flight together', {
    body: `${log.map((l) => `${l.kind}: ${l.message}`).join('\n')}\nin flight together: ${together.join(' | ')}`,
    contentType: 'text/plain'
  });
  // One loss, for the batch (both sequences were on the lost device), taken for a lost device.
  const restarts = log.filter((line) => line.kind === 'restart' || line.kind === 'step-down');
  expect(restarts.map((line) => line.message)).toEqual([
    expect.stringMatching(
      /^device lost \(unknown\) at item [12]; engine restarted on a new device$/
    )
  ]);
  // The last two pairs ran side by side on the GPU.
  expect(together).toContain('2,3');
  // Nothing lost or doubled, and every answer and score as one sequence at a time gave it.
  const batched = await scoringResults(kit);
  const ids = batched.lines.map((line) => line.custom_id);
  expect(new Set(ids).size).toBe(pairs.length);
  const withoutId = (answer: Answer) => ({ ...answer, id: undefined });
  expect(batched.lines.map(answerOf).map(withoutId)).toEqual(
    [...alone.answers, ...alone.answers].map(withoutId)
  );
  expect(batched.scores).toEqual([...alone.scores, ...alone.scores]);
});
