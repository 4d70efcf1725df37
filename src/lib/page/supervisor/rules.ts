/**
 * The page's supervision rules, as pure functions of what was seen and when:
 * when an engine counts as hung, what to do when the worker is gone, how many
 * times the page may reload itself for the GPU, when this tab takes over
 * another's job and which jobs resume when the app opens. The adapters
 * (job-supervisor.ts, reload-guard.ts, resume-on-open.ts) do the I/O.
 */
import { backoffMs } from '$lib/shared/backoff';
import type { RunState } from '$lib/shared/job';

/** No token for this long (at least) means the engine hung. */
export const HANG_FLOOR_MS = 15_000;
/**
 * The prefill speed assumed until the job's first item reports one: the slowest device
 * measured running the model (WebLLM on SwiftShader, a GPU emulated on two CPU cores:
 * 0.4 tokens/s). Assuming a GPU's speed instead, a first prompt on a slow device looked
 * hung after 15 s and the worker was replaced again and again (found on the real runtime).
 */
export const SLOWEST_PREFILL_TOKENS_PER_S = 0.4;
/** Automatic page reloads allowed for a GPU blocked after crashes, in RELOAD_WINDOW_MS. */
export const MAX_AUTO_RELOADS = 3;
export const RELOAD_WINDOW_MS = 10 * 60_000;
/** Worker crashes in a row, without a commit between them, before the job stops. */
export const MAX_WORKER_CRASHES = 3;

export interface EngineActivity {
  /** Prompt tokens of the item being generated. */
  promptTokens: number;
  /** The engine's measured prefill speed, once an item reported it. */
  prefillTokensPerSecond: number | null;
  /** The slowest gap between two streamed pieces of text so far, in ms. */
  maxGapMs: number;
}

/**
 * How long without a token means a hang: ten times the slowest gap seen so
 * far, three times the expected prefill of this item's prompt (at the slowest
 * speed measured anywhere until this job measured its own), and never less
 * than HANG_FLOOR_MS.
 */
export function hangLimitMs(activity: EngineActivity): number {
  const speed = activity.prefillTokensPerSecond || SLOWEST_PREFILL_TOKENS_PER_S;
  const prefillMs = (activity.promptTokens / speed) * 1000 * 3;
  return Math.max(HANG_FLOOR_MS, activity.maxGapMs * 10, prefillMs);
}

export function isHung(now: number, lastActivity: number, activity: EngineActivity): boolean {
  return now - lastActivity >= hangLimitMs(activity);
}

export type WorkerLossAction =
  /** The engine hung and its worker was replaced: run again. */
  | 'resume'
  /** The worker crashed: run again in a new one. */
  | 'restart'
  /** Pause was pressed (the engine hung, or the worker crashed or was stopped for it): stay paused. */
  | 'paused'
  /** Stop with an error: it crashed MAX_WORKER_CRASHES times in a row. */
  | 'stop';

/**
 * What to do when the worker is gone (it was terminated after a hang, or it
 * crashed). `crashesBefore` counts crashes in a row before this one (a commit
 * resets it); `crashes` in the answer counts this one too.
 */
export function afterWorkerLoss(loss: { hung: boolean; crashesBefore: number; pausing: boolean }): {
  action: WorkerLossAction;
  crashes: number;
} {
  // Pause wins over every recovery: the job is stored paused, and only Resume starts it again.
  if (loss.pausing) return { action: 'paused', crashes: loss.crashesBefore };
  if (loss.hung) return { action: 'resume', crashes: loss.crashesBefore };
  const crashes = loss.crashesBefore + 1;
  return { action: crashes < MAX_WORKER_CRASHES ? 'restart' : 'stop', crashes };
}

/** Waits before asking a server that did not answer again: 5 s, doubling, at most a minute. */
export function serverRetryDelayMs(waitsBefore: number): number {
  return backoffMs({ firstMs: 5_000, maxMs: 60_000, jitter: 0 }, waitsBefore);
}

export type ReloadDecision =
  { reload: true; reloads: number[] } | { reload: false; recent: number[] };

/**
 * Whether the page may reload itself to get WebGPU back, given when it did
 * before (ms since epoch): at most MAX_AUTO_RELOADS times in RELOAD_WINDOW_MS.
 * `reloads` is the list to keep when it does.
 */
export function decideReload(now: number, before: readonly number[]): ReloadDecision {
  const recent = before.filter((at) => now - at < RELOAD_WINDOW_MS);
  if (recent.length >= MAX_AUTO_RELOADS) return { reload: false, recent };
  return { reload: true, reloads: [...recent, now] };
}

/** Whether a run's stop means Chrome blocks WebGPU for this site (only a reload lifts it). */
export function isGpuBlocked(code: string | undefined, afterGpuReload: boolean): boolean {
  return code === 'gpu-blocked' || (code === 'no-webgpu' && afterGpuReload);
}

/**
 * This tab got the job's lock after another tab held it: take over when the job
 * was still running there (that tab closed or died mid-run).
 */
export function shouldTakeOver(stored: RunState, runningHere: boolean): boolean {
  return stored === 'running' && !runningHere;
}

/**
 * Whether a job resumes by itself when the app opens: it was running with no
 * tab holding its lock (the page died), or it is the job this tab reloaded for
 * (its run stopped itself so the page could reload). Others only with the
 * "resume interrupted jobs" setting.
 */
export function shouldResumeOnOpen(job: {
  reloadedFor: boolean;
  autoResume: boolean;
  lockedElsewhere: boolean;
  runningHere: boolean;
  stored: RunState | null;
}): boolean {
  if (!job.reloadedFor && !job.autoResume) return false;
  if (job.lockedElsewhere || job.runningHere) return false;
  return job.stored === 'running' || (job.reloadedFor && job.stored === 'stopped');
}
