/**
 * Creating a job from the file the import worker has open, and remembering the
 * servers jobs use.
 */
import type { JobMeta } from '$lib/shared/job';
import * as jobs from '$lib/store/jobs';
import { storeJob, type ImportProgress } from './import-bridge';
import { refreshWhenIdle } from './runner-bridge';
import { settings } from './settings.svelte';

/** A new job's record, before its items are counted and its needs estimated. */
export type NewJob = Omit<JobMeta, 'id' | 'createdAt' | 'total' | 'needs'>;

/**
 * Creates the job from the file open in the import worker (which stores it, all or
 * nothing) and returns its id; `started` hears the id first, so Cancel can remove it.
 */
export async function createJob(
  job: NewJob,
  started: (id: string) => void,
  onPhase: ImportProgress
): Promise<string> {
  const id = jobs.newJobId();
  started(id);
  // Ask the browser to keep this site's data when the disk runs low (silent in Chrome).
  await navigator.storage?.persist?.().catch(() => false);
  await storeJob({ ...job, id, createdAt: Date.now() }, onPhase);
  return id;
}

/**
 * Remembers a server for jobs: its origin joins the runner worker's CSP (through the
 * service worker), and its API key is kept in this browser's settings only ('' forgets it).
 */
export async function rememberServer(baseUrl: string, apiKey: string): Promise<void> {
  await settings.update((stored) => ({
    servers: [...new Set([...(stored.servers ?? []), baseUrl])],
    serverKeys: Object.fromEntries(
      Object.entries({ ...stored.serverKeys, [baseUrl]: apiKey }).filter(([, key]) => key)
    )
  }));
  refreshWhenIdle();
}
