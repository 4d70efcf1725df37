// The job page's view of a job, over the real store on an in-memory IndexedDB (fake-indexeddb).
// The store's reads are wrapped in spies, to count them and to hold one back.
import 'fake-indexeddb/auto';
import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PreflightResult } from '$lib/gpu/preflight';
import type { JobBroadcast, RowSummary } from '$lib/page/job-broadcast';
import { JobSession, type JobStatus } from '$lib/page/job-session.svelte';
import { NOT_SCORED } from '$lib/presets/score-pairs';
import type { ItemResult, JobMeta, JobProgress, RunLogEntry } from '$lib/shared/job';
import type { ItemError } from '$lib/shared/stop';
import * as jobs from '$lib/store/jobs';
import { jobDatabaseName } from '$lib/shared/storage-names';
import type { RunEvent } from '$lib/worker/runner';

vi.mock('$lib/store/jobs', async (importOriginal) => {
  const real = await importOriginal<typeof jobs>();
  return {
    ...real,
    getJob: vi.fn(real.getJob),
    getProgress: vi.fn(real.getProgress),
    getItemIds: vi.fn(real.getItemIds),
    getLog: vi.fn(real.getLog),
    getPromptTokens: vi.fn(real.getPromptTokens),
    getResults: vi.fn(real.getResults)
  };
});

const store = vi.mocked(jobs);
const LOST: ItemError = { code: 'device-lost', message: 'The GPU was lost.' };

// --- Jobs, progress and results -------------------------------------------------------------

let jobCount = 0;

function meta(id: string, total: number, scoring = false): JobMeta {
  return {
    id,
    name: id,
    createdAt: 1,
    sourceFileName: 'in.jsonl',
    format: scoring ? 'sharegpt' : 'jsonl',
    total,
    settings: {
      name: id,
      systemPrompt: '',
      temperature: 0,
      top_p: 1,
      max_tokens: 8,
      seed: 0,
      preset: scoring
        ? {
            id: 'score-pairs',
            rubric: 'Score it.',
            language: 'en',
            pairsPerPrompt: 1,
            keepScoreAtLeast: 2
          }
        : null
    },
    engine: { kind: 'webllm', modelId: null },
    needs: { longestPromptTokens: 10, maxAnswerTokens: 8, exact: false }
  };
}

function progress(patch: Partial<JobProgress> = {}): JobProgress {
  return { ...jobs.initialProgress(0), ...patch };
}

function done(index: number, text = `answer ${index + 1}`, tokens = 3): ItemResult {
  return {
    index,
    customId: `q-${index + 1}`,
    status: 'done',
    text,
    finishReason: 'stop',
    usage: { prompt_tokens: 10, completion_tokens: tokens, total_tokens: 10 + tokens },
    error: null,
    model: 'm',
    finishedAt: 2,
    attempts: 1
  };
}

function failed(index: number, message = 'The prompt is too long.'): ItemResult {
  return {
    ...done(index, ''),
    status: 'failed',
    finishReason: null,
    usage: null,
    error: { code: 'context-exceeded', message }
  };
}

function skipped(index: number): ItemResult {
  return { ...done(index, ''), status: 'skipped', usage: null, skipReason: 'The pair has images.' };
}

/** A scoring job's result: the answer gave this score (0: it did not parse). */
function scored(index: number, score: number): ItemResult {
  return {
    ...done(index, `{"score": ${score}}`),
    answer: score ? { ok: true, value: { score } } : { ok: false, reason: 'Not JSON.' }
  };
}

function logEntry(at: number, kind: RunLogEntry['kind'] = 'step-down'): RunLogEntry {
  return { at, index: null, kind, message: `${kind} at ${at}` };
}

