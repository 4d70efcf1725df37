/**
 * Reading a model's library for the plan: from WebLLM's own cache entry, or (the worker)
 * fetched into it, parsed once; the page never creates a cache by looking.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readModelLibrary } from '$lib/models/model-library';
import { modelUrls } from '$lib/models/source';
import { CACHE_SCOPES } from '$lib/models/webllm-cache';
import { MemoryCacheStorage } from './memory-caches';

const MODEL = 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC';
const LIB_FILE = 'Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm';

/** A library's bytes: code around its metadata, a C string as the compiler leaves it. */
function library(quantization = 'q4f32_1'): Uint8Array<ArrayBuffer> {
  const meta = {
    model_type: 'qwen2',
    quantization,
    context_window_size: 4096,
    sliding_window_size: -1,
    prefill_chunk_size: 1024,
    max_batch_size: 80,
    kv_cache: {
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      head_dim: 64
    },
    memory_usage: { decode: 685568, embed: 3670016, prefill: 80303104 },
    params: [{ name: 'model.embed_tokens.q_weight', shape: [151936, 112], dtype: 'uint32' }]
  };
  return new TextEncoder().encode(`\0asm code {"x": 1} ${JSON.stringify(meta)}\0 more code`);
}

describe('readModelLibrary', () => {
  let storage: MemoryCacheStorage;
  let fetched: string[];
  let serve: (url: string) => Response;

  beforeEach(() => {
    storage = new MemoryCacheStorage();
    fetched = [];
    serve = () => new Response(library());
    vi.stubGlobal('caches', storage);
    vi.stubGlobal('fetch', async (url: string) => {
      fetched.push(url);
      return serve(url);
    });
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it('the page: nothing cached, nothing asked for, and no cache made by looking', async () => {
    const read = await readModelLibrary(MODEL, 'https://page.test/', { fetchMissing: false });
    expect(read).toEqual({ absent: true });
    expect(fetched).toEqual([]);
    expect(await storage.has(CACHE_SCOPES.wasm)).toBe(false);
  });

  it('the worker: fetched once into the entry WebLLM loads it from, then read from there', async () => {
    const mirror = 'https://worker.test/';
    const url = modelUrls(MODEL, mirror).modelLib;
    const read = await readModelLibrary(MODEL, mirror, { fetchMissing: true });
    if (!('library' in read)) throw new Error(JSON.stringify(read));
    expect(read.library).toMatchObject({ modelId: MODEL, libFile: LIB_FILE });
    expect(read.library.meta.kvCache.numKeyValueHeads).toBe(2);
    expect(fetched).toEqual([url]);
    const stored = await (await storage.open(CACHE_SCOPES.wasm)).match(url);
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(library());
    // The page now finds it cached; nothing more is fetched.
    const onPage = await readModelLibrary(MODEL, mirror, { fetchMissing: false });
    expect('library' in onPage).toBe(true);
    expect(fetched).toEqual([url]);
  });

  it('a file without metadata, or a source that does not answer: the catalog, and why', async () => {
    serve = () => new Response('<html>Not a library</html>');
    expect(await readModelLibrary(MODEL, 'https://html.test/', { fetchMissing: true })).toEqual({
      problem: `The model library ${LIB_FILE} was not read (This file holds no model metadata ({"model_type": …}): it is not an MLC model library.): the plan uses the catalog's figures.`
    });
    serve = () => new Response('gone', { status: 404 });
    const missing = await readModelLibrary(MODEL, 'https://gone.test/', { fetchMissing: true });
    expect(missing).toEqual({
      problem: `The model library ${LIB_FILE} was not read (it could not be fetched from mirror https://gone.test/: HTTP 404 for https://gone.test/libs/v0_2_48/${LIB_FILE}): the plan uses the catalog's figures.`
    });
  });

  it('a model the catalog has no library for: said, nothing fetched', async () => {
    const read = await readModelLibrary('Llama-3-8B', null, { fetchMissing: true });
    expect(read).toEqual({ problem: 'No model library is known for Llama-3-8B.' });
    expect(fetched).toEqual([]);
  });
});
