/** A WeClone scoring job through the app, and what it exported: the real-runtime tests' own. */
import { wecloneDataset, wecloneFile } from '../fixtures/weclone';
import { exportAs } from '../e2e/helpers';
import type { KitBrowser } from './kit-fixture';
import { outputLines } from './real-helpers';
import { SCORE_TOKENS, SCORING_RUBRIC } from './scoring';

/**
 * A job of the WeClone preset over `messages` (a pair each, one pair a prompt), with the
 * one-line rubric, or the preset's own (its full rubric) where `rubric` is null.
 */
export async function createScoringJob(
  { page }: KitBrowser,
  messages: [string, string][],
  query: string,
  rubric: string | null = SCORING_RUBRIC
) {
  const pairs = wecloneDataset(messages.length, []);
  pairs.forEach((pair, i) => {
    const [question, answer] = messages[i]!;
    pair.messages = [
      { role: 'user', content: question },
      { role: 'assistant', content: answer }
    ];
  });
  await page.goto('/' + query);
  await page.getByLabel('Prompt file').setInputFiles(wecloneFile(pairs));
  await page.getByLabel('Preset').selectOption({ label: 'Score chat pairs (WeClone)' });
  if (rubric !== null) await page.getByLabel('Rubric', { exact: true }).fill(rubric);
  await page.getByLabel('Max tokens').fill(String(SCORE_TOKENS));
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
}

/** A scoring job's answers and the scores the app read from them (sft-my.json). */
export async function scoringResults({ page }: KitBrowser) {
  const lines = outputLines((await exportAs(page, 'OpenAI batch output (.jsonl)')).text);
  const scored = JSON.parse(
    (await exportAs(page, 'WeClone scored dataset (sft-my.json)')).text
  ) as { score: number }[];
  return { lines, scores: scored.map((pair) => pair.score) };
}
