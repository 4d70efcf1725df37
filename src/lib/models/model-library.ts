/**
 * A model's library (the compiled `.wasm`, about 4 MB) read for its own metadata before
 * the weights are downloaded, so the memory plan uses the runtime's figures. It is taken
 * from WebLLM's cache entry ('webllm/wasm', keyed by the same URL WebLLM loads it from),
 * or fetched and stored there, where WebLLM then finds it: the library is downloaded once.
 *
 * Worker and page: the worker may fetch (a run is about to download anyway); the page
 * only reads what is cached (opening a job page downloads nothing).
 */
import { LibraryMetadataError, readLibraryMetadata } from '$lib/plan/library-metadata';
import type { ModelLibrary } from '$lib/plan/job-plan';
import { describeModelSource, modelUrls } from './source';
import { CACHE_SCOPES } from './webllm-cache';

export type LibraryRead =
  | { library: ModelLibrary }
  /** Not cached, and not asked for (the page). */
  | { absent: true }
  /** The plan keeps the catalog's figures, for this reason (one sentence). */
  | { problem: string };

/** Parsed once per library URL in this context: the plan is made before every run. */
const parsed = new Map<string, ModelLibrary>();

async function libraryBytes(url: string, fetchMissing: boolean): Promise<Uint8Array | null> {
  // Looked up without opening the cache: caches.open would create an empty one (the page only reads).
  const cached = await caches.match(url, { cacheName: CACHE_SCOPES.wasm });
  if (cached) return new Uint8Array(await cached.arrayBuffer());
  if (!fetchMissing) return null;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`HTTP ${response.status} for ${url}`);
  const bytes = new Uint8Array(await response.clone().arrayBuffer());
  await (await caches.open(CACHE_SCOPES.wasm)).put(url, response);
  return bytes;
}

export async function readModelLibrary(
  modelId: string,
  mirror: string | null,
  options: { fetchMissing: boolean }
): Promise<LibraryRead> {
  let urls;
  try {
    urls = modelUrls(modelId, mirror);
  } catch (error) {
    return { problem: error instanceof Error ? error.message : String(error) };
  }
  const known = parsed.get(urls.modelLib);
  if (known) return { library: known };
  try {
    const bytes = await libraryBytes(urls.modelLib, options.fetchMissing);
    if (!bytes) return { absent: true };
    const library = { modelId, libFile: urls.libFile, meta: readLibraryMetadata(bytes) };
    parsed.set(urls.modelLib, library);
    return { library };
  } catch (error) {
    const why =
      error instanceof LibraryMetadataError
        ? error.message
        : `it could not be fetched from ${describeModelSource(mirror)}: ${error instanceof Error ? error.message : String(error)}`;
    return {
      problem: `The model library ${urls.libFile} was not read (${why}): the plan uses the catalog's figures.`
    };
  }
}
