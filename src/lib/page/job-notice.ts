/**
 * A desktop notification when a job that ran in this tab ends while the tab is hidden: a
 * night-long job is left alone, and whoever left it wants to know when it is done or needs
 * them. Only the end of a run this tab made: a Pause is the user's own act, a job that runs in
 * another tab is that tab's to tell, and a run that stops to go on by itself (a restart after
 * a crash, a reload for the GPU) has not ended.
 */
import type { JobStatus } from './job-session.svelte';
import { formatCount as count } from '$lib/shared/figures';
import type { ItemError } from '$lib/shared/stop';

export interface JobNotice {
  title: string;
  body: string;
}

/** A job as its notice tells it. */
export interface NoticedJob {
  name: string;
  /** This tab runs it now (the session's `running`: starting, running or pausing). */
  running: boolean;
  status: JobStatus;
  total: number;
  done: number;
  failed: number;
  /** Items with a result (done, failed or skipped), as the job page counts them. */
  saved: number;
  /** Why the run stopped, in the words the job page shows (what was kept, what to do). */
  error: ItemError | null;
  /** The page reloads to get the GPU back, and the job resumes after it. */
  reloading: boolean;
}

/**
 * The run has not ended: it goes on by itself (interrupted with no reason: a restart; a
 * server that does not answer, asked again after a while; a page reload for the GPU).
 */
function goesOn(job: NoticedJob): boolean {
  return (
    job.reloading ||
    (job.status === 'Interrupted' && !job.error) ||
    (job.status === 'Paused' && job.error?.code === 'server-down')
  );
}

/**
 * The notice for a job whose run just ended in `job.status`: done, or stopped and waiting for
 * the user (stopped; paused by the run itself, as when the GPU has too little memory even for
 * the smallest plan; interrupted with a reason, as a GPU the browser blocks until a Reload);
 * null where none is due (paused by the user, or going on by itself).
 */
export function endNotice(job: NoticedJob): JobNotice | null {
  if (goesOn(job)) return null;
  if (job.status === 'Completed') {
    const failed = job.failed > 0 ? `, ${count(job.failed)} failed` : '';
    return {
      title: `Done: ${job.name}`,
      body: `${count(job.done)} of ${count(job.total)} items done${failed}. The results are saved in this browser; export them from the job's page.`
    };
  }
  const waits =
    job.status === 'Stopped' ||
    ((job.status === 'Paused' || job.status === 'Interrupted') && job.error);
  if (!waits) return null;
  return {
    title: `${job.status === 'Paused' ? 'Paused' : 'Stopped'}: ${job.name}`,
    body:
      job.error?.message ??
      `Nothing was lost: ${count(job.saved)} of ${count(job.total)} results are saved. Open the job and press Resume.`
  };
}

export interface NoticeDeps {
  /** The setting is on and the browser allows notifications. */
  allowed(): boolean;
  /** The tab is hidden (the user is elsewhere). */
  hidden(): boolean;
  show(jobId: string, notice: JobNotice): void;
}

/**
 * Follows the status of each job this tab supervises (`observe`, from an effect, with every
 * status seen) and shows a notice when a run of it ends: a job seen running here, then done or
 * stopped. A job opened already completed, or paused by the user, says nothing; a run that
 * goes on by itself has its end still to come.
 */
export class JobNotifier {
  readonly #deps: NoticeDeps;
  /** Jobs seen running in this tab whose run has not ended yet. */
  readonly #running = new Set<string>();

  constructor(deps: NoticeDeps) {
    this.#deps = deps;
  }

  observe(jobId: string, job: NoticedJob): void {
    if (job.running) {
      this.#running.add(jobId);
      return;
    }
    if (!this.#running.has(jobId) || goesOn(job)) return;
    this.#running.delete(jobId);
    const notice = endNotice(job);
    if (notice && this.#deps.allowed() && this.#deps.hidden()) this.#deps.show(jobId, notice);
  }
}

/** The tab's notices on the browser's own API: through the service worker, which opens the job when one is clicked. */
export function browserNoticeDeps(
  allowed: () => boolean,
  jobUrl: (jobId: string) => string
): NoticeDeps {
  return {
    allowed: () => allowed() && 'Notification' in window && Notification.permission === 'granted',
    hidden: () => document.visibilityState === 'hidden',
    show(jobId, notice) {
      const options: NotificationOptions = {
        body: notice.body,
        tag: `localbatch-job-${jobId}`,
        data: { url: new URL(jobUrl(jobId), location.href).href }
      };
      const registration =
        'serviceWorker' in navigator
          ? navigator.serviceWorker.getRegistration()
          : Promise.resolve(undefined);
      registration
        .then((registration) =>
          registration
            ? registration.showNotification(notice.title, options)
            : void new Notification(notice.title, options)
        )
        .catch((error: unknown) => {
          // A notice is a courtesy: the job and its results are stored whatever becomes of it.
          console.warn('LocalBatch could not show a notification:', error);
        });
    }
  };
}