/** Stores a job of `total` items with these results, run log and progress; returns its id. */
async function storeJob(
  total: number,
  stored: {
    results?: ItemResult[];
    log?: RunLogEntry[];
    progress?: JobProgress;
    scoring?: boolean;
  } = {}
): Promise<string> {
  const id = `job-${++jobCount}`;
  const items = Array.from({ length: total }, (_, i) => ({
    line: i + 1,
    customId: `q-${i + 1}`,
    messages: [{ role: 'user' as const, content: `prompt ${i + 1}` }],
    params: {}
  }));
  await jobs.createJob(
    meta(id, total, stored.scoring),
    items,
    items.map((_, i) => 10 + i)
  );
  await jobs.writeRun(id, {
    results: stored.results ?? [],
    tries: [],
    log: stored.log ?? [],
    progress: stored.progress ?? null
  });
  return id;
}

// --- Sessions --------------------------------------------------------------------------------

let stop = () => {};

/** A session as the page makes it: inside an effect root. */
function session(jobId = 'job-0'): JobSession {
  let made!: JobSession;
  stop = $effect.root(() => {
    made = new JobSession(jobId);
  });
  return made;
}

async function opened(jobId: string): Promise<JobSession> {
  const s = session(jobId);
  await s.open();
  return s;
}

function item(index: number, attempt = 1): RunEvent {
  return { type: 'item', index, customId: `q-${index + 1}`, attempt };
}

function text(index: number, chunk: string): RunEvent {
  return { type: 'text', index, text: chunk };
}

function committed(result: ItemResult, after: JobProgress): RunEvent {
  return { type: 'committed', result, progress: after };
}

function row(
  status: RowSummary['status'],
  firstLine: string,
  tokens = 0,
  score: RowSummary['score'] = 0
) {
  return { status, firstLine, tokens, score };
}

function fits(fit: boolean): PreflightResult {
  return {
    fits: fit,
    plannedBytes: 1,
    allocatedBytes: fit ? 1 : 0,
    failedAt: fit ? null : 'weights',
    message: fit ? 'It fits.' : 'It does not fit.',
    ms: 1
  };
}

beforeEach(() => vi.clearAllMocks());
afterEach(() => stop());

// --- Tests -----------------------------------------------------------------------------------

