/**
 * Creating a job from an import preview: its prompts' token estimates (the
 * memory plan sizes the window by them), its record, and storing it.
 */
import { estimatePromptTokens, estimateJobTokens } from '$lib/plan/tokens';
import { requestFor, skipReason } from '$lib/presets';
import type { EngineChoice } from '$lib/shared/engine-choice';
import type { InputFormatId, JobMeta, JobNeeds, JobSettings, ParsedItem } from '$lib/shared/job';
import * as jobs from '$lib/store/jobs';
import { refreshWhenIdle } from './runner-bridge';
import { settings } from './settings.svelte';

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

export interface NewJob {
  sourceFileName: string;
  format: InputFormatId;
  items: ParsedItem[];
  settings: JobSettings;
  engine: EngineChoice;
  /** From estimateImport, for these items and settings. */
  estimate: { promptTokens: number[]; needs: JobNeeds };
}

/** Stores the job (all or nothing) and returns its id. */
export async function createJob(job: NewJob): Promise<string> {
  const meta: JobMeta = {
    id: jobs.newJobId(),
    name: job.settings.name,
    createdAt: Date.now(),
    sourceFileName: job.sourceFileName,
    format: job.format,
    total: job.items.length,
    settings: job.settings,
    engine: job.engine,
    needs: job.estimate.needs
  };
  // Ask the browser to keep this site's data when the disk runs low (silent in Chrome).
  await navigator.storage?.persist?.().catch(() => false);
  await jobs.createJob(meta, job.items, job.estimate.promptTokens);
  return meta.id;
}

/**
 * Remembers a server for jobs: its origin joins the runner worker's CSP (through the
 * service worker), and its API key is kept in this browser's settings only ('' forgets it).
 */
export async function rememberServer(baseUrl: string, apiKey: string): Promise<void> {
  await settings.update({
    servers: [...new Set([...(settings.current.servers ?? []), baseUrl])],
    serverKeys: Object.fromEntries(
      Object.entries({ ...settings.current.serverKeys, [baseUrl]: apiKey }).filter(([, key]) => key)
    )
  });
  refreshWhenIdle();
}
