/**
 * The app-level part of "nothing lost": when the app opens (after a crash,
 * a browser restart or an automatic reload) and when a frozen or hidden page
 * becomes active again, interrupted jobs resume by themselves.
 */
import { jobLockName } from '$lib/jobs/request';
import * as store from '$lib/jobs/store';
import { RESUME_AFTER_RELOAD_KEY, sessionFor } from './job-session.svelte';

async function lockedJobs(): Promise<Set<string>> {
  if (!navigator.locks) return new Set();
  const { held = [] } = await navigator.locks.query();
  return new Set(held.map((lock) => lock.name ?? ''));
}

/**
 * Resumes jobs that were running when their page died. The job this tab
 * reloaded for always resumes; others when the setting says so (on by default).
 */
export async function resumeInterrupted(): Promise<string[]> {
  const reloadedFor = sessionStorage.getItem(RESUME_AFTER_RELOAD_KEY);
  sessionStorage.removeItem(RESUME_AFTER_RELOAD_KEY);
  const [settings, jobs, locked] = await Promise.all([
    store.getSettings(),
    store.listJobs(),
    lockedJobs()
  ]);
  const resumed: string[] = [];
  for (const job of jobs) {
    if (job.id !== reloadedFor && !settings.autoResume) continue;
    if (locked.has(jobLockName(job.id))) continue;
    const progress = await store.getProgress(job.id).catch(() => null);
    // 'running' with no tab holding its lock: the page died; 'stopped' for the job this tab
    // reloaded for: the run stopped itself so that the page could reload.
    const interrupted =
      progress?.state === 'running' || (job.id === reloadedFor && progress?.state === 'stopped');
    if (!interrupted) continue;
    const session = sessionFor(job.id);
    if (session.running) continue;
    await session.open();
    session.resumedAfterGpuReload = job.id === reloadedFor;
    await session.note(
      'resumed',
      null,
      job.id === reloadedFor
        ? 'resumed by itself after the page reload'
        : 'resumed by itself when the app opened'
    );
    void session.run();
    resumed.push(job.id);
  }
  return resumed;
}

let started = false;

export function startSupervisor(): void {
  if (started) return;
  started = true;
  void resumeInterrupted();
  // A frozen page (Page Lifecycle) or a hidden one that Chrome throttled: look again.
  const check = () => {
    if (document.visibilityState === 'visible') void resumeInterrupted();
  };
  document.addEventListener('resume', check);
  document.addEventListener('visibilitychange', check);
}
