/**
 * Prefix sharing on WebLLM's own runtime, through the app: a job whose prompts begin with the
 * same 100+-token system prompt, one at a time with sharing off (the recorded baseline), then
 * with sharing on at 1 and 2 sequences at once: each sequence's KV slot keeps the prefix
 * (trimmed back with the library's own `kv_state_popn`), so it is read once a slot, and the
 * answers and usage are the baseline's token for token. And the WeClone preset with its full
 * rubric: sharing on, the scores of the recorded unshared run, the rubric read once. And
 * prompts that share no page still run, with sharing on and nothing kept.
 *
 * On lavapipe a prompt token costs about 1.5 s to read: the unshared baselines are the slow
 * part (the full rubric's, about 15 minutes, runs only when recording: @recorder).
 */
import { expect } from '@playwright/test';
import { createJob, exportAs, jobRecord } from '../e2e/helpers';
import { SLOWDOWN } from '../e2e/browser';
import { KIT_MODEL_ID, test, type KitBrowser } from './kit-fixture';
import { outputLines, runLog, type OutputLine } from './real-helpers';
import { answerOf, recordOrCompare, recorded } from './recorded';
import { createScoringJob, scoringResults } from './scoring-job';
import { SCORED_PAIRS } from './scoring';
import { PREFIX_QUESTIONS, PREFIX_SYSTEM } from './prefix-prompts';
import { waitForCompleted } from '../e2e/helpers';

const SINGLE = `?model=${KIT_MODEL_ID}&sequences=1`;

/** A job's file: each line a system prompt and a user message, greedy, `maxTokens` each. */
function systemFile(name: string, prompts: { system: string; user: string }[], maxTokens: number) {
  const lines = prompts.map(({ system, user }, i) =>
    JSON.stringify({
      custom_id: `q-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: user }
        ],
        temperature: 0,
        max_tokens: maxTokens
      }
    })
  );
  return { name, mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') };
}

/** The prefix job: the 100+-token system prompt, then a question, 3 tokens each. */
const prefixFile = () =>
  systemFile(
    'real-prefix.jsonl',
    PREFIX_QUESTIONS.map((user) => ({ system: PREFIX_SYSTEM, user })),
    3
  );

/** A token costs ~1.5 s to read on lavapipe: three prompts of ~130 tokens, read whole. */
const PREFIX_RUN_MS = 900_000 * SLOWDOWN;

const cached = (lines: OutputLine[]) =>
  lines.map(
    (line) =>
      (line.response.body.usage.prompt_tokens_details as { cached_tokens?: number } | undefined)
        ?.cached_tokens ?? 0
  );

/** The prefix the run log says every prompt begins with, in tokens. */
async function saidPrefix({ page }: KitBrowser, share: boolean): Promise<number> {
  const how = share
    ? "each sequence's KV slot keeps them"
    : 'read with every prompt (prefix sharing is off for this job)';
  await expect(runLog(page)).toContainText(how);
  const said = /Every prompt begins with the same (\d+) tokens \((\d+) KV pages\)/.exec(
    (await runLog(page).textContent()) ?? ''
  );
  expect(said, 'the run log says the prefix').not.toBeNull();
  expect(Number(said![2]) * 16).toBe(Number(said![1]));
  return Number(said![1]);
}

async function runSystemJob(kit: KitBrowser, query: string) {
  await createJob(kit.page, prefixFile(), query);
  await kit.page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(kit.page, PREFIX_QUESTIONS.length, PREFIX_RUN_MS);
  return outputLines((await exportAs(kit.page, 'OpenAI batch output (.jsonl)')).text);
}

test('@baseline a 100+-token system prompt, sharing off, one at a time: every prompt reads it whole, as a chunk of its own; the answers recorded', async ({
  kit
}) => {
  test.setTimeout(PREFIX_RUN_MS + 300_000);
  const lines = await runSystemJob(kit, `${SINGLE}&prefixSharing=off`);
  const prefixTokens = await saidPrefix(kit, false);
  expect(prefixTokens).toBeGreaterThanOrEqual(112);
  expect(cached(lines)).toEqual([0, 0, 0]);
  const read = lines.reduce((sum, line) => sum + line.response.body.usage.prompt_tokens, 0);
  await expect(kit.page.getByTestId('prompt-tokens')).toHaveText(`${read} read`);
  recordOrCompare('prefix', { answers: lines.map(answerOf), prefixTokens }, kit.served.stamp);
});

for (const sequences of [1, 2]) {
  test(`a 100+-token system prompt kept in each sequence's slot, ${sequences} at once: the answers and usage of the unshared run token for token, the prefix read once a slot`, async ({
    kit
  }) => {
    test.setTimeout(PREFIX_RUN_MS + 300_000);
    const baseline = recorded('prefix', kit.served.stamp);
    const lines = await runSystemJob(kit, `?model=${KIT_MODEL_ID}&sequences=${sequences}`);
    expect(lines.map(answerOf)).toEqual(baseline.answers);
    const prefix = await saidPrefix(kit, true);
    expect(prefix).toBe(baseline.prefixTokens);
    // One slot: the first prompt reads the prefix, the next two find it kept. Two slots: the
    // first two read it, one a slot; the third finds it kept.
    const expected = sequences === 1 ? [0, prefix, prefix] : [0, 0, prefix];
    expect(cached(lines)).toEqual(expected);
    const whole = baseline.answers.reduce((sum, answer) => sum + answer.prompt, 0);
    const reused = expected.reduce((a, b) => a + b, 0);
    await expect(kit.page.getByTestId('prompt-tokens')).toHaveText(
      `${whole - reused} read · ${reused} reused`
    );
  });
}

