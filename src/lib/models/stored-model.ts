/**
 * What of a model is stored in the Cache Storage entries WebLLM reads (see
 * webllm-cache.ts): none, part or all of it, for the chosen source; and deleting it.
 * The downloader reads the same entries to list what is missing.
 *
 * Runs on the page or in a worker (Cache API only).
 */
import { modelUrls, type ModelUrls } from './source';
import { DownloadError } from './download-error';
import {
  baseFiles,
  CACHE_SCOPES,
  isKeyOfModel,
  parseWeightsManifest,
  shardFiles,
  tokenizerFile,
  tokenizerFileOf,
  type CacheScope,
  type ModelFile
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

function cacheStorage(): CacheStorage {
  if (typeof caches === 'undefined') {
    throw new DownloadError(
      'unsupported',
      'This browser offers no Cache Storage here (it needs https or localhost), so models cannot be stored.'
    );
  }
  return caches;
}

/** WebLLM's three caches, each opened once. */
export class ModelCaches {
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

/** The bytes of these files, as the manifest gives them. */
export function bytesOf(files: ModelFile[]): number {
  return files.reduce((sum, file) => sum + (file.bytes ?? 0), 0);
}

async function readJson(store: ModelCaches, file: ModelFile): Promise<unknown | null> {
  const response = await store.read(file);
  if (!response) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/** The model's files as far as the stored config and manifest tell. */
export async function knownFiles(
  store: ModelCaches,
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
      shards = shardFiles(urls.modelUrl, parseWeightsManifest(manifestJson, urls.modelUrl));
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

export async function allKeys(store: ModelCaches): Promise<Record<CacheScope, Set<string>>> {
  const [config, model, wasm] = await Promise.all([
    store.keys(CACHE_SCOPES.config),
    store.keys(CACHE_SCOPES.model),
    store.keys(CACHE_SCOPES.wasm)
  ]);
  return { [CACHE_SCOPES.config]: config, [CACHE_SCOPES.model]: model, [CACHE_SCOPES.wasm]: wasm };
}

/** What of a model is stored for this source: none, partial (n of m shards) or complete. */
export async function cachedState(modelId: string, mirror: string | null): Promise<CachedState> {
  const store = new ModelCaches();
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
  const bytesDone = bytesOf(shardsDone);
  const bytesTotal = shards ? bytesOf(shards) : null;
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
  const store = new ModelCaches();
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
