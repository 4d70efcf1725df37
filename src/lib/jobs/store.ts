/**
 * The only module that touches IndexedDB (through idb-keyval).
 *
 * Layout: one catalog database lists the jobs (id -> JobMeta); every job has a
 * database of its own, so opening or resuming one job never reads another's
 * items. Inside a job's store:
 *   'progress'       JobProgress: cursor, counts, state (one small record)
 *   'ids'            every item's custom_id, in order (for the results list)
 *   ['in', i]        ItemInput, written once at import
 *   ['out', i]       ItemResult, written with 'progress' in one transaction
 *   ['try', i]       attempts made at item i, written before each generation
 * Resuming reads 'progress' alone, so a job of 100,000 items resumes as fast
 * as a job of 10. Results are keyed by index: a re-run after a crash
 * overwrites, so results are exactly-once although runs are at-least-once.
 */
import { createStore, del, get, promisifyRequest, set, type UseStore } from 'idb-keyval';
import { DEFAULT_SAFETY_MARGIN } from '$lib/gpu/plan';
import type { JobNeeds } from '$lib/gpu/types';
import type {
  ItemError,
  ItemInput,
  ItemResult,
  ItemTries,
  JobMeta,
  JobProgress,
  MachineSettings,
  ParsedItem,
  RunLogEntry
} from './types';

const CATALOG_DB = 'localbatch';
const CATALOG_STORE = 'jobs';
const JOB_DB_PREFIX = 'localbatch-job-';
const JOB_STORE = 'items';
const SETTINGS_DB = 'localbatch-settings';
const SETTINGS_STORE = 'settings';
const SETTINGS_KEY = 'machine';
/** Model ids whose download was started and has not finished or been stopped. */
const DOWNLOADS_KEY = 'downloads';

export const KEYS = {
  progress: 'progress',
  ids: 'ids',
  log: 'log',
  /** Prompt tokens of every item, in order: estimates, then exact once the tokenizer counted (`needs.exact`). */
  promptTokens: 'prompt-tokens',
  input: (index: number): IDBValidKey => ['in', index],
  result: (index: number): IDBValidKey => ['out', index],
  attempts: (index: number): IDBValidKey => ['try', index]
} as const;

let catalog: UseStore | null = null;
let settings: UseStore | null = null;
const jobStores = new Map<string, UseStore>();

function catalogStore(): UseStore {
  catalog ??= createStore(CATALOG_DB, CATALOG_STORE);
  return catalog;
}

function jobStore(jobId: string): UseStore {
  let store = jobStores.get(jobId);
  if (!store) {
    store = createStore(JOB_DB_PREFIX + jobId, JOB_STORE);
    jobStores.set(jobId, store);
  }
  return store;
}

function settingsStore(): UseStore {
  settings ??= createStore(SETTINGS_DB, SETTINGS_STORE);
  return settings;
}

/** The margin's default and its reasons: DEFAULT_SAFETY_MARGIN in the memory plan. */
export const DEFAULT_MACHINE_SETTINGS: MachineSettings = {
  gpuMemoryMB: null,
  safetyMargin: DEFAULT_SAFETY_MARGIN,
  autoResume: true,
  modelMirror: null,
  modelMirrorPending: null
};

export async function getSettings(): Promise<MachineSettings> {
  const stored = await get<Partial<MachineSettings>>(SETTINGS_KEY, settingsStore());
  return { ...DEFAULT_MACHINE_SETTINGS, ...stored };
}

export function saveSettings(value: MachineSettings): Promise<void> {
  return set(SETTINGS_KEY, value, settingsStore());
}

/** Models whose download should continue when the Models page opens (it was interrupted). */
export async function getPendingDownloads(): Promise<string[]> {
  return (await get<string[]>(DOWNLOADS_KEY, settingsStore())) ?? [];
}

/** Marks a model's download as wanted (started) or not (finished, stopped or deleted). */
export function setPendingDownload(modelId: string, pending: boolean): Promise<void> {
  return settingsStore()('readwrite', (s) => {
    const read = s.get(DOWNLOADS_KEY) as IDBRequest<string[] | undefined>;
    read.onsuccess = () => {
      const others = (read.result ?? []).filter((id) => id !== modelId);
      s.put(pending ? [...others, modelId] : others, DOWNLOADS_KEY);
    };
    return promisifyRequest(s.transaction);
  });
}

export function jobDatabaseName(jobId: string): string {
  return JOB_DB_PREFIX + jobId;
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
    completionTokens: 0,
    elapsedMs: 0,
    state: 'idle',
    stopReason: null,
    windowCap: null,
    plan: null,
    retry: [],
    updatedAt: now
  };
}

/**
 * Stores a new job: its items and progress in one transaction, then its entry
 * in the catalog. Until the catalog entry exists the job is invisible, so a
 * failed import leaves nothing behind that the user can see.
 */
