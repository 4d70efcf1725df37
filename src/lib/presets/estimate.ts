/**
 * Token estimates of a job before any tokenizer is loaded: every item's prompt as the
 * job will send it (preset included), the job's needs (the memory plan sizes the window
 * by them) and, for a scoring job, what a pair costs alone and batched.
 */
import { estimateJobTokens, estimatePromptTokens } from '$lib/plan/tokens';
import type { JobNeeds, JobSettings, ParsedItem } from '$lib/shared/job';
import { requestFor, skipReason } from './index';

type Settings = Omit<JobSettings, 'name'>;

/** Pairs read to estimate the tokens a pair costs (the rubric is the same for all). */
const PER_PAIR_SAMPLE = 200;

/** The items a run sends, in runs of `size` (a scoring job's pairs per prompt). */
function groups<T extends Pick<ParsedItem, 'pair'>>(
  settings: Settings,
  items: readonly T[],
  size: number
): T[][] {
  const sent = items.filter((item) => skipReason(settings, item) === null);
  const out: T[][] = [];
  for (let i = 0; i < sent.length; i += size) out.push(sent.slice(i, i + size));
  return out;
}

/**
 * Prompt tokens per item (each alone) and the job's needs, estimated before any
 * tokenizer is loaded. With several pairs per prompt the window must hold the
 * longest batch, and any pair alone (a pair a batch answer leaves out runs alone).
 */
export function estimateImport(
  items: readonly ParsedItem[],
  settings: Settings
): { promptTokens: number[]; needs: JobNeeds } {
  const alone = estimateJobTokens(items.map((item) => requestFor(settings, [item])));
  const size = settings.preset?.pairsPerPrompt ?? 1;
  if (size <= 1) return alone;
  const batched = estimateJobTokens(
    groups(settings, items, size).map((g) => requestFor(settings, g))
  );
  return {
    promptTokens: alone.promptTokens,
    needs: {
      longestPromptTokens: Math.max(
        alone.needs.longestPromptTokens,
        batched.needs.longestPromptTokens
      ),
      maxAnswerTokens: Math.max(alone.needs.maxAnswerTokens, batched.needs.maxAnswerTokens),
      exact: false
    }
  };
}

/** Estimated prompt tokens per pair with `size` pairs per prompt, over the first pairs. */
export function tokensPerPair(
  items: readonly ParsedItem[],
  settings: Settings,
  size: number
): number | null {
  const sample = groups(settings, items.slice(0, PER_PAIR_SAMPLE), size);
  const pairs = sample.reduce((n, group) => n + group.length, 0);
  if (pairs === 0) return null;
  const tokens = sample.reduce(
    (sum, group) => sum + estimatePromptTokens(requestFor(settings, group).messages),
    0
  );
  return Math.round(tokens / pairs);
}
