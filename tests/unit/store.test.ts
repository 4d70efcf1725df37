// The store modules on an in-memory IndexedDB (fake-indexeddb): the same transactions as the browser's.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { getPendingDownloads, setPendingDownload } from '$lib/store/downloads';
import {
  appendLog,
  commitResults,
  createJob,
  deleteJob,
  getJob,
  getLog,
  getProgress,
  getResults,
  getTries,
  initialProgress,
  listJobs,
  queueAgain,
  recordAttempt,
  recordFailure
} from '$lib/store/jobs';
import { DEFAULT_MACHINE_SETTINGS, getSettings, updateSettings } from '$lib/store/settings';
import type { ItemResult, JobMeta, ParsedItem } from '$lib/shared/job';

describe('settings', () => {
  it('updates change only the fields given, and two at once both stay', async () => {
    expect(await getSettings()).toEqual(DEFAULT_MACHINE_SETTINGS);
    await Promise.all([
      updateSettings({ gpuMemoryMB: 8192 }),
      updateSettings({ modelMirror: 'https://models.example.org/' }),
      updateSettings((current) => ({ safetyMargin: current.safetyMargin + 0.05 }))
    ]);
    expect(await getSettings()).toEqual({
      ...DEFAULT_MACHINE_SETTINGS,
      gpuMemoryMB: 8192,
      modelMirror: 'https://models.example.org/',
      safetyMargin: DEFAULT_MACHINE_SETTINGS.safetyMargin + 0.05
    });
    expect(await updateSettings({ autoResume: false })).toMatchObject({
      autoResume: false,
      gpuMemoryMB: 8192
    });
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
  it('counts attempts up to the limit, keeping the last error', async () => {
    await createJob(meta('tries', 1), items(1), [10]);
    expect(await recordAttempt('tries', 0, 2)).toEqual({
      count: 1,
      lastError: null,
      exhausted: false
    });
    await recordFailure('tries', 0, { code: 'device-lost', message: 'lost' });
    expect(await recordAttempt('tries', 0, 2)).toEqual({
      count: 2,
      lastError: { code: 'device-lost', message: 'lost' },
      exhausted: false
    });
    expect(await recordAttempt('tries', 0, 2)).toMatchObject({ count: 2, exhausted: true });
    expect(await getTries('tries', 0)).toEqual({
      count: 2,
      lastError: { code: 'device-lost', message: 'lost' }
    });
  });

  it('queues failed items again with fresh attempts; the log appends', async () => {
    await createJob(meta('retry', 3), items(3), [10, 10, 10]);
    await recordAttempt('retry', 1, 3);
    const progress = { ...initialProgress(1), cursor: 3, failed: 2, done: 1 };
    await commitResults('retry', [failed(1), failed(2)], progress);
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
