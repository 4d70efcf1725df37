/**
 * The downloader against WebLLM's own cache checks: Node has no Cache Storage, so a
 * small in-memory one stands in for it, and WebLLM's real `hasModelInCache` (the pinned
 * version's) reads what the downloader wrote.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import * as webllm from '@mlc-ai/web-llm';
import { DownloadError } from '$lib/models/download-error';
import { DOWNLOAD_RETRY, downloadModel, type DownloadEvent } from '$lib/models/downloader';
import { modelUrls, withModelSource } from '$lib/models/source';
import { cachedState, deleteModel } from '$lib/models/stored-model';
import { CACHE_SCOPES } from '$lib/models/webllm-cache';
import { fakeMirrorFiles, SHARD_BYTES, SHARDS, shardPath } from '../../e2e/fake-mirror';
import { MemoryCacheStorage } from './memory-caches';
import { MIRROR, MODEL, mirrorFetch } from './mirror-fetch';

/** No try again: the first lost connection stops the download. */
const NO_RETRY = { ...DOWNLOAD_RETRY, retries: 0 };

describe('downloader', () => {
  let storage: MemoryCacheStorage;
  beforeEach(() => {
    storage = new MemoryCacheStorage();
    (globalThis as { caches?: unknown }).caches = storage;
  });
  afterEach(() => {
    delete (globalThis as { caches?: unknown }).caches;
  });

  const appConfig = () => withModelSource(webllm.prebuiltAppConfig, MIRROR);
  const shardKey = (i: number) => `${MIRROR}${shardPath(MODEL, i).slice(1)}`;

  it("writes the entries WebLLM's own hasModelInCache looks for", async () => {
    const mirror = mirrorFetch();
    expect(await cachedState(MODEL, MIRROR)).toEqual({ kind: 'none', otherSourceFiles: 0 });
    expect(await webllm.hasModelInCache(MODEL, appConfig())).toBe(false);
    const events: DownloadEvent[] = [];
    await downloadModel(MODEL, MIRROR, { fetch: mirror.fetch, onEvent: (e) => events.push(e) });
    expect(await webllm.hasModelInCache(MODEL, appConfig())).toBe(true);
    expect(await cachedState(MODEL, MIRROR)).toEqual({
      kind: 'complete',
      shards: 3,
      bytes: 3000,
      otherSourceFiles: 0
    });
    const modelUrl = `${MIRROR}${MODEL}/resolve/main/`;
    const config = await storage.open(CACHE_SCOPES.config);
    expect([...config.entries.keys()]).toEqual([`${modelUrl}mlc-chat-config.json`]);
    const wasm = await storage.open(CACHE_SCOPES.wasm);
    expect([...wasm.entries.keys()]).toEqual([modelUrls(MODEL, MIRROR).modelLib]);
    const model = await storage.open(CACHE_SCOPES.model);
    expect([...model.entries.keys()].sort()).toEqual(
      [
        `${modelUrl}ndarray-cache.json`,
        `${modelUrl}tokenizer.json`,
        shardKey(0),
        shardKey(1),
        shardKey(2)
      ].sort()
    );
    // The bytes are the mirror's.
    const stored = new Uint8Array(model.entries.get(shardKey(1))?.body ?? new ArrayBuffer(0));
    expect(stored).toEqual(mirror.files.get(shardPath(MODEL, 1)));
    const last = events.at(-1);
    expect(last?.type === 'progress' && last.progress.fraction).toBe(1);
  });

  it('takes the manifest by its newer name where a source has only that, stored as WebLLM 0.2.79 reads it', async () => {
    const files = fakeMirrorFiles(3, 1000);
    const folder = `/${MODEL}/resolve/main/`;
    const manifest = files.get(`${folder}ndarray-cache.json`);
    expect(manifest).toBeDefined();
    files.delete(`${folder}ndarray-cache.json`);
    files.set(`${folder}tensor-cache.json`, manifest!);
    const mirror = mirrorFetch(files);
    await downloadModel(MODEL, MIRROR, { fetch: mirror.fetch });
    expect(mirror.log).toContain(`GET ${folder}ndarray-cache.json`);
    expect(mirror.log).toContain(`GET ${folder}tensor-cache.json`);
    expect(await webllm.hasModelInCache(MODEL, appConfig())).toBe(true);
    const model = await storage.open(CACHE_SCOPES.model);
    const stored = model.entries.get(`${MIRROR}${MODEL}/resolve/main/ndarray-cache.json`)?.body;
    expect(new Uint8Array(stored ?? new ArrayBuffer(0))).toEqual(manifest);
  });

  it('continues from the shards it has, and fetches nothing when complete', async () => {
    const first = mirrorFetch();
    // The connection drops after the small files and one shard.
    first.failAfter(5);
    await expect(
      downloadModel(MODEL, MIRROR, { fetch: first.fetch, retry: NO_RETRY, concurrency: 1 })
    ).rejects.toThrow(
      /connection to mirror\.test was lost.*The 1 finished shards of 3 are kept; press Download/
    );
    expect(await cachedState(MODEL, MIRROR)).toMatchObject({
      kind: 'partial',
      shardsDone: 1,
      shardsTotal: 3,
      bytesDone: 1000,
      bytesTotal: 3000
    });
    const second = mirrorFetch();
    await downloadModel(MODEL, MIRROR, { fetch: second.fetch });
    expect(second.log.sort()).toEqual(
      [`GET ${shardPath(MODEL, 1)}`, `GET ${shardPath(MODEL, 2)}`].sort()
    );
    const third = mirrorFetch();
    await downloadModel(MODEL, MIRROR, { fetch: third.fetch });
    expect(third.log).toEqual([]);
  });

  it('retries a lost connection by itself', async () => {
    const mirror = mirrorFetch();
    mirror.failAfter(6, 1);
    const events: DownloadEvent[] = [];
    await downloadModel(MODEL, MIRROR, {
      fetch: mirror.fetch,
      retry: { retries: 1, firstMs: 1, maxMs: 1, jitter: 0 },
      concurrency: 1,
      onEvent: (e) => events.push(e)
    });
    expect(events.some((e) => e.type === 'retrying')).toBe(true);
    expect(await webllm.hasModelInCache(MODEL, appConfig())).toBe(true);
  });

  it('never stores a shard whose size differs from the manifest', async () => {
    const files = fakeMirrorFiles(3, 1000);
    files.set(shardPath(MODEL, 2), new Uint8Array(999));
    const error = await downloadModel(MODEL, MIRROR, {
      fetch: mirrorFetch(files).fetch,
      retry: NO_RETRY
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as DownloadError).message).toMatch(/had 999 bytes; the manifest says 1000/);
    const model = await storage.open(CACHE_SCOPES.model);
    expect(model.entries.has(shardKey(2))).toBe(false);
    expect(model.entries.has(shardKey(1))).toBe(true);
  });

  it('stops on a missing file with what was kept and what to do', async () => {
    const files = fakeMirrorFiles(3, 1000);
    files.delete(shardPath(MODEL, 0));
    const error = await downloadModel(MODEL, MIRROR, {
      fetch: mirrorFetch(files).fetch,
      concurrency: 1
    }).catch((e: unknown) => e);
    expect((error as DownloadError).code).toBe('http');
    expect((error as DownloadError).message).toBe(
      `mirror.test answered 404 Not Found for ${shardKey(0)}. The 0 finished shards of 3 are kept; check the model source, then press Download to continue from there.`
    );
  });

  it('stops when asked, keeping finished shards', async () => {
    const controller = new AbortController();
    const mirror = mirrorFetch();
    let shards = 0;
    const slow = async (input: string, init?: RequestInit) => {
      if (input.endsWith('.bin') && ++shards === 2) controller.abort();
      return mirror.fetch(input, init);
    };
    const error = await downloadModel(MODEL, MIRROR, {
      fetch: slow,
      signal: controller.signal,
      concurrency: 1
    }).catch((e: unknown) => e);
    expect((error as DownloadError).code).toBe('cancelled');
    expect((error as DownloadError).message).toBe(
      'The download was stopped. 1 of 3 shards are kept.'
    );
  });

  it('deletes every file of the model from any source; WebLLM then finds nothing', async () => {
    await downloadModel(MODEL, MIRROR, { fetch: mirrorFetch().fetch });
    // The same model stored from another source too, and another model beside it.
    const other = await storage.open(CACHE_SCOPES.model);
    other.entries.set(`https://huggingface.co/mlc-ai/${MODEL}/resolve/main/params_shard_0.bin`, {
      body: new ArrayBuffer(1),
      headers: new Headers()
    });
    const neighbour = `${MIRROR}Qwen2.5-1.5B-Instruct-q4f16_1-MLC/resolve/main/ndarray-cache.json`;
    other.entries.set(neighbour, { body: new ArrayBuffer(1), headers: new Headers() });
    expect((await cachedState(MODEL, MIRROR)).otherSourceFiles).toBe(1);
    expect(await deleteModel(MODEL)).toBe(3 + 4 + 1);
    expect(await cachedState(MODEL, MIRROR)).toEqual({ kind: 'none', otherSourceFiles: 0 });
    expect(await webllm.hasModelInCache(MODEL, appConfig())).toBe(false);
    expect(other.entries.has(neighbour)).toBe(true);
  });

  it('has a test mirror of several shards per model', () => {
    expect(SHARDS).toBeGreaterThan(4);
    expect(SHARD_BYTES % 4).toBe(0);
  });
});
