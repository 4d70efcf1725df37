/**
 * Other tabs show a job's live progress from what its running tab broadcasts
 * (a BroadcastChannel): the rows it committed, the progress, the run log.
 */
import { scoreOf, type PairScore } from '$lib/presets/score-pairs';
import type { ItemResult, JobProgress, RunLogEntry } from '$lib/shared/job';
import { JOB_CHANNEL } from '$lib/shared/storage-names';

/** What the results list shows of one result. */
export interface RowSummary {
  status: ItemResult['status'];
  firstLine: string;
  tokens: number;
  /** The pair's score, in a scoring job (0 when the answer gave none). */
  score: PairScore;
}

/** What the results list shows of `result`: its answer's (or error's) first line, cut at 200. */
export function summarizeRow(result: ItemResult): RowSummary {
  const source =
    result.status === 'done'
      ? result.text
      : result.status === 'skipped'
        ? (result.skipReason ?? '')
        : (result.error?.message ?? '');
  const firstLine = source.trimStart().split('\n', 1)[0] ?? '';
  return {
    status: result.status,
    firstLine: firstLine.slice(0, 200),
    tokens: result.usage?.completion_tokens ?? 0,
    score: scoreOf(result)
  };
}

/**
 * At most one progress message a frame: the rows committed since the last one (by index),
 * and the progress after them.
 */
export type JobBroadcast =
  | {
      jobId: string;
      type: 'progress';
      rows: [index: number, row: RowSummary][];
      progress: JobProgress;
    }
  | { jobId: string; type: 'log'; entry: RunLogEntry };

const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel(JOB_CHANNEL) : null;

export function broadcast(message: JobBroadcast): void {
  channel?.postMessage(message);
}

/** Calls `listener` with every message other tabs broadcast. */
export function onBroadcast(listener: (message: JobBroadcast) => void): void {
  channel?.addEventListener('message', (event: MessageEvent<JobBroadcast>) => listener(event.data));
}