/** Two prompts whose system prompts differ from their fourth token: no whole page in common. */
const UNSHARED = [
  { system: 'Be brief.', user: 'Hi' },
  { system: 'Answer in French.', user: 'Hi' }
];

test('prompts that share no page, sharing on, 2 at once: no prefix kept, every prompt read whole, every item done', async ({
  kit
}) => {
  test.setTimeout(PREFIX_RUN_MS + 300_000);
  const file = systemFile('real-unshared.jsonl', UNSHARED, 2);
  await createJob(kit.page, file, `?model=${KIT_MODEL_ID}&sequences=2`);
  await kit.page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(kit.page, UNSHARED.length, PREFIX_RUN_MS);
  const output = outputLines((await exportAs(kit.page, 'OpenAI batch output (.jsonl)')).text);
  const counted = await jobRecord<number[]>(kit.page, 'prompt-tokens');
  expect(output.map((line) => line.custom_id)).toEqual(['q-1', 'q-2']);
  for (const [i, line] of output.entries()) {
    expect(line.response.status_code).toBe(200);
    expect(line.response.body.choices[0]?.message.content.length).toBeGreaterThan(0);
    expect(line.response.body.usage.completion_tokens).toBe(2);
    expect(line.response.body.usage.prompt_tokens).toBe(counted[i]);
  }
  expect(cached(output)).toEqual([0, 0]);
  await expect(runLog(kit.page)).toContainText('Counted the prompts');
  await expect(runLog(kit.page)).not.toContainText('Every prompt begins with the same');
  const read = counted.reduce((sum, tokens) => sum + tokens, 0);
  await expect(kit.page.getByTestId('prompt-tokens')).toHaveText(`${read} read`);
});

/** Both scoring pairs, 2 prompts of the full rubric: the prefix is most of each. */
const FULL_RUBRIC_MS = 1_500_000 * SLOWDOWN;

test('@recorder WeClone scoring with its full rubric, sharing off, one at a time: the answers and scores recorded', async ({
  kit
}) => {
  test.setTimeout(FULL_RUBRIC_MS + 300_000);
  await createScoringJob(kit, SCORED_PAIRS, `${SINGLE}&prefixSharing=off`, null);
  await kit.page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(kit.page, SCORED_PAIRS.length, FULL_RUBRIC_MS);
  const results = await scoringResults(kit);
  const prefixTokens = await saidPrefix(kit, false);
  expect(prefixTokens).toBeGreaterThanOrEqual(200);
  expect(cached(results.lines)).toEqual([0, 0]);
  recordOrCompare(
    'fullRubric',
    { answers: results.lines.map(answerOf), scores: results.scores, prefixTokens },
    kit.served.stamp
  );
});

test('WeClone scoring with its full rubric, sharing on: the rubric read once, the answers and scores of the recorded unshared run', async ({
  kit
}) => {
  test.setTimeout(FULL_RUBRIC_MS + 300_000);
  const baseline = recorded('fullRubric', kit.served.stamp);
  await createScoringJob(kit, SCORED_PAIRS, SINGLE, null);
  await kit.page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(kit.page, SCORED_PAIRS.length, FULL_RUBRIC_MS);
  const results = await scoringResults(kit);
  expect(results.lines.map(answerOf)).toEqual(baseline.answers);
  expect(results.scores).toEqual(baseline.scores);
  const prefix = await saidPrefix(kit, true);
  expect(prefix).toBe(baseline.prefixTokens);
  expect(cached(results.lines)).toEqual([0, prefix]);
});