describe('opening a job', () => {
  it('reads the job, its progress, ids, run log, prompt tokens and results, once', async () => {
    const stopReason: ItemError = { code: 'quota', message: 'The disk is full.' };
    const id = await storeJob(4, {
      results: [done(0, '  \n first line\nsecond line', 7), failed(1), skipped(3)],
      log: [logEntry(5), logEntry(6, 'paused')],
      progress: progress({
        state: 'paused',
        cursor: 2,
        ahead: [[3, 4]],
        done: 1,
        failed: 1,
        skipped: 1,
        stopReason
      })
    });
    const s = session(id);
    expect(s.status).toBe('Not started');
    expect(s.meta).toBeNull();

    await Promise.all([s.open(), s.open()]);
    await s.open();

    expect(s.meta).toEqual(meta(id, 4));
    expect(s.progress).toMatchObject({ state: 'paused', cursor: 2, done: 1, failed: 1 });
    expect(s.saved).toBe(3);
    expect(s.status).toBe('Paused');
    expect(s.canResume).toBe(true);
    expect(s.error).toEqual(stopReason);
    expect(s.ids).toEqual(['q-1', 'q-2', 'q-3', 'q-4']);
    expect(s.log.map((entry) => entry.at)).toEqual([5, 6]);
    expect(s.promptTokens).toEqual([10, 11, 12, 13]);
    expect([...s.rows.keys()]).toEqual([0, 1, 3]);
    expect(s.row(0)).toEqual(row('done', 'first line', 7));
    expect(s.row(1)).toEqual(row('failed', 'The prompt is too long.'));
    expect(s.row(3)).toEqual(row('skipped', 'The pair has images.', 0, NOT_SCORED));
    expect(s.row(2)).toBeUndefined();
    expect(s.version).toBe(1);

    for (const read of [
      store.getJob,
      store.getProgress,
      store.getItemIds,
      store.getLog,
      store.getPromptTokens,
      store.getResults
    ]) {
      expect(read).toHaveBeenCalledTimes(1);
      expect(read.mock.calls[0]![0]).toBe(id);
    }
  });

  it('shows the job before the rest is read, so Start can be pressed at once', async () => {
    const id = await storeJob(2);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.getItemIds.mockImplementationOnce(async (jobId) => {
      await held;
      return jobs.getItemIds(jobId);
    });
    const s = session(id);
    const opening = s.open();
    await vi.waitFor(() => expect(s.meta).not.toBeNull());
    expect(s.status).toBe('Not started');
    expect(s.canStart).toBe(true);
    expect(s.ids).toEqual([]);
    expect(s.rows.size).toBe(0);

    release();
    await opening;
    expect(s.ids).toEqual(['q-1', 'q-2']);
  });

  it('reads a long list of results 5,000 at a time', async () => {
    const total = 5003;
    const results = Array.from({ length: total }, (_, i) => (i % 2 ? failed(i) : done(i)));
    const id = await storeJob(total, {
      results,
      progress: progress({ cursor: total, done: 2502, failed: 2501, state: 'completed' })
    });
    const s = await opened(id);
    expect(store.getResults.mock.calls).toEqual([
      [id, 0, total, 5000],
      [id, 5000, total, 5000]
    ]);
    expect(s.rows.size).toBe(total);
    expect(s.row(5002)).toEqual(row('done', 'answer 5003', 3));
    expect(s.version).toBe(2);
    expect(s.saved).toBe(total);
    expect(s.status).toBe('Completed');
    expect(s.canStart || s.canResume).toBe(false);
  });

  it('cuts a row to the first line of its text, 200 characters at most', async () => {
    const long = 'x'.repeat(250);
    const id = await storeJob(2, { results: [done(0, `${long}\nmore`), done(1, '')] });
    const s = await opened(id);
    expect(s.row(0)?.firstLine).toBe('x'.repeat(200));
    expect(s.row(1)?.firstLine).toBe('');
  });

  it('fails, and shows nothing, for a job that is not in this browser, and makes no store for it', async () => {
    const s = session('no-such-job');
    await expect(s.open()).rejects.toThrow(
      'There is no job no-such-job in this browser: it was deleted, or made in another browser or browser profile (each keeps its own jobs). Nothing was changed.'
    );
    expect(s.meta).toBeNull();
    expect(s.progress).toBeNull();
    expect(s.status).toBe('Not started');
    expect(store.getProgress).not.toHaveBeenCalled();
    expect(store.getItemIds).not.toHaveBeenCalled();
    const names = (await indexedDB.databases()).map((db) => db.name);
    expect(names.some((name) => name === jobDatabaseName('no-such-job'))).toBe(false);
  });

  it('reads again after an open that failed (the failure is not kept)', async () => {
    const id = await storeJob(1);
    const s = session(id);
    store.getProgress.mockRejectedValueOnce(new Error('The disk did not answer.'));
    await expect(s.open()).rejects.toThrow('The disk did not answer.');
    await s.open();
    expect(s.meta?.id).toBe(id);
    expect(s.status).toBe('Not started');
  });

  it('a row committed while the stored results are read is not overwritten by what was read', async () => {
    const id = await storeJob(3, {
      results: [done(0), failed(1)],
      progress: progress({ state: 'running', cursor: 2, done: 1, failed: 1 })
    });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    store.getResults.mockImplementationOnce(async (...args) => {
      const read = await jobs.getResults(...args);
      await held;
      return read;
    });
    const s = session(id);
    const opening = s.open();
    await vi.waitFor(() => expect(store.getResults).toHaveBeenCalled());
    // Item 2 ran again in this tab and was committed, after the read of the stored ones.
    s.apply(
      committed(done(1, 'second try'), progress({ state: 'running', cursor: 2, done: 2 })),
      1
    );
    release();
    await opening;
    expect(s.row(1)).toEqual(row('done', 'second try', 3));
    expect(s.row(0)).toEqual(row('done', 'answer 1', 3));
    expect(s.scores[0]).toBe(2);
  });

  it('progress and log lines another tab broadcasts while the job is read are kept, not overwritten by the read', async () => {
    const id = await storeJob(3, {
      log: [logEntry(1)],
      progress: progress({ state: 'running', cursor: 1, done: 1 })
    });
    const release: (() => void)[] = [];
    const hold = <T>(read: () => Promise<T>) =>
      new Promise<T>((resolve) => release.push(() => resolve(read())));
    store.getProgress.mockImplementationOnce((jobId) => hold(() => jobs.getProgress(jobId)));
    store.getLog.mockImplementationOnce((jobId) => hold(() => jobs.getLog(jobId)));
    const s = session(id);
    const opening = s.open();
    await vi.waitFor(() => expect(release.length).toBe(1));
    const newer = progress({ state: 'running', cursor: 2, done: 2 });
    s.applyBroadcast({ jobId: id, type: 'progress', rows: [], progress: newer });
    release.shift()!();
    await vi.waitFor(() => expect(release.length).toBe(1));
    s.applyBroadcast({ jobId: id, type: 'log', entry: logEntry(2) });
    release.shift()!();
    await opening;
    expect(s.progress).toEqual(newer);
    expect(s.log).toEqual([logEntry(1), logEntry(2)]);
  });

  it('items queued again show no row after a reload either (their old result waits in the store)', async () => {
    const id = await storeJob(3, {
      results: [done(0), failed(1), failed(2)],
      progress: progress({ state: 'paused', cursor: 3, done: 1, failed: 2, retry: [1, 2] })
    });
    const s = await opened(id);
    expect([...s.rows.keys()]).toEqual([0]);
    expect(s.canResume).toBe(true);
  });

  it('results imported from a file make the job Paused, wherever they fall', async () => {
    const id = await storeJob(3, {
      results: [done(2)],
      progress: progress({ cursor: 0, ahead: [[2, 3]], done: 1 })
    });
    const s = await opened(id);
    expect(s.status).toBe('Paused');
    expect(s.canResume).toBe(true);
    expect(s.canStart).toBe(false);
  });
});

