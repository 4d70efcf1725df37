/**
 * How a committed result moves a job's progress: the cursor (or the retry
 * queue), the counts, the tokens and the time. Pure, so a batch of results
 * committed together adds up exactly as they would one by one.
 */
import type { ItemResult, JobProgress } from '$lib/shared/job';

/** What an item's stored result was before this one overwrites it (a retried item), or null. */
export type PreviousResult = Pick<ItemResult, 'status' | 'answer'> | null;

function unparsed(result: PreviousResult): number {
  return result?.status === 'done' && result.answer?.ok === false ? 1 : 0;
}

function counted(status: ItemResult['status'], result: PreviousResult): number {
  return result?.status === status ? 1 : 0;
}

export function progressAfter(
  progress: JobProgress,
  result: ItemResult,
  previous: PreviousResult,
  elapsedMs: number,
  now: number
): JobProgress {
  const retried = progress.retry.includes(result.index);
  const delta = (status: ItemResult['status']) =>
    counted(status, result) - counted(status, previous);
  return {
    ...progress,
    cursor: retried ? progress.cursor : Math.max(progress.cursor, result.index + 1),
    retry: retried ? progress.retry.filter((index) => index !== result.index) : progress.retry,
    done: progress.done + delta('done'),
    failed: progress.failed + delta('failed'),
    skipped: (progress.skipped ?? 0) + delta('skipped'),
    unparsed: (progress.unparsed ?? 0) + unparsed(result) - unparsed(previous),
    promptTokens: progress.promptTokens + (result.usage?.prompt_tokens ?? 0),
    completionTokens: progress.completionTokens + (result.usage?.completion_tokens ?? 0),
    elapsedMs: progress.elapsedMs + elapsedMs,
    updatedAt: now
  };
}
