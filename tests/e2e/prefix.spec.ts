/**
 * Prefix sharing on the simulated model's step loop (the real runtime's proof is
 * tests/real/prefix.spec.ts): a job whose prompts begin with the same system prompt keeps it in
 * each sequence's KV slot, so it is read once a slot; the export's cached_tokens, the run log and
 * the job's figures say so. Off (the form's checkbox, or ?prefixSharing=off read when the job is
 * created), every prompt is read whole, with the same answers.
 */
import { expect, test, type Page } from '@playwright/test';
import {
  cachedTokens,
  exportAs,
  openPlanDetails,
  waitForCompleted,
  withoutRunIds
} from './helpers';

const TOTAL = 24;
const SYSTEM =
  'You review pairs of a question and an answer taken from a chat between friends. Judge whether the answer is a fitting, polite and complete reply. Prefer short answers that stay on topic, and penalise answers that are rude or change the subject.';

function sharedFile() {
  const lines = Array.from({ length: TOTAL }, (_, i) =>
    JSON.stringify({
      custom_id: `p-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        messages: [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: `Pair ${i + 1}: lunch at ${i + 1}? Sure.` }
        ],
        max_tokens: 8 + (i % 5)
      }
    })
  );
  return {
    name: 'shared.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

interface Line {
  response: { body: { usage: { prompt_tokens: number } } };
}

const promptTokens = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .reduce((sum, line) => sum + (JSON.parse(line) as Line).response.body.usage.prompt_tokens, 0);

async function run(page: Page, query: string, share: boolean) {
  await page.goto('/' + query);
  await page.getByLabel('Prompt file').setInputFiles(sharedFile());
  const box = page.getByRole('checkbox', { name: "Share the prompts' common prefix" });
  await expect(box).toBeChecked({ checked: !query.includes('prefixSharing=off') });
  await box.setChecked(share);
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, TOTAL);
  return (await exportAs(page, 'OpenAI batch output (.jsonl)')).text;
}

test('a shared system prompt is kept in each of 4 sequence slots: read 4 times, not 24; the same answers as with sharing off (the checkbox, or ?prefixSharing=off)', async ({
  page
}) => {
  const query = '?engine=simulated&tokenDelayMs=0&sequences=4';
  const shared = await run(page, query, true);
  const log = page.getByTestId('run-log');
  await expect(log).toContainText('Every prompt begins with the same');
  const said =
    /Every prompt begins with the same (\d+) tokens \((\d+) KV pages\): each sequence's KV slot keeps them/.exec(
      (await log.textContent()) ?? ''
    );
  const prefix = Number(said?.[1]);
  expect(prefix).toBeGreaterThanOrEqual(48);
  expect(prefix % 16).toBe(0);
  // The first prompt of each slot reads the prefix; the 20 after find it kept.
  expect(cachedTokens(shared)).toEqual(
    Array.from({ length: TOTAL }, (_, i) => (i < 4 ? 0 : prefix))
  );
  const prompt = promptTokens(shared);
  await expect(page.getByTestId('prompt-tokens')).toHaveText(
    `${(prompt - 20 * prefix).toLocaleString('en-US')} read · ${(20 * prefix).toLocaleString('en-US')} reused`
  );
  // The job page's plan says where the prefix lives, once the prompts are counted.
  await openPlanDetails(page);
  await expect(page.getByTestId('plan-reasons')).toContainText(
    `Every prompt begins with the same ${prefix} tokens (${prefix / 16} KV pages): each sequence's KV slot keeps them, so they are read once a slot, not once a prompt (within the slot's window: no memory more).`
  );

  const unticked = await run(page, query, false);
  await expect(page.getByTestId('run-log')).toContainText(
    `Every prompt begins with the same ${prefix} tokens (${prefix / 16} KV pages): read with every prompt (prefix sharing is off for this job)`
  );
  expect(cachedTokens(unticked)).toEqual(Array.from({ length: TOTAL }, () => 0));
  expect(withoutRunIds(unticked)).toBe(withoutRunIds(shared));
  await expect(page.getByTestId('prompt-tokens')).toHaveText(
    `${prompt.toLocaleString('en-US')} read`
  );

  const offByAddress = await run(page, `${query}&prefixSharing=off`, false);
  expect(cachedTokens(offByAddress)).toEqual(Array.from({ length: TOTAL }, () => 0));
  expect(withoutRunIds(offByAddress)).toBe(withoutRunIds(shared));
});
