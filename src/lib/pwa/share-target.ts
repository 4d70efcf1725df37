/**
 * The share target: the manifest's `share_target` posts a shared file to
 * SHARE_TARGET_PATH; the service worker parks it in SHARE_CACHE and redirects
 * to `/?shared=1`, where the import form takes it (once).
 */
import { STORAGE } from '$lib/shared/storage-names';

export const SHARE_TARGET_PATH = '/share-target';
export const SHARE_CACHE = STORAGE.shareCache;
export const SHARED_FILE_KEY = '/shared-file';
export const SHARED_QUERY = 'shared';
/** Shared text (no file) becomes a text file of this name: one prompt per line. */
export const SHARED_TEXT_NAME = 'shared-text.txt';

/** The file shared to the app, removed from the cache as it is taken; null when none. */
export async function takeSharedFile(): Promise<File | null> {
  if (!('caches' in globalThis)) return null;
  const cache = await caches.open(SHARE_CACHE);
  const response = await cache.match(SHARED_FILE_KEY);
  if (!response) return null;
  await cache.delete(SHARED_FILE_KEY);
  const name = decodeURIComponent(response.headers.get('X-File-Name') ?? 'shared-file.txt');
  const type = response.headers.get('Content-Type') ?? '';
  return new File([await response.blob()], name, { type });
}
