/**
 * Runs a job from the page and keeps it going: a hung engine or a dead worker
 * gets a new worker and the job resumes; a GPU that Chrome blocked after
 * crashes gets a page reload (a few times at most) and the job resumes after
 * it; when another tab runs the job, this one shows its progress and takes
 * over when that tab closes. The rules are in rules.ts; this is their I/O.
 */
import { plural } from '$lib/shared/figures';
import { keptSentence } from '$lib/shared/stop';
import type { JobProgress, RunLogEntry } from '$lib/shared/job';
import { jobLockName } from '$lib/shared/storage-names';
import * as jobs from '$lib/store/jobs';
import type { RunEvent } from '$lib/worker/runner';
import { broadcast, onBroadcast, type JobBroadcast, type RowSummary } from '../job-broadcast';
import { JobSession } from '../job-session.svelte';
import { pauseJob, refreshWhenIdle, restart, runJob, terminate } from '../runner-bridge';
import { reloadGuard } from './reload-guard';
import {
  MAX_AUTO_RELOADS,
  RELOAD_WINDOW_MS,
  afterWorkerLoss,
  isGpuBlocked,
  isHung,
  serverRetryDelayMs,
  shouldTakeOver
} from './rules';

/** How often the page looks for a hung engine. */
const WATCH_INTERVAL_MS = 1000;
/** The page shows a run's events at most this often (in the next animation frame after it). */
const SHOW_EVERY_MS = 100;
/** A hidden tab gets no animation frames: its events are shown this long after instead. */
const HIDDEN_FLUSH_MS = 250;

