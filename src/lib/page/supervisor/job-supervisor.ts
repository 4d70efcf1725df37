/**
 * Runs a job from the page and keeps it going: a hung engine or a dead worker
 * gets a new worker and the job resumes; a server that does not answer is asked
 * again later; a GPU that Chrome blocked after crashes gets a page reload (a few
 * times at most) and the job resumes after it; when another tab runs the job,
 * this one shows its progress and takes over when that tab closes. The rules are
 * in rules.ts, the run's events reach the page through EventPump and hangs are
 * seen by HangWatch; this is their I/O. It also makes the job's changes the page
 * asks for (log lines, items queued again, the cleaned dataset's threshold): the
 * session only shows the job.
 */
import { plural } from '$lib/shared/figures';
import { keptSentence } from '$lib/shared/stop';
import type { JobMeta, JobProgress, RunLogEntry } from '$lib/shared/job';
import { jobLockName } from '$lib/shared/storage-names';
import type { RetryKind } from '$lib/store/jobs';
import type { RunEvent } from '$lib/worker/runner';
import type { JobBroadcast } from '../job-broadcast';
import { JobSession } from '../job-session.svelte';
import { EventPump } from './event-pump';
import { HangWatch } from './hang-watch';
import { pageDeps, type SupervisorDeps } from './supervisor-deps';
import type { Cancel } from './page-clock';
import {
  MAX_AUTO_RELOADS,
  RELOAD_WINDOW_MS,
  afterWorkerLoss,
  isGpuBlocked,
  serverRetryDelayMs,
  shouldTakeOver
} from './rules';

/** How often the page looks for a hung engine. */
const WATCH_INTERVAL_MS = 1000;
/** A worker just terminated may hold the job's lock a moment: asked again this often, 20 times. */
const LOCK_RETRY_MS = 100;
const LOCK_RETRIES = 20;
/** A run that has not stopped this long after Pause (a hung step, a load) has its worker stopped. */
export const PAUSE_GRACE_MS = 5000;

export class JobSupervisor {
  readonly session: JobSession;
  readonly #deps: SupervisorDeps;
  readonly #pump: EventPump;
  readonly #hangs: HangWatch;
  #waitingForLock = false;
  /** Worker crashes in a row, without a commit between them. */
  #crashes = 0;
  /** The worker was just replaced: it may hold the job's lock a moment longer. */
  #restarted = false;
  /** This page was reloaded to get the GPU back, and has not committed since. */
  #afterGpuReload = false;
  /** Tries in a row that found the server down, and the timer of the next. */
  #serverWaits = 0;
  #cancelServerWait: Cancel = () => undefined;
  /** When Pause was pressed in this run, and whether its worker was stopped for it. */
  #pausedAt: number | null = null;
  #stoppedForPause = false;

