/**
 * Creating a job from an import preview: its prompts' token estimates (the
 * memory plan sizes the window by them), its record, and storing it.
 */
import { estimateJobTokens } from '$lib/plan/tokens';
import type { EngineChoice } from '$lib/shared/engine-choice';
import type { InputFormatId, JobMeta, JobNeeds, JobSettings, ParsedItem } from '$lib/shared/job';
import { buildRequest } from '$lib/shared/request';
import * as jobs from '$lib/store/jobs';

/** Prompt tokens per item and the job's needs, estimated before any tokenizer is loaded. */
export function estimateImport(
  items: readonly ParsedItem[],
  settings: Omit<JobSettings, 'name'>
): { promptTokens: number[]; needs: JobNeeds } {
  return estimateJobTokens(items.map((item) => buildRequest({ settings }, item)));
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
