// Jobs in the store on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import {
  appendLog,
  createJob,
  deleteJob,
  getInput,
  getInputs,
  getJob,
  getLog,
  getProgress,
  getResults,
  getTries,
  initialProgress,
  listJobs,
  markPaused,
  clearPauseRequest,
  pauseRequested,
  queueAgain,
  requestPause,
  saveProgress,
  readAhead,
  recordFailure,
  writeRun
} from '$lib/store/jobs';
import { failed, items, meta } from './stored-job';

describe('jobs: Pause', () => {
  it('a Pause is stored apart from the progress, until Start or Resume takes it back', async () => {
    await createJob(meta('pause', 3), items(3), [10, 10, 10]);
    expect(await pauseRequested('pause')).toBe(false);
    await requestPause('pause', 42);
    // The run writes its progress whole: the Pause stays.
    await saveProgress('pause', { ...initialProgress(1), state: 'running', cursor: 1 });
    expect(await pauseRequested('pause')).toBe(true);
    await clearPauseRequest('pause');
    expect(await pauseRequested('pause')).toBe(false);
  });

  it('markPaused stores a job left running as paused, and leaves every other state', async () => {
    await createJob(meta('left', 3), items(3), [10, 10, 10]);
    const running = { ...initialProgress(1), state: 'running' as const, cursor: 2, done: 2 };
    await saveProgress('left', running);
    expect(await markPaused('left', 99)).toEqual({
      progress: { ...running, state: 'paused', stopReason: null, updatedAt: 99 },
      changed: true
    });
    const completed = { ...running, state: 'completed' as const, cursor: 3, done: 3 };
    await saveProgress('left', completed);
    expect(await markPaused('left', 100)).toEqual({ progress: completed, changed: false });
  });
});

describe('jobs', () => {
  it('stores inputs 256 to a record and reads any range of them, across records', async () => {
    await createJob(meta('chunks', 600), items(600), new Array<number>(600).fill(10));
    const indices = (list: { index: number }[]) => list.map((input) => input.index);
    expect(indices(await getInputs('chunks', 250, 520))).toEqual(
      Array.from({ length: 270 }, (_, i) => 250 + i)
    );
    expect(indices(await getInputs('chunks'))).toHaveLength(600);
    expect(await getInput('chunks', 599)).toMatchObject({ index: 599, customId: 'q-600' });
    expect((await readAhead('chunks', 510, 515)).inputs.map((input) => input.customId)).toEqual([
      'q-511',
      'q-512',
      'q-513',
      'q-514',
      'q-515'
    ]);
    await expect(getInput('chunks', 600)).rejects.toThrow('Item 601 of job chunks is missing');
  });

  it('writes results, tries, log lines and progress in one write; reads inputs with their tries', async () => {
    await createJob(meta('tries', 3), items(3), [10, 10, 10]);
    const lost = { code: 'device-lost' as const, message: 'lost' };
    const entry = { at: 5, index: 0, kind: 'restart' as const, message: 'restarted' };
    const progress = { ...initialProgress(1), cursor: 3, failed: 1 };
    await writeRun('tries', {
      results: [failed(2)],
      tries: [
        { index: 0, scope: 'item', tries: { count: 2, lastError: lost } },
        { index: 1, scope: 'batch', tries: { count: 1, lastError: null } }
      ],
      log: [entry],
      progress
    });
    await writeRun('tries', { results: [], tries: [], log: [{ ...entry, at: 6 }], progress: null });
    expect(await getTries('tries', 0)).toEqual({ count: 2, lastError: lost });
    expect((await getLog('tries')).map((e) => e.at)).toEqual([5, 6]);
    expect(await getProgress('tries')).toEqual(progress);
    expect((await getResults('tries')).map((r) => r.index)).toEqual([2]);
    // A failure recorded by the page (a hung item) keeps the count.
    await recordFailure('tries', 0, { code: 'hung', message: 'hung' });
    const ahead = await readAhead('tries', 0, 2);
    expect(ahead.inputs.map((input) => input.index)).toEqual([0, 1]);
    expect(ahead.tries).toEqual([
      {
        index: 0,
        scope: 'item',
        tries: { count: 2, lastError: { code: 'hung', message: 'hung' } }
      },
      { index: 1, scope: 'batch', tries: { count: 1, lastError: null } }
    ]);
    expect((await readAhead('tries', 2, 3)).tries).toEqual([]);
  });

  it('queues failed items again with fresh attempts; the log appends', async () => {
    await createJob(meta('retry', 3), items(3), [10, 10, 10]);
    const progress = { ...initialProgress(1), cursor: 3, failed: 2, done: 1 };
    await writeRun('retry', {
      results: [failed(1), failed(2)],
      tries: [{ index: 1, scope: 'item', tries: { count: 1, lastError: null } }],
      log: [],
      progress
    });
    expect(await queueAgain('retry', 'unparsed')).toBe(0);
    expect(await queueAgain('retry', 'failed')).toBe(2);
    expect(await getProgress('retry')).toMatchObject({ retry: [1, 2], state: 'paused' });
    expect(await getTries('retry', 1)).toEqual({ count: 0, lastError: null });
    expect((await getResults('retry')).map((r) => r.index)).toEqual([1, 2]);
    const entry = { at: 5, index: null, kind: 'resumed' as const, message: 'again' };
    await Promise.all([appendLog('retry', entry), appendLog('retry', { ...entry, at: 6 })]);
    expect((await getLog('retry')).map((e) => e.at)).toEqual([5, 6]);
  });

  it('lists jobs newest first and deletes one with everything stored for it', async () => {
    await createJob({ ...meta('old', 1), createdAt: 10 }, items(1), [10]);
    await createJob({ ...meta('new', 1), createdAt: 20 }, items(1), [10]);
    const ids = (await listJobs()).map((job) => job.id);
    expect(ids.indexOf('new')).toBeLessThan(ids.indexOf('old'));
    await deleteJob('old');
    expect(await getJob('old')).toBeUndefined();
    await expect(getProgress('old')).rejects.toThrow('has no progress record');
  });
});