export async function createJob(
  meta: JobMeta,
  items: ParsedItem[],
  promptTokens: number[]
): Promise<void> {
  const store = jobStore(meta.id);
  try {
    await store('readwrite', (s) => {
      items.forEach((item, index) => {
        const input: ItemInput = { ...item, index };
        s.put(input, KEYS.input(index));
      });
      s.put(
        items.map((item) => item.customId),
        KEYS.ids
      );
      s.put(promptTokens, KEYS.promptTokens);
      s.put([], KEYS.log);
      s.put(initialProgress(meta.createdAt), KEYS.progress);
      return promisifyRequest(s.transaction);
    });
    await set(meta.id, meta, catalogStore());
  } catch (error) {
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
  const progress = await get<JobProgress>(KEYS.progress, jobStore(jobId));
  if (!progress) throw new Error(`Job ${jobId} has no progress record; it may have been deleted.`);
  return progress;
}

export function saveProgress(jobId: string, progress: JobProgress): Promise<void> {
  return set(KEYS.progress, progress, jobStore(jobId));
}

export async function getInput(jobId: string, index: number): Promise<ItemInput> {
  const input = await get<ItemInput>(KEYS.input(index), jobStore(jobId));
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
  await catalogStore()('readwrite', (s) => {
    const read = s.get(jobId) as IDBRequest<JobMeta | undefined>;
    read.onsuccess = () => {
      if (read.result) s.put({ ...read.result, needs }, jobId);
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

/** Appends to the job's run log, and saves its progress when given, in one transaction. */
export function appendLog(
  jobId: string,
  entry: RunLogEntry,
  progress?: JobProgress
): Promise<void> {
  return jobStore(jobId)('readwrite', (s) => {
    const read = s.get(KEYS.log) as IDBRequest<RunLogEntry[] | undefined>;
    read.onsuccess = () => s.put([...(read.result ?? []), entry], KEYS.log);
    if (progress) s.put(progress, KEYS.progress);
    return promisifyRequest(s.transaction);
  });
}

/**
 * Counts an attempt at an item before it is sent to the engine, unless
 * `max` attempts were made already. Returns the tries as they now stand, and
 * whether the item is out of attempts (then nothing is counted).
 */
export async function recordAttempt(
  jobId: string,
  index: number,
  max: number
): Promise<ItemTries & { exhausted: boolean }> {
  return jobStore(jobId)('readwrite', (s) => {
    const key = KEYS.attempts(index);
    const read = s.get(key) as IDBRequest<ItemTries | undefined>;
    let tries: ItemTries & { exhausted: boolean } = { count: 0, lastError: null, exhausted: false };
    read.onsuccess = () => {
      const before = read.result ?? { count: 0, lastError: null };
      if (before.count >= max) {
        tries = { ...before, exhausted: true };
        return;
      }
      const next = { count: before.count + 1, lastError: before.lastError };
      s.put(next, key);
      tries = { ...next, exhausted: false };
    };
    return promisifyRequest(s.transaction).then(() => tries);
  });
}

/** Remembers why the latest attempt at an item did not finish it. */
export function recordFailure(jobId: string, index: number, error: ItemError): Promise<void> {
  return jobStore(jobId)('readwrite', (s) => {
    const key = KEYS.attempts(index);
    const read = s.get(key) as IDBRequest<ItemTries | undefined>;
    read.onsuccess = () => s.put({ count: read.result?.count ?? 0, lastError: error }, key);
    return promisifyRequest(s.transaction);
  });
}

/**
 * Queues every failed item again, with fresh attempts, in one transaction.
 * Returns how many were queued.
 */
export async function queueFailedItems(jobId: string): Promise<number> {
  const failed = (await getResults(jobId)).filter((r) => r.status === 'failed').map((r) => r.index);
  if (!failed.length) return 0;
  await jobStore(jobId)('readwrite', (s) => {
    const read = s.get(KEYS.progress) as IDBRequest<JobProgress | undefined>;
    read.onsuccess = () => {
      const progress = read.result;
      if (!progress) return;
      const queued = new Set(progress.retry ?? []);
      for (const index of failed) {
        queued.add(index);
        s.delete(KEYS.attempts(index));
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

/** Writes a finished item and the job's new progress in one transaction. */
export function commitResult(
  jobId: string,
  result: ItemResult,
  progress: JobProgress
): Promise<void> {
  return jobStore(jobId)('readwrite', (s) => {
    s.put(result, KEYS.result(result.index));
    s.put(progress, KEYS.progress);
    return promisifyRequest(s.transaction);
  });
}

function range(kind: 'in' | 'out', from: number, to: number): IDBKeyRange {
  return IDBKeyRange.bound([kind, from], [kind, to], false, true);
}

/** Results with index in [from, to), in index order. */
export function getResults(
  jobId: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER
): Promise<ItemResult[]> {
  return jobStore(jobId)('readonly', (s) =>
    promisifyRequest(s.getAll(range('out', from, to)) as IDBRequest<ItemResult[]>)
  );
}

/** Inputs with index in [from, to), in index order. */
export function getInputs(
  jobId: string,
  from = 0,
  to = Number.MAX_SAFE_INTEGER
): Promise<ItemInput[]> {
  return jobStore(jobId)('readonly', (s) =>
    promisifyRequest(s.getAll(range('in', from, to)) as IDBRequest<ItemInput[]>)
  );
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

/** What this origin stores and may store, where the browser says. */
export async function storageEstimate(): Promise<{ usage: number; quota: number } | null> {
  const estimate = await globalThis.navigator?.storage?.estimate?.();
  if (!estimate || estimate.quota === undefined) return null;
  return { usage: estimate.usage ?? 0, quota: estimate.quota };
}

async function deleteJobDatabase(jobId: string): Promise<void> {
  const store = jobStores.get(jobId);
  jobStores.delete(jobId);
  // Close our own connection first, or the deletion waits for it forever.
  if (store) await store('readonly', (s) => s.transaction.db.close()).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(jobDatabaseName(jobId));
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}
