/**
 * The IndexedDB handles of the store modules (idb-keyval stores), opened once
 * each. Names: $lib/shared/storage-names; a job database's layout: ./job-schema.
 */
import { createStore, type UseStore } from 'idb-keyval';
import { STORAGE, jobDatabaseName } from '$lib/shared/storage-names';
import { migrateJob } from './job-schema';

let catalog: UseStore | null = null;
let settings: UseStore | null = null;
/** Each job's store as opened, and the same store behind its migration. */
const jobs = new Map<string, { opened: UseStore; current: UseStore }>();

/** The catalog of jobs: id -> JobMeta. */
export function catalogStore(): UseStore {
  catalog ??= createStore(STORAGE.catalog.db, STORAGE.catalog.store);
  return catalog;
}

/**
 * One job's own database: its items, results and progress. Its first use in this
 * context (page, runner or import worker) brings its layout up to date; every
 * read and write waits for that.
 */
export function jobStore(jobId: string): UseStore {
  let store = jobs.get(jobId);
  if (!store) {
    const opened = createStore(jobDatabaseName(jobId), STORAGE.job.store);
    store = { opened, current: afterMigration(opened) };
    jobs.set(jobId, store);
  }
  return store.current;
}

function afterMigration(store: UseStore): UseStore {
  let migrated: Promise<void> | null = null;
  return (mode, callback) => {
    // A failed migration (a full disk, say) is tried again at the next read or write.
    migrated ??= migrateJob(store).catch((error: unknown) => {
      migrated = null;
      throw error;
    });
    return migrated.then(() => store(mode, callback));
  };
}

/** This browser's settings and pending downloads. */
export function settingsStore(): UseStore {
  settings ??= createStore(STORAGE.settings.db, STORAGE.settings.store);
  return settings;
}

/** Deletes a job's database, closing this context's connection first (or the deletion waits forever). */
export async function deleteJobDatabase(jobId: string): Promise<void> {
  const store = jobs.get(jobId)?.opened;
  jobs.delete(jobId);
  // eslint-disable-next-line no-restricted-syntax -- a database that is not open needs no closing
  if (store) await store('readonly', (s) => s.transaction.db.close()).catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const request = indexedDB.deleteDatabase(jobDatabaseName(jobId));
    request.onsuccess = () => resolve();
    request.onerror = () => reject(request.error);
  });
}
