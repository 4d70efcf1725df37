/**
 * Why an item failed or a run stopped: one vocabulary for the engines, the
 * runner, the page's supervisor and the stored results. Every message a user
 * reads about a stop says what was kept (`keptSentence`) and what to do next.
 */

/** What an engine reports (thrown as EngineError by the engines). */
export type EngineErrorCode =
  /** The GPU device was lost (GPU process crash, driver reset, out of memory in the runtime). */
  | 'device-lost'
  /** An allocation failed. */
  | 'out-of-memory'
  /** The preflight found that the memory plan does not fit this GPU. */
  | 'does-not-fit'
  /** The prompt does not fit the context window. */
  | 'context-exceeded'
  /** A host could not be reached while loading the model. */
  | 'network'
  /** The browser offers no WebGPU adapter. */
  | 'no-webgpu'
  /** Generation was stopped on purpose (Pause). */
  | 'cancelled'
  /** Anything else while loading. */
  | 'load-failed'
  /** Anything else while generating one item. */
  | 'generation-failed'
  /** The server cannot be reached, or keeps failing: wait for it, then resume. */
  | 'server-down';

/** Stops that are not an engine's: the runner's and the page's supervisor's. */
type SupervisorStopCode =
  /** The browser refused to store more (QuotaExceededError). */
  | 'quota'
  /** The worker died or stopped answering. */
  | 'worker-crashed'
  /** Chrome blocks WebGPU for this site after repeated GPU crashes. */
  | 'gpu-blocked'
  /** No token came for longer than the hang limit. */
  | 'hung'
  /** The page or the engine stopped while an item was being generated. */
  | 'interrupted';

export type StopCode = EngineErrorCode | SupervisorStopCode;

export interface ItemError {
  code: StopCode;
  message: string;
}

/** Errors that belong to one item: the item fails and the job goes on. */
export function isItemError(code: StopCode): boolean {
  return code === 'context-exceeded' || code === 'generation-failed';
}

/** A lost GPU device, whatever the cause: the engine restarts on a new device. */
export function isDeviceLoss(code: StopCode): boolean {
  return code === 'device-lost' || code === 'out-of-memory';
}

/** Results saved so far: done, failed and skipped ones. */
export function savedCount(progress: { done: number; failed: number; skipped: number }): number {
  return progress.done + progress.failed + progress.skipped;
}

/** "Nothing was lost: 12 of 689 results are saved." */
export function keptSentence(saved: number, total: number): string {
  return `Nothing was lost: ${saved} of ${total} results are saved.`;
}

/** What to do after a run stopped with this code, for the user. */
function nextStep(code: StopCode): string {
  switch (code) {
    case 'network':
      return 'Connect to the network, then press Resume.';
    case 'no-webgpu':
      return 'Reload the page or use a browser with WebGPU, then press Resume.';
    case 'quota':
      return 'Free some space (delete finished jobs after exporting them, or a cached model), then press Resume.';
    case 'server-down':
      return 'LocalBatch asks the server again every little while and resumes by itself when it answers (or press Resume).';
    default:
      return 'Press Resume to continue from where it stopped.';
  }
}

/** What the user reads when a run stops: what happened, what was kept, what to do next. */
export function stopMessage(error: ItemError, saved: number, total: number): string {
  return `${error.message} ${keptSentence(saved, total)} ${nextStep(error.code)}`;
}

/** The browser refused to store more. */
export const QUOTA_MESSAGE =
  'The browser has no more room for this job: the storage quota is used up (QuotaExceededError). The latest results could not be written: those items run again when you resume.';

/** A full disk, however the browser words it. */
export function isQuotaError(error: unknown): boolean {
  return (
    error instanceof DOMException &&
    (error.name === 'QuotaExceededError' || /quota/i.test(error.message))
  );
}