  constructor(jobId: string, deps: SupervisorDeps = pageDeps()) {
    this.session = new JobSession(jobId);
    this.#deps = deps;
    this.#pump = new EventPump(jobId, this.session, deps.broadcast, deps.clock);
    this.#hangs = new HangWatch(() => deps.clock.now());
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
      this.#pump.empty
    );
  }

  /** Reads the job and looks whether another tab runs it. */
  async open(): Promise<void> {
    await Promise.all([this.session.open(), this.refreshLock()]);
  }

  /** Whether another tab holds the job's lock now; if so, wait to take over. */
  async refreshLock(): Promise<void> {
    const locks = this.#deps.locks;
    if (this.session.running || !locks) return;
    const held = await locks.held(jobLockName(this.jobId));
    this.session.heldElsewhere(held);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- waits for the other tab in the background; it reports through the session
    if (held) void this.#takeOverWhenFree();
  }

  /**
   * While another tab runs the job, wait for its lock; when that tab closes
   * or dies with the job still running, this tab takes over.
   */
  async #takeOverWhenFree(): Promise<void> {
    const locks = this.#deps.locks;
    if (this.#waitingForLock || !locks) return;
    this.#waitingForLock = true;
    try {
      await locks.whenFree(jobLockName(this.jobId));
      this.#pump.flush();
      this.session.heldElsewhere(false);
      const progress = await this.#storedState();
      this.session.progressRead(progress);
      if (shouldTakeOver(progress.state, this.session.running)) {
        await this.note('takeover', null, 'the tab that ran this job closed; this tab took over');
        // eslint-disable-next-line @typescript-eslint/no-floating-promises -- run() reports every outcome through the session
        void this.run();
      }
    } finally {
      this.#waitingForLock = false;
    }
  }

  /**
   * The progress as stored, a job left running after Pause (its worker was stopped or died
   * while pausing, in whichever tab) stored paused first: it never resumes by itself.
   */
  async #storedState(): Promise<JobProgress> {
    const { store, clock } = this.#deps;
    if (!(await store.pauseRequested(this.jobId))) return store.getProgress(this.jobId);
    return (await store.markPaused(this.jobId, clock.now())).progress;
  }

  /** A message from the tab that runs this job. */
  receive(message: JobBroadcast): void {
    if (this.session.running) return;
    this.session.applyBroadcast(message);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- waits for the other tab in the background; it reports through the session
    void this.#takeOverWhenFree();
  }

  /** Adds a line to the run log: stored, shown, and sent to other tabs. */
  async note(kind: RunLogEntry['kind'], index: number | null, message: string): Promise<void> {
    const entry: RunLogEntry = { at: this.#deps.clock.now(), index, kind, message };
    try {
      await this.#deps.store.appendLog(this.jobId, entry);
    } catch {
      // Not written (a full disk): the line is still shown here and in other tabs, and the
      // run says itself what the full disk kept.
    }
    this.#pump.flush();
    this.session.logged(entry);
    this.#deps.broadcast({ jobId: this.jobId, type: 'log', entry });
  }

  #onEvent = (event: RunEvent): void => {
    this.#hangs.saw(event);
    if (event.type === 'committed') {
      this.#crashes = 0;
      this.#afterGpuReload = false;
    }
    this.#pump.push(event);
  };

  /** Every second: shows what is pending, and replaces the worker of a hung engine. */
  #watch(): void {
    this.#pump.flush();
    const { clock, bridge } = this.#deps;
    const paused = this.#pausedAt;
    if (
      this.session.pausing &&
      paused !== null &&
      !this.#stoppedForPause &&
      clock.now() - paused >= PAUSE_GRACE_MS
    ) {
      // The engine does not hear the Pause (a hung step, a long load): its worker goes, and
      // the job is stored paused when the run ends (#settlePause).
      this.#stoppedForPause = true;
      bridge.terminate(
        `The engine did not stop within ${PAUSE_GRACE_MS / 1000} s of Pause; its worker was stopped.`
      );
      return;
    }
    const current = this.session.current;
    if (!this.session.running || !current) return;
    const hang = this.#hangs.check({
      index: current.index,
      promptTokens: this.session.promptTokens[current.index] ?? 0
    });
    if (!hang) return;
    const message = `No token for ${Math.round(hang.waitedMs / 1000)} s: the engine hung at item ${hang.index + 1}.`;
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the worker is terminated whether or not the mark is written; the run reports the rest
    void this.#deps.store
      .recordFailure(this.jobId, hang.index, { code: 'hung', message })
      .finally(() => this.#deps.bridge.terminate(message));
  }

  /**
   * The server did not answer: run again after a while (longer each time it still does not),
   * in a fresh worker so a server set since the worker started is reachable.
   */
  #askServerLater(): void {
    const delay = serverRetryDelayMs(this.#serverWaits++);
    this.#cancelServerWait();
    this.#cancelServerWait = this.#deps.clock.after(delay, () => {
      if (this.session.running || this.session.progress?.state !== 'paused') return;
      this.#deps.bridge.refreshWhenIdle();
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- run() reports every outcome through the session
      void this.run();
    });
  }

  /**
   * Runs the job and supervises it until it completes, pauses or stops.
   * `afterGpuReload`: this page was reloaded to get WebGPU back.
   */
  async run(options: { afterGpuReload?: boolean } = {}): Promise<void> {
    const session = this.session;
    this.#cancelServerWait();
    if (session.running || session.blocked) return;
    if (options.afterGpuReload) this.#afterGpuReload = true;
    session.started(this.#deps.clock.now());
    this.#pausedAt = null;
    this.#stoppedForPause = false;
    const stopWatching = this.#deps.clock.every(WATCH_INTERVAL_MS, () => this.#watch());
    try {
      // A Pause pressed while a lost worker was being replaced holds: no run starts after it.
      while ((await this.#runOnce()) && !session.pausing);
      if (session.pausing) await this.#settlePause();
    } finally {
      stopWatching();
      this.#pump.flush();
      session.ended();
    }
  }

  /** One run in the worker. True when the supervisor should run again. */
  async #runOnce(): Promise<boolean> {
    const { bridge, clock, store } = this.#deps;
    const session = this.session;
    this.#hangs.begin();
    try {
      let outcome = await bridge.runJob(this.jobId, this.#onEvent);
      // A worker just terminated may hold the job's lock for a moment longer.
      // Pause ends the retries: the job is stored paused (#settlePause), not waited for.
      for (
        let i = 0;
        outcome.state === 'busy' && this.#restarted && !session.pausing && i < LOCK_RETRIES;
        i++
      ) {
        await new Promise<void>((resolve) => clock.after(LOCK_RETRY_MS, resolve));
        if (session.pausing) break;
        outcome = await bridge.runJob(this.jobId, this.#onEvent);
      }
      this.#restarted = false;
      this.#pump.flush();
      if (outcome.state === 'busy') {
        if (session.pausing) return false;
        session.heldElsewhere(true);
        // eslint-disable-next-line @typescript-eslint/no-floating-promises -- waits for the other tab in the background; it reports through the session
        void this.#takeOverWhenFree();
        return false;
      }
      session.runReturned(outcome.progress, outcome.error);
      if (isGpuBlocked(outcome.error?.code, this.#afterGpuReload)) return this.#reloadForGpu();
      if (outcome.error?.code === 'server-down') this.#askServerLater();
      else this.#serverWaits = 0;
      return false;
    } catch (error) {
      // The worker is gone (hung and terminated, or crashed): what was committed is safe.
      this.#pump.flush();
      session.workerLost(await store.getProgress(this.jobId));
      const hung = this.#hangs.takeHang();
      bridge.restart();
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
      if (action === 'paused') return false;
      const reason = error instanceof Error ? error.message : String(error);
      if (action === 'restart') {
        await this.note('restart', null, `the runner crashed (${reason}); restarted`);
        return true;
      }
      session.stopped({
        code: 'worker-crashed',
        message: `${reason} It crashed ${crashes} times in a row. ${keptSentence(session.saved, session.meta?.total ?? 0)} Press Resume to continue.`
      });
      return false;
    }
  }

  /** Reloads the page to get WebGPU back, within the reload budget (rules.ts). */
  async #reloadForGpu(): Promise<boolean> {
    const session = this.session;
    const guard = this.#deps.reloadGuard();
    const decision = guard.prepare(this.jobId);
    if (!decision.reload) {
      session.stopped({
        code: 'gpu-blocked',
        message: `The browser keeps blocking the GPU for this page after crashes: LocalBatch reloaded the page ${decision.recent.length} times in the last ${RELOAD_WINDOW_MS / 60_000} minutes and stops here. ${keptSentence(session.saved, session.meta?.total ?? 0)} Press the browser's Reload button (Chrome lifts the block when you reload) and the job resumes by itself; if the GPU keeps crashing, close other tabs that use it or choose a smaller model.`
      });
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
    session.reloadingPage();
    guard.reload();
    return false;
  }

  /**
   * After a Pause, the run over: a job its run could not store paused (the worker hung, died,
   * was stopped for the Pause, or never got the lock back) is stored paused, here and in every
   * tab (they read it, or are sent it).
   */
  async #settlePause(): Promise<void> {
    const { store, clock, broadcast } = this.#deps;
    const { progress, changed } = await store.markPaused(this.jobId, clock.now());
    if (!changed) return;
    this.#pump.flush();
    this.session.runReturned(progress, null);
    broadcast({ jobId: this.jobId, type: 'progress', rows: [], progress });
    await this.note('paused', null, 'paused: the run stopped for Pause');
  }

  /**
   * Pause: stored first (so nothing resumes the job until Start or Resume, whatever becomes
   * of this run), then sent to the run. Never rejects: a Pause that could not be stored is
   * said in the run log; a worker already gone ends the run as paused.
   */
  async pause(): Promise<void> {
    this.#cancelServerWait();
    const session = this.session;
    if (!session.running || session.pausing) return;
    const { store, bridge, clock } = this.#deps;
    session.pauseRequested();
    this.#pausedAt = clock.now();
    try {
      await store.requestPause(this.jobId, this.#pausedAt);
    } catch (error) {
      await this.note(
        'paused',
        null,
        `Pause could not be saved (${errorText(error)}): this run stops, but another tab or the next start of the app may resume the job`
      );
    }
    try {
      await bridge.pauseJob(this.jobId);
    } catch {
      // The worker is gone: its run ends through the worker-loss path, paused.
    }
  }

  /**
   * Start or Resume, pressed: takes back a stored Pause and runs. Never rejects: a Pause that
   * cannot be taken back (the disk refused) is said in the run log, and nothing runs.
   */
  async resume(): Promise<void> {
    try {
      await this.#deps.store.clearPauseRequest(this.jobId);
    } catch (error) {
      await this.note(
        'stopped',
        null,
        `Resume could not be saved (${errorText(error)}); nothing was changed. Free some disk space and press Resume again`
      );
      return;
    }
    await this.run();
  }

  /**
   * Queues the failed (or unparsed) items again and runs them (a Pause stored before is taken
   * back). Never rejects: a store that refuses is said in the run log.
   */
  async retry(kind: RetryKind): Promise<void> {
    const { store } = this.#deps;
    if (this.session.running) return;
    let queued: number;
    try {
      await store.clearPauseRequest(this.jobId);
      queued = await store.queueAgain(this.jobId, kind);
    } catch (error) {
      await this.note(
        'stopped',
        null,
        `Retry could not be saved (${errorText(error)}); nothing was changed`
      );
      return;
    }
    if (!queued) return;
    this.#pump.flush();
    this.session.requeued(await store.getProgress(this.jobId));
    await this.note('resumed', null, `${plural(queued, `${kind} item`)} queued again`);
    await this.run();
  }

  /** Sets the threshold of the cleaned dataset (a scoring job), saved with the job. */
  async keepScoreAtLeast(value: number): Promise<void> {
    const change = (meta: JobMeta): JobMeta =>
      meta.settings.preset
        ? {
            ...meta,
            settings: {
              ...meta.settings,
              preset: { ...meta.settings.preset, keepScoreAtLeast: value }
            }
          }
        : meta;
    await this.#deps.store.updateJob(this.jobId, change);
    this.session.edited(change);
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