describe('status', () => {
  const cases: [string, JobProgress, (s: JobSession) => void, JobStatus, boolean, boolean][] = [
    ['a new job', progress(), () => {}, 'Not started', true, false],
    ['an idle job with results', progress({ cursor: 3, done: 3 }), () => {}, 'Paused', false, true],
    ['a paused job', progress({ state: 'paused', cursor: 1 }), () => {}, 'Paused', false, true],
    ['a run nobody runs', progress({ state: 'running' }), () => {}, 'Interrupted', false, true],
    ['a stopped job', progress({ state: 'stopped', cursor: 2 }), () => {}, 'Stopped', false, true],
    [
      'a finished job',
      progress({ state: 'completed', cursor: 4 }),
      () => {},
      'Completed',
      false,
      false
    ],
    [
      'a job another tab runs',
      progress({ state: 'running' }),
      (s) => s.heldElsewhere(true),
      'Running in another tab',
      false,
      false
    ],
    [
      'a paused job another tab holds',
      progress({ state: 'paused', cursor: 1 }),
      (s) => s.heldElsewhere(true),
      'Running in another tab',
      false,
      false
    ],
    [
      'a finished job another tab holds',
      progress({ state: 'completed', cursor: 4 }),
      (s) => s.heldElsewhere(true),
      'Completed',
      false,
      false
    ],
    ['a run starting here', progress(), (s) => s.started(1), 'Starting', false, false],
    [
      'a run here with an item',
      progress({ state: 'running' }),
      (s) => (s.started(1), s.apply(item(0), 2)),
      'Running',
      false,
      false
    ],
    [
      'a run here asked to pause',
      progress({ state: 'running' }),
      (s) => (s.started(1), s.apply(item(0), 2), s.pauseRequested()),
      'Pausing',
      false,
      false
    ],
    [
      'a run here that lost its worker',
      progress({ state: 'running' }),
      (s) => (s.started(1), s.apply(item(0), 2), s.workerLost(progress({ state: 'running' }))),
      'Starting',
      false,
      false
    ]
  ];

  it.each(cases)('%s: %4$s', (_, stored, then, status, canStart, canResume) => {
    const s = session();
    s.progressRead(stored);
    then(s);
    expect(s.status).toBe(status);
    expect(s.canStart).toBe(canStart);
    expect(s.canResume).toBe(canResume);
  });

  it('is back to what is stored when the run here ends', () => {
    const s = session();
    s.progressRead(progress({ state: 'running' }));
    s.started(1);
    s.apply(item(0), 2);
    s.pauseRequested();
    s.runReturned(progress({ state: 'paused', cursor: 1, done: 1 }), null);
    expect(s.status).toBe('Pausing');
    s.ended();
    expect(s.status).toBe('Paused');
    expect(s.running).toBe(false);
    expect(s.pausing).toBe(false);
    s.started(3);
    expect(s.pausing).toBe(false);
    expect(s.status).toBe('Starting');
  });

  it('blocks Start and Resume while the GPU check says the plan does not fit', () => {
    const s = session();
    expect(s.blocked).toBeNull();
    s.gpuChecked(fits(false));
    expect(s.check).toEqual(fits(false));
    expect(s.blocked).toMatch(/^Starting is blocked: the memory plan does not fit this GPU/);
    s.gpuChecked(fits(true));
    expect(s.blocked).toBeNull();
    s.gpuChecked(fits(false));
    s.gpuChecked(null);
    expect(s.check).toBeNull();
    expect(s.blocked).toBeNull();
  });

  it('counts done, failed and skipped results as saved, not unparsed ones twice', () => {
    const s = session();
    expect(s.saved).toBe(0);
    s.progressRead(progress({ done: 5, failed: 2, skipped: 1, unparsed: 3 }));
    expect(s.saved).toBe(8);
  });
});

