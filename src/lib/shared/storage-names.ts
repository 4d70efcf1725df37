/**
 * Every name LocalBatch stores or coordinates under, in one place.
 *
 * Persisted names (IndexedDB databases and keys, Cache Storage) keep the form
 * they were first released with: renaming one would orphan what users have
 * stored. Names that live only while a browser runs (Web Locks, sessionStorage,
 * the BroadcastChannel) all use the `localbatch:` prefix.
 */

export const STORAGE = {
  /** IndexedDB: the catalog of jobs (id -> JobMeta). */
  catalog: { db: 'localbatch', store: 'jobs' },
  /** IndexedDB: one database per job, for its items and progress. */
  job: { dbPrefix: 'localbatch-job-', store: 'items' },
  /** IndexedDB: this browser's settings and its pending model downloads. */
  settings: {
    db: 'localbatch-settings',
    store: 'settings',
    machineKey: 'machine',
    downloadsKey: 'downloads'
  },
  /** Cache Storage: the app's own files, one cache per version. */
  appCachePrefix: 'localbatch-app-',
  /** Cache Storage: a file shared to the app, until the import form takes it. */
  shareCache: 'localbatch-shared'
} as const;

export function jobDatabaseName(jobId: string): string {
  return STORAGE.job.dbPrefix + jobId;
}

/** Web Lock held by the one runner of a job, across tabs and workers. */
export function jobLockName(jobId: string): string {
  return `localbatch:job:${jobId}`;
}

/** Web Lock held by the one tab that downloads a model. */
export function modelDownloadLockName(modelId: string): string {
  return `localbatch:model-download:${modelId}`;
}

/** sessionStorage: when this tab reloaded itself to get the GPU back (ms since epoch, a list). */
export const AUTO_RELOADS_KEY = 'localbatch:auto-reloads';
/** sessionStorage: the job to resume after this tab's reload. */
export const RESUME_AFTER_RELOAD_KEY = 'localbatch:resume-after-reload';
/** BroadcastChannel: a running job's progress, for its other tabs. */
export const JOB_CHANNEL = 'localbatch';
/** BroadcastChannel: the settings were saved (the other tabs read them again). */
export const SETTINGS_CHANNEL = 'localbatch:settings';
/** The runner worker's name (shown in the browser's task manager and DevTools). */
export const RUNNER_WORKER_NAME = 'localbatch-runner';
