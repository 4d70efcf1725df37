/**
 * Where WebLLM 0.2.79 keeps a model's files, so that our downloader writes
 * exactly the entries `MLCEngine.reload` reads, and it downloads nothing more.
 *
 * Read from node_modules/@mlc-ai/web-llm/lib/index.js (0.2.79, tvmjs bundled in
 * it); line numbers are that file's.
 *
 * - Backend: `appConfig.useIndexedDBCache`, false in `prebuiltAppConfig` (912):
 *   the Cache API. LocalBatch keeps it, so everything below is Cache Storage.
 * - Three caches, by scope name (reload, 10709-10726 and 10791; the tokenizer,
 *   `asyncLoadTokenizer`, 10325-10337):
 *     'webllm/config'  mlc-chat-config.json
 *     'webllm/model'   ndarray-cache.json, every weight shard, tokenizer.json / tokenizer.model
 *     'webllm/wasm'    the record's `model_lib`
 * - Keys: the file's absolute URL. `ArtifactCache.addToCache` (4366-4377) opens
 *   `caches.open(scope)`, looks up `new Request(url)` and, when missing,
 *   `cache.add(request)`; `hasAllKeys` (4383-4393) compares `request.url`s.
 *   A response is read back with `.json()` or `.arrayBuffer()`, nothing else
 *   (4330-4345), so any 200 response with the right bytes will do.
 * - URLs: `cleanModelUrl(record.model)` (8281-8288) adds a trailing "/" and,
 *   unless the URL already has "/resolve/<x>/", "resolve/main/". Then:
 *     chat config  new URL("mlc-chat-config.json", modelUrl)   (10716)
 *     manifest     new URL("ndarray-cache.json", modelUrl)     (`fetchNDArrayCache`, 5830; 0.2.80
 *                  and later read "tensor-cache.json" instead, with the same content)
 *     shards       new URL(record.dataPath, modelUrl) for each of the manifest's `records` (5845-5930)
 *     tokenizer    "tokenizer.json" when the chat config's `tokenizer_files` lists it, else
 *                  "tokenizer.model" (`asyncLoadTokenizer`, 10325-10350)
 *     wasm         `record.model_lib` as it is (10727)
 * - A wasm URL containing "localhost" is never cached: reload fetches it every
 *   time (10733). Elsewhere it goes through 'webllm/wasm'.
 * - Shards download 4 at a time and skip cached ones (`fetchNDArrayCacheInternal`,
 *   5845-5930): a reload after an interruption continues from the shards it has.
 * - `hasModelInCache` (10235) checks ndarray-cache.json and the shards only.
 *   `deleteModelAllInfoInCache` (10246-10320) deletes the shards, tokenizers,
 *   chat config and wasm, but leaves ndarray-cache.json behind, and reads the
 *   manifest through `fetchWithCache` (`deleteNDArrayCache`, 4643-4665): with the
 *   manifest not cached it downloads it first. So `deleteModel` here removes the keys itself.
 */

export const CACHE_SCOPES = {
  config: 'webllm/config',
  model: 'webllm/model',
  wasm: 'webllm/wasm'
} as const;

export type CacheScope = (typeof CACHE_SCOPES)[keyof typeof CACHE_SCOPES];

export const CHAT_CONFIG_FILE = 'mlc-chat-config.json';
/** The weights manifest WebLLM 0.2.79 reads. */
const WEIGHTS_MANIFEST_FILE = 'ndarray-cache.json';
/**
 * The same manifest under the name the model repositories gained for WebLLM 0.2.80 and later:
 * asked for when a source has only that one, and stored under the name 0.2.79 reads.
 */
const NEWER_MANIFEST_FILE = 'tensor-cache.json';