describe('a run in this tab', () => {
  it('starts with no error and a clock from now', async () => {
    const id = await storeJob(3, {
      progress: progress({ state: 'stopped', stopReason: LOST, cursor: 1, done: 1 })
    });
    const s = await opened(id);
    expect(s.error).toEqual(LOST);
    s.started(1234);
    expect(s.running).toBe(true);
    expect(s.error).toBeNull();
    expect(s.liveSince).toBe(1234);
  });

  it('shows the model loading, then the engine', () => {
    const s = session();
    s.started(0);
    const loading = {
      phase: 'download' as const,
      text: 'Fetching weights',
      fraction: 0.4,
      loadedMB: 40,
      totalMB: 100,
      mbPerSecond: 20,
      etaSeconds: 3
    };
    s.apply({ type: 'load', progress: loading }, 1);
    expect(s.loadProgress).toEqual(loading);
    const info = { model: 'Qwen', placeholder: false, adapter: 'SwiftShader' };
    s.apply({ type: 'engine', info }, 2);
    expect(s.engineInfo).toEqual(info);
    expect(s.loadProgress).toBeNull();
    s.apply({ type: 'load', progress: { ...loading, phase: 'compile' } }, 3);
    s.ended();
    expect(s.loadProgress).toBeNull();
    expect(s.engineInfo).toEqual(info);
  });

  it('streams the text of the item it started last, and starts again on a retry', () => {
    const s = session();
    s.started(0);
    s.apply(item(0), 1);
    s.apply(text(0, 'Hel'), 2);
    s.apply(text(0, 'lo'), 3);
    expect(s.current).toEqual({ index: 0, customId: 'q-1', attempt: 1 });
    expect(s.streamText).toBe('Hello');

    s.apply(item(1, 2), 4);
    expect(s.current).toEqual({ index: 1, customId: 'q-2', attempt: 2 });
    expect(s.streamText).toBe('');
    s.apply(text(0, ' world'), 5);
    s.apply(text(1, 'Bonjour'), 6);
    expect(s.streamText).toBe('Bonjour');

    // A retry of another item counts, and leaves the stream alone.
    s.apply({ type: 'retry', index: 0, reason: '429', waitMs: 10, attempt: 2 }, 7);
    expect(s.retries).toBe(1);
    expect(s.streamText).toBe('Bonjour');
    s.apply({ type: 'retry', index: 1, reason: '503', waitMs: 10, attempt: 3 }, 8);
    expect(s.retries).toBe(2);
    expect(s.streamText).toBe('');
  });

  it('keeps the items in flight until each is committed', () => {
    const s = session();
    s.started(0);
    s.apply(item(0), 1);
    s.apply(item(1), 1);
    s.apply(item(2), 1);
    s.apply(item(1, 2), 1);
    expect([...s.inFlight].sort()).toEqual([0, 1, 2]);
    s.apply(committed(done(1), progress({ state: 'running', ahead: [[1, 2]], done: 1 })), 2);
    expect([...s.inFlight].sort()).toEqual([0, 2]);
    s.ended();
    expect(s.inFlight.size).toBe(0);
    expect(s.current).toBeNull();
  });

  it('shows each committed result, its progress and the time it came', async () => {
    const id = await storeJob(3, { progress: progress({ state: 'paused' }) });
    const s = await opened(id);
    expect(s.version).toBe(0);
    s.started(100);
    s.apply(item(0), 110);
    s.apply(committed(done(0, 'yes', 4), progress({ state: 'running', cursor: 1, done: 1 })), 150);
    expect(s.row(0)).toEqual(row('done', 'yes', 4));
    expect(s.version).toBe(1);
    expect(s.progress).toMatchObject({ cursor: 1, done: 1 });
    expect(s.saved).toBe(1);
    expect(s.liveSince).toBe(150);
    expect(s.status).toBe('Running');

    s.apply(
      committed(
        failed(1, 'Too long.'),
        progress({ state: 'running', cursor: 2, done: 1, failed: 1 })
      ),
      160
    );
    expect(s.row(1)).toEqual(row('failed', 'Too long.'));
    expect(s.saved).toBe(2);
    expect(s.version).toBe(2);

    s.apply(
      {
        type: 'progress',
        progress: progress({ state: 'running', cursor: 2, done: 1, failed: 1, elapsedMs: 900 })
      },
      170
    );
    expect(s.progress?.elapsedMs).toBe(900);
    expect(s.liveSince).toBe(170);
    expect(s.version).toBe(2);
  });

  it('adds run log lines as they come', async () => {
    const id = await storeJob(1, { log: [logEntry(1)] });
    const s = await opened(id);
    s.apply({ type: 'log', entry: logEntry(2, 'device-lost') }, 2);
    s.logged(logEntry(3, 'restart'));
    expect(s.log.map((entry) => entry.kind)).toEqual(['step-down', 'device-lost', 'restart']);
    expect(store.getLog).toHaveBeenCalledTimes(1);
  });

  it('takes exact token counts from the tokenizer, and reads the counts per item again', async () => {
    const id = await storeJob(2);
    const s = await opened(id);
    expect(s.promptTokens).toEqual([10, 11]);
    const needs = { longestPromptTokens: 42, maxAnswerTokens: 8, exact: true };
    await jobs.saveExactCounts(id, needs, [40, 42]);
    s.apply({ type: 'needs', needs }, 1);
    expect(s.meta?.needs).toEqual(needs);
    expect(s.meta?.name).toBe(id);
    await vi.waitFor(() => expect(s.promptTokens).toEqual([40, 42]));
    expect(store.getPromptTokens).toHaveBeenCalledTimes(2);
  });

  it('shows what the run returned and why it stopped', () => {
    const s = session();
    s.progressRead(progress());
    s.started(0);
    s.apply(item(0), 1);
    s.runReturned(progress({ state: 'stopped', cursor: 1, failed: 1, stopReason: LOST }), LOST);
    s.ended();
    expect(s.error).toEqual(LOST);
    expect(s.progress?.failed).toBe(1);
    expect(s.status).toBe('Stopped');
    expect(s.canResume).toBe(true);
  });

  it('when the worker is lost: what is stored, no current item, and the reason it stopped', () => {
    const s = session();
    s.started(0);
    s.apply(item(4), 1);
    s.apply(text(4, 'half an ans'), 2);
    const stored = progress({ state: 'running', cursor: 4, done: 4 });
    s.workerLost(stored);
    expect(s.progress).toEqual(stored);
    expect(s.current).toBeNull();
    expect(s.running).toBe(true);
    expect(s.inFlight.size).toBe(0);
    const crashed: ItemError = { code: 'worker-crashed', message: 'It crashed 3 times.' };
    s.stopped(crashed);
    expect(s.error).toEqual(crashed);
    s.ended();
    expect(s.status).toBe('Interrupted');
  });
});

