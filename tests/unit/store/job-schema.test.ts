// A job database's schema version and its migration, on an in-memory IndexedDB (fake-indexeddb).
// The jobs "stored by the previous version" are written record by record, in the layout that
// version wrote (names and keys spelled out here, as they are on users' disks).
import 'fake-indexeddb/auto';
import { createStore, entries, set, setMany, type UseStore } from 'idb-keyval';
import { describe, expect, it } from 'vitest';
import type { ItemInput, ItemResult, JobProgress } from '$lib/shared/job';
import { progressAfter } from '$lib/shared/progress';
import {
  JOB_SCHEMA_VERSION,
  migrateJob,
  normalizeProgress,
  type StoredProgress
} from '$lib/store/job-schema';
import {
  getInput,
  getInputs,
  getItemIds,
  getJob,
  getLog,
  getProgress,
  getPromptTokens,
  getResults,
  getTries,
  queueAgain,
  readAhead,
  writeRun
} from '$lib/store/jobs';
import { failed, items, meta } from './stored-job';

/** A job's database as the previous version opened it (no version, no migration). */
function previousStore(jobId: string): UseStore {
  return createStore(`localbatch-job-${jobId}`, 'items');
}

/** Progress as the oldest jobs stored it: none of the fields added since. */
const OLDEST_PROGRESS = {
  cursor: 2,
  done: 1,
  failed: 1,
  promptTokens: 20,
  completionTokens: 8,
  elapsedMs: 50,
  state: 'paused',
  stopReason: null,
  updatedAt: 7
} satisfies StoredProgress;

/** Progress as the previous version's createJob stored it (its initialProgress). */
const PREVIOUS_INITIAL_PROGRESS = {
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
  updatedAt: 1
} satisfies StoredProgress;

const DEFAULTS = {
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
};

function inputs(n: number): ItemInput[] {
  return items(n).map((item, index) => ({ ...item, index }));
}

function done(index: number): ItemResult {
  return {
    ...failed(index),
    status: 'done',
    text: 'yes',
    error: null,
    usage: { prompt_tokens: 10, completion_tokens: 4, total_tokens: 14 }
  };
}

/**
 * Writes a job that the previous version stored before inputs went into chunks: one
 * record per input, the oldest progress, a result each for items 0 and 1, a try at 2.
 */
async function storeBeforeChunks(jobId: string, n: number): Promise<void> {
  await set(jobId, meta(jobId, n), createStore('localbatch', 'jobs'));
  await setMany(
    [
      ...inputs(n).map((input): [IDBValidKey, unknown] => [['in', input.index], input]),
      ['ids', items(n).map((item) => item.customId)],
      ['prompt-tokens', new Array<number>(n).fill(10)],
      ['log', [{ at: 3, index: 1, kind: 'restart', message: 'restarted' }]],
      ['progress', OLDEST_PROGRESS],
      [['out', 0], done(0)],
      [['out', 1], failed(1)],
      [['try', 2], { count: 1, lastError: { code: 'device-lost', message: 'lost' } }],
      [['batch-try', 2], { count: 2, lastError: null }]
    ],
    previousStore(jobId)
  );
}

const keysOf = async (store: UseStore) => (await entries(store)).map(([key]) => key);