/** WebLLM's `cleanModelUrl`: the folder URL every model file is resolved against. */
export function cleanModelUrl(model: string): string {
  let url = model.endsWith('/') ? model : model + '/';
  if (!/.+\/resolve\/.+\//.test(url)) url += 'resolve/main/';
  return new URL(url).href;
}

/** One weight shard as the manifest lists it. */
export interface ShardEntry {
  /** Relative to the model URL, e.g. "params_shard_0.bin". */
  dataPath: string;
  nbytes: number;
}

export class ManifestError extends Error {
  override readonly name = 'ManifestError';
}

/**
 * The shards of a tensor-cache.json. Strict where a mistake would cost a
 * download: every shard must have a relative path inside the model's folder
 * (WebLLM would follow an absolute URL anywhere) and a size.
 */
export function parseWeightsManifest(json: unknown, modelUrl: string): ShardEntry[] {
  const records = (json as { records?: unknown } | null)?.records;
  if (!Array.isArray(records) || records.length === 0) {
    throw new ManifestError(
      `${WEIGHTS_MANIFEST_FILE} lists no weight shards ("records" is missing).`
    );
  }
  const seen = new Set<string>();
  return records.map((record: unknown, index) => {
    const { dataPath, nbytes } = (record ?? {}) as { dataPath?: unknown; nbytes?: unknown };
    if (typeof dataPath !== 'string' || dataPath === '') {
      throw new ManifestError(`${WEIGHTS_MANIFEST_FILE}: shard ${index + 1} has no "dataPath".`);
    }
    if (typeof nbytes !== 'number' || !Number.isSafeInteger(nbytes) || nbytes < 0) {
      throw new ManifestError(`${WEIGHTS_MANIFEST_FILE}: shard ${dataPath} has no valid "nbytes".`);
    }
    const url = new URL(dataPath, modelUrl).href;
    if (!url.startsWith(modelUrl)) {
      throw new ManifestError(
        `${WEIGHTS_MANIFEST_FILE}: shard "${dataPath}" lies outside the model's folder ${modelUrl}.`
      );
    }
    if (seen.has(url)) {
      throw new ManifestError(`${WEIGHTS_MANIFEST_FILE}: shard "${dataPath}" is listed twice.`);
    }
    seen.add(url);
    return { dataPath, nbytes };
  });
}

/** The tokenizer file WebLLM will read, from the chat config's `tokenizer_files`. */
export function tokenizerFileOf(chatConfig: unknown): 'tokenizer.json' | 'tokenizer.model' | null {
  const files = (chatConfig as { tokenizer_files?: unknown } | null)?.tokenizer_files;
  if (!Array.isArray(files)) return null;
  if (files.includes('tokenizer.json')) return 'tokenizer.json';
  if (files.includes('tokenizer.model')) return 'tokenizer.model';
  return null;
}

/** One file of a model: where it comes from and the cache entry WebLLM looks for. */
export interface ModelFile {
  url: string;
  /** Asked for when `url` is not there (404); stored under `url` all the same. */
  fallbackUrl?: string;
  scope: CacheScope;
  /** From the manifest for shards; null where only the server knows. */
  bytes: number | null;
  kind: 'config' | 'manifest' | 'tokenizer' | 'wasm' | 'shard';
}

/** The files a model needs before its manifest is read. */
export function baseFiles(modelUrl: string, modelLib: string): ModelFile[] {
  return [
    {
      url: new URL(CHAT_CONFIG_FILE, modelUrl).href,
      scope: CACHE_SCOPES.config,
      bytes: null,
      kind: 'config'
    },
    {
      url: new URL(WEIGHTS_MANIFEST_FILE, modelUrl).href,
      fallbackUrl: new URL(NEWER_MANIFEST_FILE, modelUrl).href,
      scope: CACHE_SCOPES.model,
      bytes: null,
      kind: 'manifest'
    },
    { url: new URL(modelLib).href, scope: CACHE_SCOPES.wasm, bytes: null, kind: 'wasm' }
  ];
}

export function tokenizerFile(modelUrl: string, name: string): ModelFile {
  return {
    url: new URL(name, modelUrl).href,
    scope: CACHE_SCOPES.model,
    bytes: null,
    kind: 'tokenizer'
  };
}

export function shardFiles(modelUrl: string, shards: ShardEntry[]): ModelFile[] {
  return shards.map((shard) => ({
    url: new URL(shard.dataPath, modelUrl).href,
    scope: CACHE_SCOPES.model,
    bytes: shard.nbytes,
    kind: 'shard'
  }));
}

/**
 * Is this cache key one of the model's files, from any source? Files under
 * `/<modelId>/` (model folder on any host) and the model's wasm file name.
 */
export function isKeyOfModel(key: string, modelId: string, libFile: string): boolean {
  let path: string;
  try {
    path = new URL(key).pathname;
  } catch {
    return false;
  }
  return path.includes(`/${modelId}/`) || path.endsWith(`/${libFile}`);
}
