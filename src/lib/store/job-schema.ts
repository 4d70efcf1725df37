/**
 * A job database's layout: its keys, its schema version and the step that brings an
 * older layout up to date (Workbox's QueueDb keeps a DB_VERSION and an upgrade step;
 * idb-keyval opens databases without a version, so the version is a record here).
 *
 * Inside a job's store:
 *   'schema'         the layout's version (absent: version 1, as jobs were stored before it)
 *   'progress'       JobProgress: cursor, counts, state (one small record)
 *   'ids'            every item's custom_id, in order (for the results list)
 *   ['ins', k]       ItemInput[] of items k * 256 to k * 256 + 255, written once at import
 *   ['out', i]       ItemResult, written with 'progress' in one transaction
 *   ['try', i]       attempts made at item i, written as each generation starts
 *   'pause'          when Pause was pressed, until Start or Resume (absent: not paused by the user)
 *
 * Version 1 also allowed ['in', i], one ItemInput each (jobs stored before chunks);
 * version 2 has chunks only. A field added to JobProgress later needs no version:
 * normalizeProgress gives it its default where the store reads progress.
 */
import { promisifyRequest, type UseStore } from 'idb-keyval';
import type { ItemInput, JobProgress } from '$lib/shared/job';

export const JOB_SCHEMA_VERSION = 2;

/** Inputs are stored this many to a record: a record costs far more than its bytes. */
export const INPUT_CHUNK = 256;

/**
 * Whose attempts are counted: an item's own, alone (they decide poison); the item's
 * while it ran together with others (only numbered); or those of the batch of pairs
 * that starts at that item (a batch that keeps failing is split).
 */
export type AttemptScope = 'item' | 'shared' | 'batch';

export const ATTEMPT_SCOPES: readonly AttemptScope[] = ['item', 'shared', 'batch'];

/** The first part of the keys of a scope's tries. */
export function attemptKind(scope: AttemptScope): string {
  return scope === 'item' ? 'try' : `${scope}-try`;
}

/** Keys [kind, i] with i in [from, to). */
export function range(kind: string, from: number, to: number): IDBKeyRange {
  return IDBKeyRange.bound([kind, from], [kind, to], false, true);
}

/** Keys inside a job's store. */
export const KEYS = {
  schema: 'schema',
  progress: 'progress',
  ids: 'ids',
  log: 'log',
  /** When Pause was pressed (ms): the job stays paused, whatever its run did, until Start or Resume. */
  pause: 'pause',
  /** Prompt tokens of every item, in order: estimates, then exact once the tokenizer counted (`needs.exact`). */
  promptTokens: 'prompt-tokens',
  inputs: (chunk: number): IDBValidKey => ['ins', chunk],
  result: (index: number): IDBValidKey => ['out', index],
  attempts: (index: number, scope: AttemptScope = 'item'): IDBValidKey => [
    attemptKind(scope),
    index
  ]
} as const;

/** Fields that jobs stored by earlier versions may lack, and their values for those jobs. */
const PROGRESS_DEFAULTS = {
  ahead: [],
  suspects: [],
  suspectRun: 'together',
  skipped: 0,
  unparsed: 0,
  cachedTokens: 0,
  retry: [],
  windowCap: null,
  sequencesCap: null,
  plan: null
} satisfies Partial<JobProgress>;

/** Progress as stored: a job stored before a field existed has no value for it. */
export type StoredProgress = Omit<JobProgress, keyof typeof PROGRESS_DEFAULTS> &
  Partial<Pick<JobProgress, keyof typeof PROGRESS_DEFAULTS>>;

/** Stored progress with every field: the ones its job was stored without get their defaults. */
export function normalizeProgress(stored: StoredProgress): JobProgress {
  return {
    ...stored,
    ahead: stored.ahead ?? PROGRESS_DEFAULTS.ahead,
    suspects: stored.suspects ?? PROGRESS_DEFAULTS.suspects,
    suspectRun: stored.suspectRun ?? PROGRESS_DEFAULTS.suspectRun,
    skipped: stored.skipped ?? PROGRESS_DEFAULTS.skipped,
    unparsed: stored.unparsed ?? PROGRESS_DEFAULTS.unparsed,
    cachedTokens: stored.cachedTokens ?? PROGRESS_DEFAULTS.cachedTokens,
    retry: stored.retry ?? PROGRESS_DEFAULTS.retry,
    windowCap: stored.windowCap ?? PROGRESS_DEFAULTS.windowCap,
    sequencesCap: stored.sequencesCap ?? PROGRESS_DEFAULTS.sequencesCap,
    plan: stored.plan ?? PROGRESS_DEFAULTS.plan
  };
}

/** Version 1's keys of one input each: ['in', i]. */
function singleInputs(): IDBKeyRange {
  return range('in', 0, Number.MAX_SAFE_INTEGER);
}

/**
 * Brings a job's database to JOB_SCHEMA_VERSION, once: a read finds it current, or one
 * transaction rewrites it and stamps the version. The transaction is all or nothing, so
 * a crash midway leaves version 1 as it was (readable by this code and the previous one)
 * and the step runs again at the next open; two contexts opening the job at once both
 * try, and the second finds the version stamped inside its transaction. A database with
 * no progress record is a job not stored yet (createJob stamps it) or deleted: left alone.
 */
export async function migrateJob(store: UseStore): Promise<void> {
  const current = (version: unknown) =>
    typeof version === 'number' && version >= JOB_SCHEMA_VERSION;
  if (current(await store('readonly', (s) => promisifyRequest(s.get(KEYS.schema))))) return;
  await store('readwrite', (s) => {
    const version = s.get(KEYS.schema);
    const progress = s.get(KEYS.progress);
    const singles = s.getAll(singleInputs()) as IDBRequest<ItemInput[]>;
    // Requests in one transaction complete in order: the last read done, every read is.
    singles.onsuccess = () => {
      if (current(version.result) || progress.result === undefined) return;
      chunkSingleInputs(s, singles.result);
      s.put(JOB_SCHEMA_VERSION, KEYS.schema);
    };
    return promisifyRequest(s.transaction);
  });
}

/**
 * Version 1 -> 2: inputs stored one record each move into chunks. A job was stored in
 * one layout or the other (inputs are written once, at import), so no chunk is overwritten.
 */
function chunkSingleInputs(s: IDBObjectStore, singles: ItemInput[]): void {
  if (!singles.length) return;
  const chunks = new Map<number, ItemInput[]>();
  for (const input of singles) {
    const chunk = Math.floor(input.index / INPUT_CHUNK);
    const inputs = chunks.get(chunk);
    if (inputs) inputs.push(input);
    else chunks.set(chunk, [input]);
  }
  for (const [chunk, inputs] of chunks) s.put(inputs, KEYS.inputs(chunk));
  s.delete(singleInputs());
}