describe('a job stored by the previous version', () => {
  it('opens, reads the same and runs on: inputs stored one record each move into chunks once', async () => {
    await storeBeforeChunks('legacy', 600);

    expect(await getJob('legacy')).toEqual(meta('legacy', 600));
    expect(await getInputs('legacy')).toEqual(inputs(600));
    expect((await getInputs('legacy', 250, 520)).map((input) => input.index)).toEqual(
      Array.from({ length: 270 }, (_, i) => 250 + i)
    );
    expect(await getInput('legacy', 599)).toMatchObject({ index: 599, customId: 'q-600' });
    expect((await getInputs('legacy', 1, 3)).map((input) => input.customId)).toEqual([
      'q-2',
      'q-3'
    ]);
    expect((await readAhead('legacy', 0, 2)).inputs.map((input) => input.index)).toEqual([0, 1]);
    expect(await getProgress('legacy')).toEqual({ ...OLDEST_PROGRESS, ...DEFAULTS });
    expect(await getResults('legacy')).toEqual([done(0), failed(1)]);
    expect(await getTries('legacy', 2)).toEqual({
      count: 1,
      lastError: { code: 'device-lost', message: 'lost' }
    });
    expect(await getItemIds('legacy')).toEqual(items(600).map((item) => item.customId));
    expect(await getPromptTokens('legacy')).toHaveLength(600);
    expect((await getLog('legacy')).map((entry) => entry.kind)).toEqual(['restart']);

    // On disk: chunks and the version, no record of one input left.
    const keys = await keysOf(previousStore('legacy'));
    expect(keys.filter((key) => Array.isArray(key) && key[0] === 'in')).toEqual([]);
    expect(keys.filter((key) => Array.isArray(key) && key[0] === 'ins')).toEqual([
      ['ins', 0],
      ['ins', 1],
      ['ins', 2]
    ]);
    expect(await entries(previousStore('legacy'))).toContainEqual(['schema', JOB_SCHEMA_VERSION]);

    // Runs on: the next result commits and moves the cursor; the tries still read ahead.
    const progress = await getProgress('legacy');
    const next = progressAfter(progress, done(2), null, 5, 9);
    await writeRun('legacy', { results: [done(2)], tries: [], log: [], progress: next });
    expect(await getProgress('legacy')).toMatchObject({ cursor: 3, done: 2, failed: 1 });
    const ahead = await readAhead('legacy', 2, 4);
    expect(ahead.inputs.map((input) => input.index)).toEqual([2, 3]);
    expect(ahead.tries.map(({ index, scope }) => [index, scope])).toEqual([
      [2, 'item'],
      [2, 'batch']
    ]);
    expect(await queueAgain('legacy', 'failed')).toBe(1);
    expect(await getProgress('legacy')).toMatchObject({ retry: [1], state: 'paused' });
  });

  it('a job stored in chunks by the previous version reads the same, with progress filled in', async () => {
    await set('today', meta('today', 300), createStore('localbatch', 'jobs'));
    await setMany(
      [
        [['ins', 0], inputs(256)],
        [['ins', 1], inputs(300).slice(256)],
        ['ids', items(300).map((item) => item.customId)],
        ['prompt-tokens', new Array<number>(300).fill(10)],
        ['log', []],
        ['progress', PREVIOUS_INITIAL_PROGRESS]
      ],
      previousStore('today')
    );
    expect(await getInputs('today')).toEqual(inputs(300));
    expect(await getProgress('today')).toEqual({ ...PREVIOUS_INITIAL_PROGRESS, ...DEFAULTS });
    expect(await entries(previousStore('today'))).toContainEqual(['schema', JOB_SCHEMA_VERSION]);
  });

  it('runs the migration once: again, it changes nothing', async () => {
    await storeBeforeChunks('twice', 300);
    const store = previousStore('twice');
    await migrateJob(store);
    const once = await entries(store);
    await migrateJob(store);
    expect(await entries(store)).toEqual(once);
  });

  it('two contexts migrating at once leave one set of chunks', async () => {
    await storeBeforeChunks('both', 300);
    await Promise.all([migrateJob(previousStore('both')), migrateJob(previousStore('both'))]);
    const keys = await keysOf(previousStore('both'));
    expect(keys.filter((key) => Array.isArray(key) && key[0] === 'in')).toEqual([]);
    expect(await getInputs('both')).toEqual(inputs(300));
  });

  it('a crash during the migration leaves the job as it was, and the migration runs again', async () => {
    await storeBeforeChunks('crash', 300);
    const store = previousStore('crash');
    const before = await entries(store);
    // The tab dies after the first chunk is written: the transaction never commits.
    const crashing: UseStore = (mode, callback) =>
      store(mode, (s) => {
        if (mode === 'readwrite') {
          const put = s.put.bind(s);
          s.put = (value, key) => {
            const request = put(value, key);
            s.transaction.abort();
            return request;
          };
        }
        return callback(s);
      });
    await expect(migrateJob(crashing)).rejects.toBeDefined();
    expect(await entries(store)).toEqual(before);
    expect(await getInputs('crash')).toEqual(inputs(300));
    expect(await entries(store)).toContainEqual(['schema', JOB_SCHEMA_VERSION]);
  });

  it('leaves a database without progress alone (a job being stored, or deleted)', async () => {
    const store = previousStore('empty');
    await migrateJob(store);
    expect(await entries(store)).toEqual([]);
  });
});

describe('normalizeProgress', () => {
  it('gives the fields a job was stored without their defaults, and keeps the rest', () => {
    expect(normalizeProgress(OLDEST_PROGRESS)).toEqual({ ...OLDEST_PROGRESS, ...DEFAULTS });
    const full: JobProgress = {
      ...PREVIOUS_INITIAL_PROGRESS,
      ahead: [[4, 6]],
      suspects: [3],
      suspectRun: 'half',
      skipped: 1,
      unparsed: 2,
      cachedTokens: 96,
      retry: [1],
      windowCap: 2048,
      sequencesCap: 4,
      plan: null
    };
    expect(normalizeProgress(full)).toEqual(full);
    expect(normalizeProgress({ ...OLDEST_PROGRESS, suspects: [5] }).suspects).toEqual([5]);
  });
});
