/**
 * The supervisors of this tab, one a job: they outlive the job page while they work, and
 * hear what other tabs broadcast about their job.
 */
import { untrack } from 'svelte';
import { SvelteMap } from 'svelte/reactivity';
import { onBroadcast } from '../job-broadcast';
import { JobSupervisor } from './job-supervisor';

// Reactive, so the page can follow whether any job runs in this tab.
const supervisors = new SvelteMap<string, JobSupervisor>();

onBroadcast((message) => supervisors.get(message.jobId)?.receive(message));

/** This tab runs the job now. */
export function isRunningHere(jobId: string): boolean {
  return supervisors.get(jobId)?.session.running ?? false;
}

/** Some job runs in this tab now (read in an effect: it follows). */
export function anyRunningHere(): boolean {
  for (const supervisor of supervisors.values()) if (supervisor.session.running) return true;
  return false;
}

/** Every job supervised in this tab, with its supervisor (read in an effect: it follows). */
export function supervised(): IterableIterator<[string, JobSupervisor]> {
  return supervisors.entries();
}

/**
 * The job page closed: an idle job's supervisor is let go (its rows may hold 100,000
 * entries); one that runs, waits for another tab's lock or for a server stays.
 */
export function releaseSupervisor(jobId: string): void {
  const supervisor = supervisors.get(jobId);
  if (supervisor?.idle) supervisors.delete(jobId);
}

/** The one supervisor of a job in this tab (it outlives the job page while it works). */
export function supervisorFor(jobId: string): JobSupervisor {
  // The job page asks in a $derived, where state may not change: the map's change is not its.
  return untrack(() => {
    let supervisor = supervisors.get(jobId);
    if (!supervisor) {
      supervisor = new JobSupervisor(jobId);
      supervisors.set(jobId, supervisor);
    }
    return supervisor;
  });
}
