/**
 * Downloads a model into the very Cache Storage entries WebLLM reads (see
 * webllm-cache.ts), so a later `MLCEngine.reload` finds every file and
 * downloads nothing. Shard by shard, several at a time as WebLLM does; a shard
 * is stored only once all its bytes arrived, so the cache itself is the
 * checkpoint: after a reload or a lost connection the download lists what is
 * missing and continues from the last finished shard. A lost connection is
 * retried a few times by itself before the download stops.
 *
 * Runs on the page or in a worker (Cache API and fetch only).
 */
import { modelUrls, type ModelUrls } from './source';
import { downloadProgress, RateMeter, type DownloadProgress } from './progress';
import {
  baseFiles,
  CACHE_SCOPES,
  isKeyOfModel,
  ManifestError,
  parseTensorCacheManifest,
  shardFiles,
  tokenizerFile,
  tokenizerFileOf,
  type CacheScope,
  type ModelFile,
  type ShardEntry
} from './webllm-cache';

export type CachedState =
  | { kind: 'none'; otherSourceFiles: number }
  | {
      kind: 'partial';
      /** Null until the manifest is stored. */
      shardsDone: number;
      shardsTotal: number | null;
      bytesDone: number;
      bytesTotal: number | null;
      otherSourceFiles: number;
    }
  | { kind: 'complete'; shards: number; bytes: number; otherSourceFiles: number };

export type DownloadErrorCode =
  'network' | 'http' | 'quota' | 'manifest' | 'cancelled' | 'unsupported' | 'size';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly code: DownloadErrorCode,
    message: string
  ) {
    super(message);
  }
}

export type DownloadEvent =
  | { type: 'preparing' }
  | { type: 'progress'; progress: DownloadProgress }
  | { type: 'retrying'; inMs: number; reason: string; progress: DownloadProgress | null };

export interface DownloadOptions {
  signal?: AbortSignal;
  onEvent?: (event: DownloadEvent) => void;
  /** Files fetched at once; WebLLM uses 4. */
  concurrency?: number;
  /** Waits between tries after a lost connection; once used up, the download stops. */
  retryDelaysMs?: number[];
  fetch?: (input: string, init?: RequestInit) => Promise<Response>;
  now?: () => number;
}

/** About two minutes of tries before a lost connection stops the download. */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15000, 30000, 30000, 30000];

function cacheStorage(): CacheStorage {
  if (typeof caches === 'undefined') {
    throw new DownloadError(
      'unsupported',
      'This browser offers no Cache Storage here (it needs https or localhost), so models cannot be stored.'
    );
  }
  return caches;
}

class Caches {
  #open = new Map<CacheScope, Promise<Cache>>();
  open(scope: CacheScope): Promise<Cache> {
    let cache = this.#open.get(scope);
    if (!cache) {
      cache = cacheStorage().open(scope);
      this.#open.set(scope, cache);
    }
    return cache;
  }
  /** Keys of a scope, without creating the cache when it does not exist. */
  async keys(scope: CacheScope): Promise<Set<string>> {
    if (!(await cacheStorage().has(scope))) return new Set();
    const cache = await this.open(scope);
    return new Set((await cache.keys()).map((request) => request.url));
  }
  async read(file: ModelFile): Promise<Response | undefined> {
    return (await this.open(file.scope)).match(file.url);
  }
}