describe('another tab and the store', () => {
  it('shows what the running tab broadcasts', async () => {
    const id = await storeJob(3, { progress: progress({ state: 'running' }) });
    const s = await opened(id);
    expect(s.status).toBe('Interrupted');
    const after = progress({ state: 'running', cursor: 2, done: 2 });
    const message: JobBroadcast = {
      jobId: id,
      type: 'progress',
      rows: [
        [0, row('done', 'one', 2)],
        [1, row('done', 'two', 3)]
      ],
      progress: after
    };
    s.applyBroadcast(message);
    expect(s.elsewhere).toBe(true);
    expect(s.status).toBe('Running in another tab');
    expect(s.progress).toEqual(after);
    expect(s.saved).toBe(2);
    expect(s.row(1)).toEqual(row('done', 'two', 3));
    expect(s.version).toBe(2);

    s.applyBroadcast({ jobId: id, type: 'log', entry: logEntry(9, 'takeover') });
    expect(s.log.map((entry) => entry.at)).toEqual([9]);
  });

  it('ignores broadcasts while this tab runs the job', () => {
    const s = session();
    s.progressRead(progress({ state: 'running' }));
    s.started(0);
    s.applyBroadcast({
      jobId: 'job-0',
      type: 'progress',
      rows: [[0, row('done', 'theirs')]],
      progress: progress({ state: 'running', cursor: 1, done: 1 })
    });
    s.applyBroadcast({ jobId: 'job-0', type: 'log', entry: logEntry(1) });
    expect(s.elsewhere).toBe(false);
    expect(s.rows.size).toBe(0);
    expect(s.saved).toBe(0);
    expect(s.log).toEqual([]);
  });

  it('reads the stored progress when the other tab lets the job go', () => {
    const s = session();
    s.heldElsewhere(true);
    s.progressRead(progress({ state: 'running', cursor: 2, done: 2 }));
    expect(s.status).toBe('Running in another tab');
    s.heldElsewhere(false);
    s.progressRead(progress({ state: 'paused', cursor: 3, done: 3 }));
    expect(s.elsewhere).toBe(false);
    expect(s.status).toBe('Paused');
    expect(s.saved).toBe(3);
  });

  it('takes items queued again out of the list', async () => {
    const id = await storeJob(3, {
      results: [done(0), failed(1), failed(2)],
      progress: progress({ state: 'completed', cursor: 3, done: 1, failed: 2 })
    });
    const s = await opened(id);
    const queued = progress({ state: 'completed', cursor: 3, done: 1, failed: 2, retry: [1, 2] });
    s.requeued(queued);
    expect(s.progress).toEqual(queued);
    expect([...s.rows.keys()]).toEqual([0]);
    expect(s.version).toBe(2);
  });

  it('a refresh before the page opened the job opens it first', async () => {
    const id = await storeJob(2, {
      results: [done(0)],
      progress: progress({ state: 'paused', cursor: 1, done: 1 })
    });
    const s = session(id);
    await s.refresh();
    expect(s.meta?.total).toBe(2);
    expect(s.row(0)).toEqual(row('done', 'answer 1', 3));
    expect(s.saved).toBe(1);
    expect(store.getJob).toHaveBeenCalledTimes(1);
  });

  it('reads the progress and the results again after results were imported', async () => {
    const id = await storeJob(3, {
      results: [failed(0)],
      progress: progress({ state: 'paused', cursor: 1, failed: 1 })
    });
    const s = await opened(id);
    const imported = progress({ state: 'paused', cursor: 3, done: 3, stopReason: LOST });
    await jobs.writeRun(id, {
      results: [done(0, 'fixed'), done(1), done(2)],
      tries: [],
      log: [],
      progress: imported
    });
    expect(s.saved).toBe(1);
    await s.refresh();
    expect(s.progress).toEqual(imported);
    expect(s.error).toEqual(LOST);
    expect(s.saved).toBe(3);
    expect(s.row(0)).toEqual(row('done', 'fixed', 3));
    expect(s.rows.size).toBe(3);
    expect(s.scores[0]).toBe(3);
    expect(store.getJob).toHaveBeenCalledTimes(1);
  });

  it('shows a change made to the job record, once there is one', async () => {
    const s = session();
    s.edited((m) => ({ ...m, name: 'renamed' }));
    expect(s.meta).toBeNull();
    const id = await storeJob(1);
    const t = await opened(id);
    t.edited((m) => ({ ...m, name: 'renamed' }));
    expect(t.meta?.name).toBe('renamed');
    expect(t.meta?.total).toBe(1);
  });
});

