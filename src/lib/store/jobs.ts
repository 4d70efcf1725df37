/**
 * Jobs in IndexedDB (the store modules are the only ones that import idb-keyval).
 *
 * One catalog database lists the jobs (id -> JobMeta); every job has a database of
 * its own (layout and schema version: ./job-schema), so opening or resuming one job
 * never reads another's items. Resuming reads the job's 'progress' record alone, so a
 * job of 100,000 items resumes as fast as a job of 10. Results are keyed by index: a
 * re-run after a crash overwrites, so results are exactly-once although runs are
 * at-least-once.
 */
import { del, get, promisifyRequest, set, update } from 'idb-keyval';
import type {
  ItemInput,
  ItemResult,
  ItemTries,
  JobMeta,
  JobNeeds,
  JobProgress,
  ParsedItem,
  RunLogEntry
} from '$lib/shared/job';
import type { ItemError } from '$lib/shared/stop';
import { catalogStore, deleteJobDatabase, jobStore } from './db';
import {
  ATTEMPT_SCOPES,
  INPUT_CHUNK,
  JOB_SCHEMA_VERSION,
  KEYS,
  attemptKind,
  normalizeProgress,
  range,
  type AttemptScope,
  type StoredProgress
} from './job-schema';

// What the runner needs of the layout (it reads whole records ahead) comes through here.
export { ATTEMPT_SCOPES, INPUT_CHUNK, type AttemptScope };

/** Inputs with index in [from, to), in index order, read inside a transaction. */
async function readInputs(s: IDBObjectStore, from: number, to: number): Promise<ItemInput[]> {
  const chunks = await promisifyRequest(
    s.getAll(
      range('ins', Math.floor(from / INPUT_CHUNK), Math.ceil(to / INPUT_CHUNK))
    ) as IDBRequest<ItemInput[][]>
  );
  return chunks.flat().filter((input) => input.index >= from && input.index < to);
}

/** The job's progress, read inside a transaction (undefined: the job is not stored). */
function readProgress(s: IDBObjectStore): IDBRequest<StoredProgress | undefined> {
  return s.get(KEYS.progress) as IDBRequest<StoredProgress | undefined>;
}

export function newJobId(): string {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return Date.now().toString(36) + '-' + Array.from(random, (n) => n.toString(36)).join('');
}

export function initialProgress(now: number): JobProgress {
  return {
    cursor: 0,
    done: 0,
    failed: 0,
    promptTokens: 0,
    cachedTokens: 0,
    completionTokens: 0,
    elapsedMs: 0,
    state: 'idle',
    stopReason: null,
    windowCap: null,
    sequencesCap: null,
    plan: null,
    retry: [],
    ahead: [],
    suspects: [],
    suspectRun: 'together',
    skipped: 0,
    unparsed: 0,
    updatedAt: now
  };
}

/** Items stored per transaction when a job is created (20 input records): large, but not all at once. */
const CREATE_CHUNK = 20 * INPUT_CHUNK;

/**
 * Stores a new job: its items in large transactions, then its ids, estimates and
 * progress, then its entry in the catalog. Until the catalog entry exists the job is
 * invisible, and a failed (or cancelled) import deletes what it wrote, so it leaves
 * nothing behind that the user can see. `onStored` hears how many items are stored.
 */
export async function createJob(
  meta: JobMeta,
  items: ParsedItem[],
  promptTokens: number[],
  onStored?: (stored: number) => void
): Promise<void> {
  const store = jobStore(meta.id);
  try {
    for (let from = 0; from < items.length; from += CREATE_CHUNK) {
      await store('readwrite', (s) => {
        const end = Math.min(items.length, from + CREATE_CHUNK);
        for (let start = from; start < end; start += INPUT_CHUNK) {
          const chunk = items
            .slice(start, Math.min(end, start + INPUT_CHUNK))
            .map((item, i): ItemInput => ({ ...item, index: start + i }));
          s.put(chunk, KEYS.inputs(start / INPUT_CHUNK));
        }
        return promisifyRequest(s.transaction);
      });
      onStored?.(Math.min(items.length, from + CREATE_CHUNK));
    }
    await store('readwrite', (s) => {
      s.put(
        items.map((item) => item.customId),
        KEYS.ids
      );
      s.put(promptTokens, KEYS.promptTokens);
      s.put([], KEYS.log);
      s.put(initialProgress(meta.createdAt), KEYS.progress);
      s.put(JOB_SCHEMA_VERSION, KEYS.schema);
      return promisifyRequest(s.transaction);
    });
    await set(meta.id, meta, catalogStore());
  } catch (error) {
    // eslint-disable-next-line no-restricted-syntax -- the store failed already (that error is thrown below); the catalog entry is written last, so what is left is never listed
    await deleteJobDatabase(meta.id).catch(() => undefined);
    throw error;
  }
}

export async function listJobs(): Promise<JobMeta[]> {
  const jobs = await catalogStore()('readonly', (s) =>
    promisifyRequest(s.getAll() as IDBRequest<JobMeta[]>)
  );
  return jobs.sort((a, b) => b.createdAt - a.createdAt);
}

