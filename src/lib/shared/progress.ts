/**
 * What has finished, kept compactly, and how a committed result moves it. Items
 * finish out of order when several run at once (or when results are imported),
 * so progress is a cursor below which every item is handled (finished, or queued
 * in `retry`) plus the handled ranges above it. Resuming reads this one record,
 * never the item list. Pure, so a batch of results committed together adds up
 * exactly as they would one by one.
 */
import type { ItemResult, JobProgress } from '$lib/shared/job';

/** What an item's stored result was before this one overwrites it (a retried item), or null. */
export type PreviousResult = Pick<ItemResult, 'status' | 'answer'> | null;

/** Half-open ranges [from, to) of handled items above the cursor, sorted and apart. */
type Ranges = [number, number][];

function unparsed(result: PreviousResult): number {
  return result?.status === 'done' && result.answer?.ok === false ? 1 : 0;
}

function counted(status: ItemResult['status'], result: PreviousResult): number {
  return result?.status === status ? 1 : 0;
}

/** The ranges with `index` added, merged with its neighbours. */
function addToRanges(ranges: Ranges, index: number): Ranges {
  const out: Ranges = [];
  let added: [number, number] = [index, index + 1];
  let placed = false;
  for (const range of ranges) {
    if (range[1] < added[0]) out.push(range);
    else if (range[0] > added[1]) {
      if (!placed) out.push(added);
      placed = true;
      out.push(range);
    } else added = [Math.min(range[0], added[0]), Math.max(range[1], added[1])];
  }
  if (!placed) out.push(added);
  return out;
}

/** Marks `index` handled: the cursor moves over it (and over ranges it joins), or it joins the ranges. */
export function markHandled(progress: JobProgress, index: number): JobProgress {
  if (index < progress.cursor) return progress;
  const ranges = addToRanges(progress.ahead, index);
  let cursor = progress.cursor;
  while (ranges[0] && ranges[0][0] <= cursor) cursor = Math.max(cursor, ranges.shift()![1]);
  return { ...progress, cursor, ahead: ranges };
}

/** Whether `index` is handled (below the cursor and not queued, or in the ranges above it). */
export function isHandled(progress: Pick<JobProgress, 'cursor' | 'ahead'>, index: number): boolean {
  if (index < progress.cursor) return true;
  return progress.ahead.some(([from, to]) => index >= from && index < to);
}

/** The first index from `from` on that is not handled and not in `busy`, or null. */
export function nextUnhandled(
  progress: Pick<JobProgress, 'cursor' | 'ahead'>,
  total: number,
  from: number,
  busy: ReadonlySet<number>
): number | null {
  let index = Math.max(from, progress.cursor);
  const ranges = progress.ahead;
  let r = 0;
  while (index < total) {
    while (ranges[r] && ranges[r]![1] <= index) r++;
    const range = ranges[r];
    if (range && range[0] <= index) {
      index = range[1];
      continue;
    }
    if (!busy.has(index)) return index;
    index++;
  }
  return null;
}

/** Whether every item is handled and nothing is queued. */
export function allHandled(progress: JobProgress, total: number): boolean {
  return progress.retry.length === 0 && progress.suspects.length === 0 && progress.cursor >= total;
}

/** Queues items to run again (alone in their prompt), and marks them handled for the cursor. */
export function queueAgain(progress: JobProgress, indices: readonly number[]): JobProgress {
  let next = progress;
  for (const index of indices) next = markHandled(next, index);
  const retry = [...next.retry];
  for (const index of indices) if (!retry.includes(index)) retry.push(index);
  // A suspect queued to run alone is no longer a suspect: it runs alone anyway.
  const suspects = next.suspects.filter((index) => !indices.includes(index));
  return { ...next, retry, suspects };
}

export function progressAfter(
  progress: JobProgress,
  result: ItemResult,
  previous: PreviousResult,
  elapsedMs: number,
  now: number
): JobProgress {
  const queued = progress.retry.includes(result.index);
  const suspect = progress.suspects.includes(result.index);
  const delta = (status: ItemResult['status']) =>
    counted(status, result) - counted(status, previous);
  const moved = markHandled(progress, result.index);
  return {
    ...moved,
    retry: queued ? progress.retry.filter((index) => index !== result.index) : progress.retry,
    suspects: suspect
      ? progress.suspects.filter((index) => index !== result.index)
      : progress.suspects,
    done: progress.done + delta('done'),
    failed: progress.failed + delta('failed'),
    skipped: progress.skipped + delta('skipped'),
    unparsed: progress.unparsed + unparsed(result) - unparsed(previous),
    promptTokens: progress.promptTokens + (result.usage?.prompt_tokens ?? 0),
    cachedTokens: progress.cachedTokens + (result.usage?.prompt_tokens_details?.cached_tokens ?? 0),
    completionTokens: progress.completionTokens + (result.usage?.completion_tokens ?? 0),
    elapsedMs: progress.elapsedMs + elapsedMs,
    updatedAt: now
  };
}