async function readJson(store: Caches, file: ModelFile): Promise<unknown | null> {
  const response = await store.read(file);
  if (!response) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The model's files as far as the stored config and manifest tell. */
async function knownFiles(
  store: Caches,
  urls: ModelUrls
): Promise<{ files: ModelFile[]; shards: ModelFile[] | null; tokenizerKnown: boolean }> {
  const [config, manifest, wasm] = baseFiles(urls.modelUrl, urls.modelLib) as [
    ModelFile,
    ModelFile,
    ModelFile
  ];
  const files = [config, manifest, wasm];
  const chatConfig = await readJson(store, config);
  const tokenizer = chatConfig ? tokenizerFileOf(chatConfig) : null;
  if (tokenizer) files.push(tokenizerFile(urls.modelUrl, tokenizer));
  let shards: ModelFile[] | null = null;
  const manifestJson = await readJson(store, manifest);
  if (manifestJson) {
    try {
      shards = shardFiles(urls.modelUrl, parseTensorCacheManifest(manifestJson, urls.modelUrl));
    } catch {
      shards = null;
    }
  }
  return { files, shards, tokenizerKnown: tokenizer !== null };
}

/** Entries of this model stored from another source (WebLLM would not find them). */
function otherSourceCount(
  modelId: string,
  urls: ModelUrls,
  keys: Record<CacheScope, Set<string>>
): number {
  let count = 0;
  for (const set of Object.values(keys)) {
    for (const key of set) {
      const mine = key.startsWith(urls.modelUrl) || key === urls.modelLib;
      if (!mine && isKeyOfModel(key, modelId, urls.libFile)) count++;
    }
  }
  return count;
}

async function allKeys(store: Caches): Promise<Record<CacheScope, Set<string>>> {
  const [config, model, wasm] = await Promise.all([
    store.keys(CACHE_SCOPES.config),
    store.keys(CACHE_SCOPES.model),
    store.keys(CACHE_SCOPES.wasm)
  ]);
  return { [CACHE_SCOPES.config]: config, [CACHE_SCOPES.model]: model, [CACHE_SCOPES.wasm]: wasm };
}

/** What of a model is stored for this source: none, partial (n of m shards) or complete. */
export async function cachedState(modelId: string, mirror: string | null): Promise<CachedState> {
  const store = new Caches();
  const urls = modelUrls(modelId, mirror);
  const keys = await allKeys(store);
  const has = (file: ModelFile) => keys[file.scope].has(file.url);
  const otherSourceFiles = otherSourceCount(modelId, urls, keys);
  const mine =
    [...keys[CACHE_SCOPES.config], ...keys[CACHE_SCOPES.model]].some((key) =>
      key.startsWith(urls.modelUrl)
    ) || keys[CACHE_SCOPES.wasm].has(urls.modelLib);
  if (!mine) return { kind: 'none', otherSourceFiles };
  const { files, shards, tokenizerKnown } = await knownFiles(store, urls);
  const shardsDone = shards?.filter(has) ?? [];
  const bytesDone = shardsDone.reduce((sum, file) => sum + (file.bytes ?? 0), 0);
  const bytesTotal = shards ? shards.reduce((sum, file) => sum + (file.bytes ?? 0), 0) : null;
  if (shards && tokenizerKnown && files.every(has) && shardsDone.length === shards.length) {
    return { kind: 'complete', shards: shards.length, bytes: bytesTotal ?? 0, otherSourceFiles };
  }
  return {
    kind: 'partial',
    shardsDone: shardsDone.length,
    shardsTotal: shards?.length ?? null,
    bytesDone,
    bytesTotal,
    otherSourceFiles
  };
}

/**
 * Deletes every stored file of a model, from any source: its folder's entries
 * in 'webllm/config' and 'webllm/model' and its library in 'webllm/wasm'.
 * Returns how many entries went.
 */
export async function deleteModel(modelId: string): Promise<number> {
  const store = new Caches();
  const { libFile } = modelUrls(modelId, null);
  let deleted = 0;
  for (const scope of Object.values(CACHE_SCOPES)) {
    if (!(await cacheStorage().has(scope))) continue;
    const cache = await store.open(scope);
    for (const request of await cache.keys()) {
      if (isKeyOfModel(request.url, modelId, libFile) && (await cache.delete(request))) deleted++;
    }
  }
  return deleted;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

function hostOf(url: string): string {
  return new URL(url).host;
}

/** Fetches one file into its cache entry; counts bytes as they arrive. */
async function fetchIntoCache(
  store: Caches,
  file: ModelFile,
  options: { signal?: AbortSignal; onBytes: (bytes: number) => void; doFetch: DownloadFetch }
): Promise<void> {
  let response: Response;
  try {
    response = await options.doFetch(file.url, { signal: options.signal, cache: 'no-store' });
  } catch (error) {
    throw classify(error, file);
  }
  if (!response.ok) {
    const code = isRetryableStatus(response.status) ? 'network' : 'http';
    throw new DownloadError(
      code,
      `${hostOf(file.url)} answered ${response.status}${response.statusText ? ' ' + response.statusText : ''} for ${file.url}.`
    );
  }
  let received = 0;
  const expected = file.bytes;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      received += chunk.byteLength;
      options.onBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush() {
      // A short or long body must not become a stored shard: the stream fails, the put with it.
      if (expected !== null && received !== expected) {
        throw new DownloadError(
          'size',
          `${file.url} had ${received} bytes; the manifest says ${expected}.`
        );
      }
    }
  });
  // Only the type is kept: the server's other headers (Vary, encodings) would
  // only make the entry harder to match, and WebLLM reads just the body.
  const headers = new Headers();
  const type = response.headers.get('content-type');
  if (type) headers.set('content-type', type);
  const cache = await store.open(file.scope);
  try {
    const body = response.body ?? new Blob([]).stream();
    await cache.put(file.url, new Response(body.pipeThrough(counter), { headers }));
  } catch (error) {
    throw classify(error, file);
  }
}