export function getJob(jobId: string): Promise<JobMeta | undefined> {
  return get<JobMeta>(jobId, catalogStore());
}

export async function getProgress(jobId: string): Promise<JobProgress> {
  const progress = await get<StoredProgress>(KEYS.progress, jobStore(jobId));
  if (!progress) throw new Error(`Job ${jobId} has no progress record; it may have been deleted.`);
  return normalizeProgress(progress);
}

export function saveProgress(jobId: string, progress: JobProgress): Promise<void> {
  return set(KEYS.progress, progress, jobStore(jobId));
}

/**
 * Pause was pressed: stored apart from the progress (which the run writes whole), so a run
 * that never heard of it (a hung engine, a worker being replaced, a lock being retried) and
 * every tab and app start after it leave the job paused. Start and Resume take it back.
 */
export function requestPause(jobId: string, at: number): Promise<void> {
  return set(KEYS.pause, at, jobStore(jobId));
}

export function clearPauseRequest(jobId: string): Promise<void> {
  return del(KEYS.pause, jobStore(jobId));
}

export async function pauseRequested(jobId: string): Promise<boolean> {
  return (await get<number>(KEYS.pause, jobStore(jobId))) !== undefined;
}

/**
 * Stores a job still marked running as paused (its run could not say so itself: its worker
 * hung or died while pausing), in one transaction; any other state stays. The progress after,
 * and whether this changed it.
 */
export async function markPaused(
  jobId: string,
  now: number
): Promise<{ progress: JobProgress; changed: boolean }> {
  let changed = false;
  await update<StoredProgress>(
    KEYS.progress,
    (stored) => {
      if (!stored)
        throw new Error(`Job ${jobId} has no progress record; it may have been deleted.`);
      changed = stored.state === 'running';
      return changed ? { ...stored, state: 'paused', stopReason: null, updatedAt: now } : stored;
    },
    jobStore(jobId)
  );
  return { progress: await getProgress(jobId), changed };
}

export async function getInput(jobId: string, index: number): Promise<ItemInput> {
  const [input] = await getInputs(jobId, index, index + 1);
  if (!input) throw new Error(`Item ${index + 1} of job ${jobId} is missing from storage.`);
  return input;
}

/**
 * Exact counts from the model's tokenizer replace the estimates: the per-item
 * counts first, then the job's needs marked exact (so a crash in between
 * only means counting again).
 */
export async function saveExactCounts(
  jobId: string,
  needs: JobNeeds,
  promptTokens: number[]
): Promise<void> {
  await set(KEYS.promptTokens, promptTokens, jobStore(jobId));
  await updateJob(jobId, (meta) => ({ ...meta, needs }));
}

/** Changes a job's record in one transaction; a job deleted meanwhile stays deleted. */
export function updateJob(jobId: string, change: (meta: JobMeta) => JobMeta): Promise<void> {
  return catalogStore()('readwrite', (s) => {
    const read = s.get(jobId) as IDBRequest<JobMeta | undefined>;
    read.onsuccess = () => {
      if (read.result) s.put(change(read.result), jobId);
    };
    return promisifyRequest(s.transaction);
  });
}

export async function getResult(jobId: string, index: number): Promise<ItemResult | undefined> {
  return get<ItemResult>(KEYS.result(index), jobStore(jobId));
}

export async function getItemIds(jobId: string): Promise<string[]> {
  return (await get<string[]>(KEYS.ids, jobStore(jobId))) ?? [];
}

export async function getPromptTokens(jobId: string): Promise<number[]> {
  return (await get<number[]>(KEYS.promptTokens, jobStore(jobId))) ?? [];
}

export async function getLog(jobId: string): Promise<RunLogEntry[]> {
  return (await get<RunLogEntry[]>(KEYS.log, jobStore(jobId))) ?? [];
}

/** Appends a line to the job's run log. */
export function appendLog(jobId: string, entry: RunLogEntry): Promise<void> {
  return writeRun(jobId, { results: [], tries: [], log: [entry], progress: null });
}

/** What a run writes at once: results, tries, run-log lines and the progress after them. */
export interface RunWrite {
  results: ItemResult[];
  /** Tries as they now stand (the run counts them; it alone writes them while it runs). */
  tries: StoredTries[];
  log: RunLogEntry[];
  progress: JobProgress | null;
}

/**
 * Writes a run's pending writes in one transaction: its results, the tries, the
 * run-log lines (appended inside it) and the progress after them.
 */
export function writeRun(jobId: string, write: RunWrite): Promise<void> {
  return jobStore(jobId)('readwrite', (s) => {
    for (const result of write.results) s.put(result, KEYS.result(result.index));
    for (const { index, scope, tries } of write.tries) s.put(tries, KEYS.attempts(index, scope));
    if (write.log.length) {
      const read = s.get(KEYS.log) as IDBRequest<RunLogEntry[] | undefined>;
      read.onsuccess = () => s.put([...(read.result ?? []), ...write.log], KEYS.log);
    }
    if (write.progress) s.put(write.progress, KEYS.progress);
    return promisifyRequest(s.transaction);
  });
}

