/**
 * Downloads a model into the very Cache Storage entries WebLLM reads (see
 * webllm-cache.ts), so a later `MLCEngine.reload` finds every file and
 * downloads nothing. Shard by shard, several at a time as WebLLM does; a shard
 * is stored only once all its bytes arrived, so the cache itself is the
 * checkpoint: after a reload or a lost connection the download lists what is
 * missing and continues from the last finished shard. A lost connection is
 * retried a few times by itself (shared/backoff.ts) before the download stops.
 *
 * Runs on the page or in a worker (Cache API and fetch only).
 */
import { backoffMs, sleep, type Backoff } from '$lib/shared/backoff';
import { modelUrls, type ModelUrls } from './source';
import { downloadProgress, RateMeter, type DownloadProgress } from './progress';
import { classify, DownloadError, hostOf, stoppedError, withKept } from './download-error';
import { allKeys, bytesOf, knownFiles, ModelCaches } from './stored-model';
import {
  baseFiles,
  ManifestError,
  parseWeightsManifest,
  shardFiles,
  type ModelFile,
  type ShardEntry
} from './webllm-cache';

export type DownloadEvent =
  | { type: 'preparing' }
  | { type: 'progress'; progress: DownloadProgress }
  | { type: 'retrying'; inMs: number; reason: string; progress: DownloadProgress | null };

export interface DownloadRetry extends Backoff {
  /** Tries again after a lost connection, counted afresh once a try stores a file. */
  retries: number;
}

/** About two minutes of tries (1, 2, 4, 8, 16, then 30 s) before a lost connection stops the download. */
export const DOWNLOAD_RETRY: DownloadRetry = {
  retries: 8,
  firstMs: 1000,
  maxMs: 30_000,
  jitter: 0
};

type DownloadFetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface DownloadOptions {
  signal?: AbortSignal;
  onEvent?: (event: DownloadEvent) => void;
  /** Files fetched at once; WebLLM uses 4. */
  concurrency?: number;
  retry?: DownloadRetry;
  fetch?: DownloadFetch;
  now?: () => number;
}

function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** Fetches one file into its cache entry; counts bytes as they arrive. */
async function fetchIntoCache(
  store: ModelCaches,
  file: ModelFile,
  options: { signal?: AbortSignal; onBytes: (bytes: number) => void; doFetch: DownloadFetch }
): Promise<void> {
  const fetchFrom = async (url: string) => {
    try {
      return await options.doFetch(url, { signal: options.signal, cache: 'no-store' });
    } catch (error) {
      throw classify(error, url);
    }
  };
  let response = await fetchFrom(file.url);
  if (response.status === 404 && file.fallbackUrl) response = await fetchFrom(file.fallbackUrl);
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
    throw classify(error, file.url);
  }
}

/** One download of one model: its state while it runs, and its steps. */
class Download {
  #urls: ModelUrls;
  #store = new ModelCaches();
  #signal: AbortSignal | undefined;
  #emit: (event: DownloadEvent) => void;
  #fetch: DownloadFetch;
  #now: () => number;
  #retry: DownloadRetry;
  #concurrency: number;
  #meter = new RateMeter();
  /** The model's shards, once its manifest was read. */
  #shards: ModelFile[] | null = null;
  #committedBytes = 0;
  #committedShards = 0;
  /** Bytes received so far of each file being fetched, by URL. */
  #inFlight = new Map<string, number>();
  #lastReport = 0;
  /** Did the current pass store anything? Then its failure starts the tries afresh. */
  #progressed = false;

  constructor(modelId: string, mirror: string | null, options: DownloadOptions) {
    this.#urls = modelUrls(modelId, mirror);
    this.#signal = options.signal;
    this.#emit = options.onEvent ?? (() => undefined);
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#now = options.now ?? (() => Date.now());
    this.#retry = options.retry ?? DOWNLOAD_RETRY;
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#meter.add(0, this.#now());
  }

