/** Model ids whose download was started and has not finished or been stopped. */
import { get, update } from 'idb-keyval';
import { STORAGE } from '$lib/shared/storage-names';
import { settingsStore } from './db';

const KEY = STORAGE.settings.downloadsKey;

/** Models whose download should continue when the Models page opens (it was interrupted). */
export async function getPendingDownloads(): Promise<string[]> {
  return (await get<string[]>(KEY, settingsStore())) ?? [];
}

/** Marks a model's download as wanted (started) or not (finished, stopped or deleted). */
export function setPendingDownload(modelId: string, pending: boolean): Promise<void> {
  return update<string[]>(
    KEY,
    (stored) => {
      const others = (stored ?? []).filter((id) => id !== modelId);
      return pending ? [...others, modelId] : others;
    },
    settingsStore()
  );
}
