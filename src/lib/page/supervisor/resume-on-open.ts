/**
 * The app-level part of "nothing lost": when the app opens (after a crash,
 * a browser restart or an automatic reload) and when a frozen or hidden page
 * becomes active again, interrupted jobs resume by themselves.
 */
import { jobLockName } from '$lib/shared/storage-names';
import * as jobs from '$lib/store/jobs';
import { getSettings } from '$lib/store/settings';
import { isRunningHere, supervisorFor } from './registry';
import { reloadGuard } from './reload-guard';
import { shouldResumeOnOpen } from './rules';

async function heldLocks(): Promise<Set<string>> {
  if (!navigator.locks) return new Set();
  const { held = [] } = await navigator.locks.query();
  return new Set(held.map((lock) => lock.name ?? ''));
}

/**
 * Resumes jobs that were running when their page died. The job this tab
 * reloaded for always resumes; others when the setting says so (on by default).
 */
async function resumeInterrupted(): Promise<string[]> {
  const reloadedFor = reloadGuard().takeResumeTarget();
  const [settings, list, locked] = await Promise.all([getSettings(), jobs.listJobs(), heldLocks()]);
  const resumed: string[] = [];
  for (const job of list) {
    const afterGpuReload = job.id === reloadedFor;
    // Only a job that may resume is read (each job has a database of its own).
    const mayResume = afterGpuReload || settings.autoResume;
    const progress = mayResume ? await jobs.getProgress(job.id).catch(() => null) : null;
    const resume = shouldResumeOnOpen({
      reloadedFor: afterGpuReload,
      autoResume: settings.autoResume,
      lockedElsewhere: locked.has(jobLockName(job.id)),
      runningHere: isRunningHere(job.id),
      stored: progress?.state ?? null
    });
    if (!resume) continue;
    // Pause was pressed and its run could not store it (its tab closed while pausing): paused.
    if (progress?.state === 'running' && (await jobs.pauseRequested(job.id))) {
      await jobs.markPaused(job.id, Date.now());
      continue;
    }
    const supervisor = supervisorFor(job.id);
    await supervisor.open();
    await supervisor.note(
      'resumed',
      null,
      afterGpuReload
        ? 'resumed by itself after the page reload'
        : 'resumed by itself when the app opened'
    );
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- each job runs under its own supervisor, which reports through its session
    void supervisor.run({ afterGpuReload });
    resumed.push(job.id);
  }
  return resumed;
}

let started = false;

export function startSupervisor(): void {
  if (started) return;
  started = true;
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- resuming on open is a convenience: a job it cannot read stays as it is, and its page says why when opened
  void resumeInterrupted();
  // A frozen page (Page Lifecycle) or a hidden one that Chrome throttled: look again.
  const check = () => {
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- resuming on open is a convenience: a job it cannot read stays as it is, and its page says why when opened
    if (document.visibilityState === 'visible') void resumeInterrupted();
  };
  document.addEventListener('resume', check);
  document.addEventListener('visibilitychange', check);
}