/** Tries stored for one item and scope. */
export interface StoredTries {
  index: number;
  scope: AttemptScope;
  tries: ItemTries;
}

/** Inputs with index in [from, to), and the tries stored for them, in one read. */
export function readAhead(
  jobId: string,
  from: number,
  to: number
): Promise<{ inputs: ItemInput[]; tries: StoredTries[] }> {
  return jobStore(jobId)('readonly', async (s) => {
    const inputs = readInputs(s, from, to);
    const tries = ATTEMPT_SCOPES.map(async (scope) => {
      const keys = range(attemptKind(scope), from, to);
      const [indices, values] = await Promise.all([
        promisifyRequest(s.getAllKeys(keys)),
        promisifyRequest(s.getAll(keys) as IDBRequest<ItemTries[]>)
      ]);
      return indices.map((key, i) => ({
        index: (key as [string, number])[1],
        scope,
        tries: values[i]!
      }));
    });
    return { inputs: await inputs, tries: (await Promise.all(tries)).flat() };
  });
}

/** Remembers why the latest attempt at an item did not finish it. */
export function recordFailure(
  jobId: string,
  index: number,
  error: ItemError,
  scope: AttemptScope = 'item'
): Promise<void> {
  return update<ItemTries>(
    KEYS.attempts(index, scope),
    (stored) => ({ count: stored?.count ?? 0, lastError: error }),
    jobStore(jobId)
  );
}

/** Which results "Retry failed" and "Retry unparsed" run again. */
export type RetryKind = 'failed' | 'unparsed';

function wanted(result: ItemResult, kind: RetryKind): boolean {
  return kind === 'failed'
    ? result.status === 'failed'
    : result.status === 'done' && result.answer?.ok === false;
}

/**
 * Queues every failed (or unparsed) item again, with fresh attempts, in one
 * transaction. Returns how many were queued.
 */
export async function queueAgain(jobId: string, kind: RetryKind): Promise<number> {
  const failed = (await getResults(jobId)).filter((r) => wanted(r, kind)).map((r) => r.index);
  if (!failed.length) return 0;
  await jobStore(jobId)('readwrite', (s) => {
    const read = readProgress(s);
    read.onsuccess = () => {
      if (!read.result) return;
      const progress = normalizeProgress(read.result);
      const queued = new Set(progress.retry);
      for (const index of failed) {
        queued.add(index);
        for (const scope of ATTEMPT_SCOPES) {
          s.delete(KEYS.attempts(index, scope));
        }
      }
      s.put(
        {
          ...progress,
          retry: [...queued].sort((a, b) => a - b),
          state: 'paused',
          stopReason: null
        } satisfies JobProgress,
        KEYS.progress
      );
    };
    return promisifyRequest(s.transaction);
  });
  return failed.length;
}

/** Results with index in [from, to), in index order. */
export function getResults(
  jobId: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER,
  /** At most this many (the first ones in the range). */
  limit?: number
): Promise<ItemResult[]> {
  return jobStore(jobId)('readonly', (s) =>
    promisifyRequest(s.getAll(range('out', from, to), limit) as IDBRequest<ItemResult[]>)
  );
}

/** Inputs with index in [from, to), in index order. */
export function getInputs(
  jobId: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER
): Promise<ItemInput[]> {
  return jobStore(jobId)('readonly', (s) => readInputs(s, from, to));
}

export async function getTries(jobId: string, index: number): Promise<ItemTries> {
  return (
    (await get<ItemTries>(KEYS.attempts(index), jobStore(jobId))) ?? { count: 0, lastError: null }
  );
}

/** Deletes a job and everything stored for it. */
export async function deleteJob(jobId: string): Promise<void> {
  await del(jobId, catalogStore());
  await deleteJobDatabase(jobId);
}

/**
 * Commits results that arrived from elsewhere (a batch output file) in one transaction:
 * the results they replace are read in it, and `advance` turns the stored progress and
 * each result with the one it replaces into the new progress.
 */
export function commitImported(
  jobId: string,
  results: readonly ItemResult[],
  advance: (progress: JobProgress, replaced: (ItemResult | undefined)[]) => JobProgress
): Promise<void> {
  return jobStore(jobId)('readwrite', (s) => {
    const progressRead = readProgress(s);
    const reads = results.map(
      (result) => s.get(KEYS.result(result.index)) as IDBRequest<ItemResult | undefined>
    );
    // Requests in one transaction complete in order: the last read done, every read is.
    const last = reads.at(-1) ?? progressRead;
    last.onsuccess = () => {
      if (!progressRead.result) return;
      for (const result of results) s.put(result, KEYS.result(result.index));
      s.put(
        advance(
          normalizeProgress(progressRead.result),
          reads.map((read) => read.result)
        ),
        KEYS.progress
      );
    };
    return promisifyRequest(s.transaction);
  });
}
