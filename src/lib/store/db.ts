/**
 * The IndexedDB handles of the store modules (idb-keyval stores), opened once
 * each. Layout and names: $lib/shared/storage-names.
 */
import { createStore, type UseStore } from 'idb-keyval';
import { STORAGE, jobDatabaseName } from '$lib/shared/storage-names';

let catalog: UseStore | null = null;
let settings: UseStore | null = null;
const jobs = new Map<string, UseStore>();

/** The catalog of jobs: id -> JobMeta. */
export function catalogStore(): UseStore {
  catalog ??= createStore(STORAGE.catalog.db, STORAGE.catalog.store);
  return catalog;
}

/** One job's own database: its items, results and progress. */
export function jobStore(jobId: string): UseStore {
  let store = jobs.get(jobId);
  if (!store) {
    store = createStore(jobDatabaseName(jobId), STORAGE.job.store);
    jobs.set(jobId, store);
  }
  return store;
}

/** This browser's settings and pending downloads. */
export function settingsStore(): UseStore {
  settings ??= createStore(STORAGE.settings.db, STORAGE.settings.store);
  return settings;
}

/** Deletes a job's database, closing this context's connection first (or the deletion waits forever). */
export async function deleteJobDatabase(jobId: string): Promise<void> {
  const store = jobs.get(jobId);
  jobs.delete(jobId);
  if (store) await store('readonly', (s) => s.transaction.db.close()).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(jobDatabaseName(jobId));
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}