  /** Passes over what is missing until nothing is, trying again after a lost connection. */
  async run(): Promise<void> {
    this.#emit({ type: 'preparing' });
    let retries = 0;
    for (;;) {
      this.#progressed = false;
      try {
        await this.#pass();
        this.#report(true);
        return;
      } catch (error) {
        const failure =
          error instanceof DownloadError
            ? error
            : new DownloadError('network', error instanceof Error ? error.message : String(error));
        if (this.#progressed) retries = 0;
        const retryable = failure.code === 'network' || failure.code === 'size';
        if (!retryable || this.#signal?.aborted || retries >= this.#retry.retries) {
          throw withKept(failure, this.#progress());
        }
        const wait = backoffMs(this.#retry, retries);
        retries++;
        const progress = this.#progress();
        this.#emit({ type: 'retrying', inMs: wait, reason: failure.message, progress });
        try {
          // Back online: try now rather than at the end of the wait.
          await sleep(wait, { signal: this.#signal, wakeOn: 'online' });
        } catch {
          throw withKept(stoppedError(), this.#progress());
        }
      }
    }
  }

  /** One go at everything missing; the cache says what that is. */
  async #pass(): Promise<void> {
    const keys = await allKeys(this.#store);
    const missing = (file: ModelFile) => !keys[file.scope].has(file.url);
    const manifest = await this.#fetchSmallFiles(missing);
    const shards = await this.#readShards(manifest);
    this.#shards = shards;
    const done = shards.filter((file) => !missing(file));
    this.#committedShards = done.length;
    this.#committedBytes = bytesOf(done);
    this.#report(true);
    await this.#fetchShards(shards.filter(missing));
  }

  /**
   * The config, manifest, library and tokenizer, those missing; the config first, as it
   * names the tokenizer. Returns the manifest's file.
   */
  async #fetchSmallFiles(missing: (file: ModelFile) => boolean): Promise<ModelFile> {
    for (const file of baseFiles(this.#urls.modelUrl, this.#urls.modelLib).filter(missing)) {
      await this.#fetchFile(file);
    }
    const { files } = await knownFiles(this.#store, this.#urls);
    const tokenizer = files.find((file) => file.kind === 'tokenizer');
    if (!tokenizer) {
      throw new DownloadError(
        'manifest',
        `The model's mlc-chat-config.json names no tokenizer WebLLM can read (tokenizer.json or tokenizer.model).`
      );
    }
    if (missing(tokenizer)) await this.#fetchFile(tokenizer);
    return files.find((file) => file.kind === 'manifest') as ModelFile;
  }

  /** The shards the stored manifest lists. */
  async #readShards(manifest: ModelFile): Promise<ModelFile[]> {
    let entries: ShardEntry[];
    try {
      const json: unknown = await (await this.#store.read(manifest))?.json();
      entries = parseWeightsManifest(json, this.#urls.modelUrl);
    } catch (error) {
      // A broken manifest must not stay stored, or every later try would read it again.
      await (await this.#store.open(manifest.scope)).delete(manifest.url);
      const reason = error instanceof ManifestError ? error.message : 'it is not JSON';
      throw new DownloadError('manifest', `${manifest.url} cannot be used: ${reason}`);
    }
    return shardFiles(this.#urls.modelUrl, entries);
  }

  /** The shards in `queue`, several at a time; the first failure ends the pass. */
  async #fetchShards(queue: ModelFile[]): Promise<void> {
    let failure: unknown = null;
    const fetchNext = async () => {
      while (failure === null) {
        const file = queue.shift();
        if (!file) return;
        try {
          await this.#fetchFile(file);
          this.#committedShards++;
          this.#committedBytes += file.bytes ?? 0;
          this.#report(true);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#concurrency, queue.length) }, fetchNext));
    if (failure !== null) throw failure;
  }

  async #fetchFile(file: ModelFile): Promise<void> {
    this.#inFlight.set(file.url, 0);
    try {
      await fetchIntoCache(this.#store, file, {
        signal: this.#signal,
        doFetch: this.#fetch,
        onBytes: (bytes) => {
          this.#meter.add(bytes, this.#now());
          this.#inFlight.set(file.url, (this.#inFlight.get(file.url) ?? 0) + bytes);
          this.#report();
        }
      });
      this.#progressed = true;
    } finally {
      this.#inFlight.delete(file.url);
    }
  }

  #progress(): DownloadProgress | null {
    if (!this.#shards) return null;
    const inFlight = [...this.#inFlight.values()].reduce((a, b) => a + b, 0);
    return downloadProgress({
      loadedBytes: this.#committedBytes + inFlight,
      totalBytes: bytesOf(this.#shards),
      bytesPerSecond: this.#meter.rate(this.#now()),
      shardsDone: this.#committedShards,
      shardsTotal: this.#shards.length
    });
  }

  #report(force = false): void {
    const progress = this.#progress();
    const now = this.#now();
    // The page repaints at most a few times a second anyway.
    if (progress && (force || now - this.#lastReport >= 200)) {
      this.#lastReport = now;
      this.#emit({ type: 'progress', progress });
    }
  }
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
  await new Download(modelId, mirror, options).run();
}