describe('scores of a scoring job', () => {
  it('counts the stored results per score', async () => {
    const id = await storeJob(6, {
      scoring: true,
      results: [scored(0, 5), scored(1, 5), scored(2, 2), scored(3, 0), failed(4), skipped(5)],
      progress: progress({ state: 'completed', cursor: 6, done: 4, failed: 1, skipped: 1 })
    });
    const s = await opened(id);
    expect(s.scores).toEqual({ 0: 2, 1: 0, 2: 1, 3: 0, 4: 0, 5: 2, [NOT_SCORED]: 1 });
    expect(s.row(0)?.score).toBe(5);
    expect(s.row(5)?.score).toBe(NOT_SCORED);
  });

  it('moves a result from its old score to its new one, and out when queued again', async () => {
    const id = await storeJob(3, {
      scoring: true,
      results: [scored(0, 0), scored(1, 4)],
      progress: progress({ state: 'paused', cursor: 2, done: 2, unparsed: 1 })
    });
    const s = await opened(id);
    expect(s.scores[0]).toBe(1);
    s.requeued(progress({ state: 'paused', cursor: 2, done: 2, unparsed: 1, retry: [0] }));
    expect(s.scores[0]).toBe(0);
    expect(s.scores[4]).toBe(1);

    s.started(0);
    s.apply(committed(scored(0, 3), progress({ state: 'running', cursor: 2, done: 2 })), 1);
    s.apply(committed(scored(2, 3), progress({ state: 'running', cursor: 3, done: 3 })), 2);
    // A result written over (a retry of a committed item) moves its count, not adds one.
    s.apply(committed(scored(1, 5), progress({ state: 'running', cursor: 3, done: 3 })), 3);
    expect(s.scores).toEqual({ 0: 0, 1: 0, 2: 0, 3: 2, 4: 0, 5: 1, [NOT_SCORED]: 0 });
    expect(Object.values(s.scores).reduce((a, b) => a + b, 0)).toBe(s.rows.size);
  });

  it('counts rows broadcast by another tab, replacing ones already shown', () => {
    const s = session();
    const message = (rows: [number, RowSummary][]): JobBroadcast => ({
      jobId: 'job-0',
      type: 'progress',
      rows,
      progress: progress({ state: 'running', cursor: 2, done: 2 })
    });
    s.applyBroadcast(
      message([
        [0, row('done', '', 0, 2)],
        [1, row('done', '', 0, 2)]
      ])
    );
    s.applyBroadcast(message([[1, row('done', '', 0, 4)]]));
    expect(s.scores[2]).toBe(1);
    expect(s.scores[4]).toBe(1);
  });
});

describe('redrawing the page', () => {
  it('tells effects when what they read changes, rows through `version`', async () => {
    const id = await storeJob(2, { progress: progress({ state: 'paused' }) });
    const s = session(id);
    const seen: string[] = [];
    const untrack = $effect.root(() => {
      $effect(() => {
        seen.push(`${s.status} ${s.inFlight.size} ${s.version} ${s.streamText}`);
      });
    });
    try {
      flushSync();
      await s.open();
      flushSync();
      s.started(0);
      s.apply(item(0), 1);
      flushSync();
      s.apply(text(0, 'hi'), 2);
      flushSync();
      s.apply(committed(done(0), progress({ state: 'running', cursor: 1, done: 1 })), 3);
      flushSync();
      expect(seen).toEqual([
        'Not started 0 0 ',
        'Paused 0 0 ',
        'Running 1 0 ',
        'Running 1 0 hi',
        'Running 0 1 hi'
      ]);
    } finally {
      untrack();
    }
  });
});
