// The store modules on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { getPendingDownloads, setPendingDownload } from '$lib/store/downloads';
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
  queueAgain,
  readAhead,
  recordFailure,
  writeRun
} from '$lib/store/jobs';
import { set } from 'idb-keyval';
import { jobStore } from '$lib/store/db';
import { DEFAULT_MACHINE_SETTINGS, getSettings, updateSettings } from '$lib/store/settings';
import type { ItemResult, JobMeta, ParsedItem } from '$lib/shared/job';

describe('settings', () => {
  it('updates change only the fields given, and two at once both stay', async () => {
    expect(await getSettings()).toEqual(DEFAULT_MACHINE_SETTINGS);
    await Promise.all([
      updateSettings(() => ({ gpuMemoryMB: 8192 })),
      updateSettings(() => ({ modelMirror: 'https://models.example.org/' })),
      updateSettings((current) => ({ safetyMargin: current.safetyMargin + 0.05 }))
    ]);
    expect(await getSettings()).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      gpuMemoryMB: 8192,
      modelMirror: 'https://models.example.org/',
      safetyMargin: DEFAULT_MACHINE_SETTINGS.safetyMargin + 0.05
    });
    expect(await updateSettings(() => ({ autoResume: false }))).toMatchObject({
      autoResume: false,
      gpuMemoryMB: 8192
    });
  });

  it('two updates of the same list at once: each gets the list as the other left it', async () => {
    const add = (server: string) =>
      updateSettings((current) => ({ servers: [...(current.servers ?? []), server] }));
    await Promise.all([add('http://a.test'), add('http://b.test')]);
    expect((await getSettings()).servers).toEqual(['http://a.test', 'http://b.test']);
  });
});

describe('pending downloads', () => {
  it('marks and unmarks models, each once, without touching the settings', async () => {
    const before = await getSettings();
    await Promise.all([setPendingDownload('a', true), setPendingDownload('b', true)]);
    await setPendingDownload('a', true);
    expect((await getPendingDownloads()).sort()).toEqual(['a', 'b']);
    await setPendingDownload('a', false);
    expect(await getPendingDownloads()).toEqual(['b']);
    expect(await getSettings()).toEqual(before);
  });
});

function meta(id: string, total: number): JobMeta {
  return {
    id,
    name: id,
    createdAt: 1,
    sourceFileName: 'in.jsonl',
    format: 'jsonl',
    total,
    settings: { name: id, systemPrompt: '', temperature: 0, top_p: 1, max_tokens: 8, seed: 0 },
    engine: { kind: 'webllm', modelId: null },
    needs: { longestPromptTokens: 10, maxAnswerTokens: 8, exact: false }
  };
}

function items(n: number): ParsedItem[] {
  return Array.from({ length: n }, (_, i) => ({
    line: i + 1,
    customId: `q-${i + 1}`,
    messages: [{ role: 'user', content: `prompt ${i + 1}` }],
    params: {}
  }));
}

function failed(index: number): ItemResult {
  return {
    index,
    customId: `q-${index + 1}`,
    status: 'failed',
    text: '',
    finishReason: null,
    usage: null,
    error: { code: 'generation-failed', message: 'no' },
    model: 'm',
    finishedAt: 2,
    attempts: 1
  };
}

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

  it('reads the inputs of a job stored one record per item (before chunks)', async () => {
    await createJob(meta('legacy', 0), [], []);
    for (const [i, item] of items(3).entries()) {
      await set(['in', i], { ...item, index: i }, jobStore('legacy'));
    }
    expect((await getInputs('legacy', 1, 3)).map((input) => input.customId)).toEqual([
      'q-2',
      'q-3'
    ]);
    expect((await readAhead('legacy', 0, 2)).inputs.map((input) => input.index)).toEqual([0, 1]);
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