export class JobSupervisor {
  readonly session: JobSession;
  /** When the running engine last showed life, and how slow it has been. */
  #lastActivity = 0;
  #lastTextAt = 0;
  #maxGapMs = 0;
  #prefillTokensPerSecond: number | null = null;
  #hung: { index: number; waitedMs: number } | null = null;
  #waitingForLock = false;
  /** Worker crashes in a row, without a commit between them. */
  #crashes = 0;
  /** The worker was just replaced: it may hold the job's lock a moment longer. */
  #restarted = false;
  /** This page was reloaded to get the GPU back, and has not committed since. */
  #afterGpuReload = false;
  /** Tries in a row that found the server down, and the timer of the next. */
  #serverWaits = 0;
  #serverTimer: ReturnType<typeof setTimeout> | undefined;
  /** Run events not yet shown or broadcast: they go out once per frame, not per token or commit. */
  #pending: RunEvent[] = [];
  #frame = 0;
  #flushTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(jobId: string) {
    this.session = new JobSession(jobId);
  }

  get jobId(): string {
    return this.session.jobId;
  }

  /** Nothing runs or waits here: nothing is lost when the page lets this go. */
  get idle(): boolean {
    return (
      !this.session.running &&
      !this.#waitingForLock &&
      this.session.error?.code !== 'server-down' &&
      this.#pending.length === 0
    );
  }

  /** Reads the job and looks whether another tab runs it. */
  async open(): Promise<void> {
    await Promise.all([this.session.open(), this.refreshLock()]);
  }

  /** Whether another tab holds the job's lock now; if so, wait to take over. */
  async refreshLock(): Promise<void> {
    if (this.session.running || !navigator.locks) return;
    const { held = [] } = await navigator.locks.query();
    this.session.elsewhere = held.some((lock) => lock.name === jobLockName(this.jobId));
    if (this.session.elsewhere) void this.#takeOverWhenFree();
  }

  /**
   * While another tab runs the job, wait for its lock; when that tab closes
   * or dies with the job still running, this tab takes over.
   */
  async #takeOverWhenFree(): Promise<void> {
    if (this.#waitingForLock || !navigator.locks) return;
    this.#waitingForLock = true;
    try {
      await navigator.locks.request(jobLockName(this.jobId), async () => undefined);
      this.#flush();
      this.session.elsewhere = false;
      this.session.progress = await jobs.getProgress(this.jobId);
      if (shouldTakeOver(this.session.progress.state, this.session.running)) {
        await this.note('takeover', null, 'the tab that ran this job closed; this tab took over');
        void this.run();
      }
    } finally {
      this.#waitingForLock = false;
    }
  }

  /** A message from the tab that runs this job. */
  receive(message: JobBroadcast): void {
    if (this.session.running) return;
    this.session.applyBroadcast(message);
    void this.#takeOverWhenFree();
  }

  /** Adds a line to the run log: stored, shown, and sent to other tabs. */
  async note(kind: RunLogEntry['kind'], index: number | null, message: string): Promise<void> {
    const entry: RunLogEntry = { at: Date.now(), index, kind, message };
    await jobs.appendLog(this.jobId, entry);
    this.#flush();
    this.session.log = [...this.session.log, entry];
    broadcast({ jobId: this.jobId, type: 'log', entry });
  }

  #onEvent = (event: RunEvent): void => {
    const now = Date.now();
    this.#lastActivity = now;
    switch (event.type) {
      case 'item':
        this.#lastTextAt = 0;
        break;
      case 'text':
        if (this.#lastTextAt) this.#maxGapMs = Math.max(this.#maxGapMs, now - this.#lastTextAt);
        this.#lastTextAt = now;
        break;
      case 'committed': {
        this.#crashes = 0;
        this.#afterGpuReload = false;
        const prefill = event.result.usage?.prefill_tokens_per_s;
        if (prefill) this.#prefillTokensPerSecond = prefill;
        break;
      }
    }
    this.#pending.push(event);
    if (this.#pending.length > 1) return;
    this.#flushTimer = setTimeout(() => {
      this.#frame = requestAnimationFrame(this.#flush);
      this.#flushTimer = setTimeout(this.#flush, HIDDEN_FLUSH_MS);
    }, SHOW_EVERY_MS);
  };

  /**
   * Shows the pending events and sends them to other tabs: the page renders at most ten
   * times a second however fast items commit (each time in an animation frame), and other
   * tabs get one message each time, not one a commit.
   * Called before anything else changes the session, so events never land out of order.
   */
  #flush = (): void => {
    cancelAnimationFrame(this.#frame);
    clearTimeout(this.#flushTimer);
    const events = this.#pending;
    if (!events.length) return;
    this.#pending = [];
    const session = this.session;
    const now = Date.now();
    let rows: [number, RowSummary][] = [];
    let progress: JobProgress | null = null;
    const send = () => {
      if (progress) broadcast({ jobId: this.jobId, type: 'progress', rows, progress });
      rows = [];
      progress = null;
    };
    for (const event of events) {
      session.apply(event, now);
      if (event.type === 'committed') {
        const row = session.row(event.result.index);
        if (row) rows.push([event.result.index, row]);
        progress = event.progress;
      } else if (event.type === 'progress') {
        progress = event.progress;
      } else if (event.type === 'log') {
        send();
        broadcast({ jobId: this.jobId, type: 'log', entry: event.entry });
      }
    }
    send();
  };

  #watch(): void {
    this.#flush();
    const current = this.session.current;
    if (!this.session.running || !current || this.#hung) return;
    const now = Date.now();
    const activity = {
      promptTokens: this.session.promptTokens[current.index] ?? 0,
      prefillTokensPerSecond: this.#prefillTokensPerSecond,
      maxGapMs: this.#maxGapMs
    };
    if (!isHung(now, this.#lastActivity, activity)) return;
    const waited = now - this.#lastActivity;
    this.#hung = { index: current.index, waitedMs: waited };
    const message = `No token for ${Math.round(waited / 1000)} s: the engine hung at item ${current.index + 1}.`;
    void jobs
      .recordFailure(this.jobId, current.index, { code: 'hung', message })
      .finally(() => terminate(message));
  }

  /**
   * The server did not answer: run again after a while (longer each time it still does not),
   * in a fresh worker so a server set since the worker started is reachable.
   */
  #askServerLater(): void {
    const delay = serverRetryDelayMs(this.#serverWaits++);
    clearTimeout(this.#serverTimer);
    this.#serverTimer = setTimeout(() => {
      if (this.session.running || this.session.progress?.state !== 'paused') return;
      refreshWhenIdle();
      void this.run();
    }, delay);
  }

  /**
   * Runs the job and supervises it until it completes, pauses or stops.
   * `afterGpuReload`: this page was reloaded to get WebGPU back.
   */
  async run(options: { afterGpuReload?: boolean } = {}): Promise<void> {
    const session = this.session;
    clearTimeout(this.#serverTimer);
    if (session.running || session.blocked) return;
    if (options.afterGpuReload) this.#afterGpuReload = true;
    session.running = true;
    session.pausing = false;
    session.error = null;
    session.liveSince = Date.now();
    const watchdog = setInterval(() => this.#watch(), WATCH_INTERVAL_MS);
    try {
      while (await this.#runOnce());
    } finally {
      clearInterval(watchdog);
      this.#flush();
      session.running = false;
      session.pausing = false;
      session.current = null;
      session.inFlight.clear();
      session.loadProgress = null;
    }
  }

  /** One run in the worker. True when the supervisor should run again. */
  async #runOnce(): Promise<boolean> {
    const session = this.session;
    this.#lastActivity = Date.now();
    try {
      let outcome = await runJob(this.jobId, this.#onEvent);
      // A worker just terminated may hold the job's lock for a moment longer.
      for (let i = 0; outcome.state === 'busy' && this.#restarted && i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        outcome = await runJob(this.jobId, this.#onEvent);
      }
      this.#restarted = false;
      this.#flush();
      if (outcome.state === 'busy') {
        session.elsewhere = true;
        void this.#takeOverWhenFree();
        return false;
      }
      session.progress = outcome.progress;
      session.error = outcome.error;
      if (isGpuBlocked(outcome.error?.code, this.#afterGpuReload)) return this.#reloadForGpu();
      if (outcome.error?.code === 'server-down') this.#askServerLater();
      else this.#serverWaits = 0;
      return false;
    } catch (error) {
      // The worker is gone (hung and terminated, or crashed): what was committed is safe.
      this.#flush();
      session.progress = await jobs.getProgress(this.jobId);
      session.current = null;
      const hung = this.#hung;
      this.#hung = null;
      restart();
      this.#restarted = true;
      const { action, crashes } = afterWorkerLoss({
        hung: hung !== null,
        crashesBefore: this.#crashes,
        pausing: session.pausing
      });
      this.#crashes = action === 'stop' ? 0 : crashes;
      if (hung) {
        await this.note(
          'hung',
          hung.index,
          `no token for ${Math.round(hung.waitedMs / 1000)} s at item ${hung.index + 1}; engine restarted in a new worker`
        );
        return action === 'resume';
      }
      const reason = error instanceof Error ? error.message : String(error);
      if (action === 'restart') {
        await this.note('restart', null, `the runner crashed (${reason}); restarted`);
        return true;
      }
      session.error = {
        code: 'worker-crashed',
        message: `${reason} It crashed ${crashes} times in a row. ${keptSentence(session.saved, session.meta?.total ?? 0)} Press Resume to continue.`
      };
      return false;
    }
  }

  /** Reloads the page to get WebGPU back, within the reload budget (rules.ts). */
  async #reloadForGpu(): Promise<boolean> {
    const session = this.session;
    const guard = reloadGuard();
    const decision = guard.prepare(this.jobId);
    if (!decision.reload) {
      session.error = {
        code: 'gpu-blocked',
        message: `The browser keeps blocking the GPU for this page after crashes: LocalBatch reloaded the page ${decision.recent.length} times in the last ${RELOAD_WINDOW_MS / 60_000} minutes and stops here. ${keptSentence(session.saved, session.meta?.total ?? 0)} Press the browser's Reload button (Chrome lifts the block when you reload) and the job resumes by itself; if the GPU keeps crashing, close other tabs that use it or choose a smaller model.`
      };
      // The reload the user is asked for resumes the job (prepare marked it).
      await this.note(
        'stopped',
        null,
        `GPU blocked again after ${MAX_AUTO_RELOADS} automatic reloads; stopped`
      );
      return false;
    }
    await this.note(
      'reload',
      null,
      'the browser blocked the GPU after a crash; reloading the page to resume'
    );
    // Everything is committed (the run has returned): reload and resume after it.
    guard.reload();
    return false;
  }

  async pause(): Promise<void> {
    clearTimeout(this.#serverTimer);
    if (!this.session.running) return;
    this.session.pausing = true;
    await pauseJob(this.jobId);
  }

  /** Queues the failed (or unparsed) items again and runs them. */
  async retry(kind: jobs.RetryKind): Promise<void> {
    const session = this.session;
    if (session.running) return;
    const queued = await jobs.queueAgain(this.jobId, kind);
    if (!queued) return;
    this.#flush();
    session.progress = await jobs.getProgress(this.jobId);
    session.clearRows(session.progress.retry);
    await this.note('resumed', null, `${plural(queued, `${kind} item`)} queued again`);
    await this.run();
  }
}

const supervisors = new Map<string, JobSupervisor>();

onBroadcast((message) => supervisors.get(message.jobId)?.receive(message));

/** This tab runs the job now. */
export function isRunningHere(jobId: string): boolean {
  return supervisors.get(jobId)?.session.running ?? false;
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
  let supervisor = supervisors.get(jobId);
  if (!supervisor) {
    supervisor = new JobSupervisor(jobId);
    supervisors.set(jobId, supervisor);
  }
  return supervisor;
}