type DownloadFetch = (input: string, init?: RequestInit) => Promise<Response>;

function classify(error: unknown, file: ModelFile): DownloadError {
  if (error instanceof DownloadError) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'AbortError') return new DownloadError('cancelled', 'The download was stopped.');
  if (name === 'QuotaExceededError') {
    return new DownloadError(
      'quota',
      'The browser refused to store more: the storage quota is used up.'
    );
  }
  return new DownloadError(
    'network',
    `The connection to ${hostOf(file.url)} was lost or refused (${message}).`
  );
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      globalThis.removeEventListener?.('online', done);
      signal?.removeEventListener('abort', abort);
      resolve();
    };
    const abort = () => {
      clearTimeout(timer);
      globalThis.removeEventListener?.('online', done);
      reject(new DownloadError('cancelled', 'The download was stopped.'));
    };
    const timer = setTimeout(done, ms);
    // Back online: try now rather than at the end of the wait.
    globalThis.addEventListener?.('online', done);
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
}

/**
 * Downloads what is missing of a model. Resolves when every file WebLLM
 * needs is stored; rejects with a DownloadError that says what was kept.
 */
export async function downloadModel(
  modelId: string,
  mirror: string | null,
  options: DownloadOptions = {}
): Promise<void> {
  const urls = modelUrls(modelId, mirror);
  const store = new Caches();
  const doFetch: DownloadFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const now = options.now ?? (() => Date.now());
  const delays = options.retryDelaysMs ?? RETRY_DELAYS_MS;
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const emit = options.onEvent ?? (() => undefined);
  const meter = new RateMeter();
  meter.add(0, now());

  let shards: ModelFile[] | null = null;
  let committedBytes = 0;
  let committedShards = 0;
  const inFlight = new Map<string, number>();
  const totalBytes = () => shards?.reduce((sum, file) => sum + (file.bytes ?? 0), 0) ?? 0;
  const progress = (): DownloadProgress | null =>
    shards
      ? downloadProgress({
          loadedBytes: committedBytes + [...inFlight.values()].reduce((a, b) => a + b, 0),
          totalBytes: totalBytes(),
          bytesPerSecond: meter.rate(now()),
          shardsDone: committedShards,
          shardsTotal: shards.length
        })
      : null;
  let lastEmit = 0;
  const report = (force = false) => {
    const p = progress();
    const t = now();
    // The page repaints at most a few times a second anyway.
    if (p && (force || t - lastEmit >= 200)) {
      lastEmit = t;
      emit({ type: 'progress', progress: p });
    }
  };

  const fetchFile = async (file: ModelFile) => {
    inFlight.set(file.url, 0);
    try {
      await fetchIntoCache(store, file, {
        signal: options.signal,
        doFetch,
        onBytes: (bytes) => {
          meter.add(bytes, now());
          inFlight.set(file.url, (inFlight.get(file.url) ?? 0) + bytes);
          report();
        }
      });
    } finally {
      inFlight.delete(file.url);
    }
  };

  /** Did the current pass store anything? Then its failure starts the tries afresh. */
  let progressed = false;
  /** One go at everything missing; the cache says what that is. */
  const pass = async (): Promise<void> => {
    const keys = await allKeys(store);
    const missing = (file: ModelFile) => !keys[file.scope].has(file.url);
    // The small files first: the config names the tokenizer, the manifest the shards.
    for (const file of baseFiles(urls.modelUrl, urls.modelLib).filter(missing)) {
      await fetchFile(file);
      progressed = true;
    }
    const { files } = await knownFiles(store, urls);
    const tokenizer = files.find((file) => file.kind === 'tokenizer');
    if (!tokenizer) {
      throw new DownloadError(
        'manifest',
        `The model's mlc-chat-config.json names no tokenizer WebLLM can read (tokenizer.json or tokenizer.model).`
      );
    }
    if (missing(tokenizer)) {
      await fetchFile(tokenizer);
      progressed = true;
    }
    const manifestFile = files.find((file) => file.kind === 'manifest') as ModelFile;
    let entries: ShardEntry[];
    try {
      entries = parseTensorCacheManifest(
        await (await store.read(manifestFile))?.json(),
        urls.modelUrl
      );
    } catch (error) {
      // A broken manifest must not stay stored, or every later try would read it again.
      await (await store.open(manifestFile.scope)).delete(manifestFile.url);
      const reason = error instanceof ManifestError ? error.message : 'it is not JSON';
      throw new DownloadError('manifest', `${manifestFile.url} cannot be used: ${reason}`);
    }
    shards = shardFiles(urls.modelUrl, entries);
    const queue = shards.filter(missing);
    const done = shards.filter((file) => !missing(file));
    committedShards = done.length;
    committedBytes = done.reduce((sum, file) => sum + (file.bytes ?? 0), 0);
    report(true);

    let failure: unknown = null;
    const worker = async () => {
      while (failure === null) {
        const file = queue.shift();
        if (!file) return;
        try {
          await fetchFile(file);
          committedShards++;
          committedBytes += file.bytes ?? 0;
          progressed = true;
          report(true);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    if (failure !== null) throw failure;
  };

  emit({ type: 'preparing' });
  let tries = 0;
  for (;;) {
    progressed = false;
    try {
      await pass();
      report(true);
      return;
    } catch (error) {
      const failure =
        error instanceof DownloadError
          ? error
          : new DownloadError('network', error instanceof Error ? error.message : String(error));
      if (progressed) tries = 0;
      const retryable = failure.code === 'network' || failure.code === 'size';
      const wait = delays[tries];
      if (!retryable || options.signal?.aborted || wait === undefined) {
        throw withKept(failure, progress());
      }
      tries++;
      emit({ type: 'retrying', inMs: wait, reason: failure.message, progress: progress() });
      try {
        await sleep(wait, options.signal);
      } catch (stopped) {
        throw withKept(stopped as DownloadError, progress());
      }
    }
  }
}

/** The error, with what is kept and what to do, in the user's words. */
function withKept(error: DownloadError, progress: DownloadProgress | null): DownloadError {
  if (error.code === 'cancelled') {
    const kept = progress
      ? ` ${progress.shardsDone} of ${progress.shardsTotal} shards are kept.`
      : '';
    return new DownloadError('cancelled', `The download was stopped.${kept}`);
  }
  const kept = progress
    ? `The ${progress.shardsDone} finished shards of ${progress.shardsTotal} are kept;`
    : 'Every finished file is kept;';
  const next =
    error.code === 'quota'
      ? 'free some space (delete other models, or finished jobs after exporting them), then press Download to continue from there.'
      : error.code === 'http' || error.code === 'manifest'
        ? 'check the model source, then press Download to continue from there.'
        : 'press Download to continue from there.';
  return new DownloadError(error.code, `${error.message} ${kept} ${next}`);
}
