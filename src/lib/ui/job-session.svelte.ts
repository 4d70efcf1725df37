/**
 * A job as the page sees it: what is stored, plus the live run when this tab
 * runs it. Sessions outlive the job page, so leaving the page and coming back
 * shows the run still going.
 */
import type { EngineInfo, LoadProgress } from '$lib/engine/types';
import { pauseJob, restart, runJob, terminate } from '$lib/jobs/bridge';
import { jobLockName } from '$lib/jobs/request';
import type { RunEvent } from '$lib/jobs/runner';
import * as store from '$lib/jobs/store';
import type { PreflightResult } from '$lib/gpu/preflight';
import type { ItemError, ItemResult, JobMeta, JobProgress, RunLogEntry } from '$lib/jobs/types';

export interface RowSummary {
  status: ItemResult['status'];
  firstLine: string;
  tokens: number;
}

export type JobStatus =
  | 'Not started'
  | 'Starting'
  | 'Running'
  | 'Pausing'
  | 'Paused'
  | 'Interrupted'
  | 'Stopped'
  | 'Running in another tab'
  | 'Completed';

const RESULT_CHUNK = 5000;

/** No token for this long (at least) means the engine hung. */
export const HANG_FLOOR_MS = 15_000;
/** Automatic page reloads allowed for a GPU blocked after crashes, in RELOAD_WINDOW_MS. */
export const MAX_AUTO_RELOADS = 3;
export const RELOAD_WINDOW_MS = 10 * 60_000;
/** Worker crashes in a row, without a commit between them, before the job stops. */
const MAX_WORKER_CRASHES = 3;

const RELOADS_KEY = 'localbatch:auto-reloads';
export const RESUME_AFTER_RELOAD_KEY = 'localbatch:resume-after-reload';

/** Other tabs show a job's live progress from what its running tab broadcasts. */
const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('localbatch') : null;

export type BroadcastMessage =
  | { jobId: string; type: 'committed'; index: number; row: RowSummary; progress: JobProgress }
  | { jobId: string; type: 'progress'; progress: JobProgress }
  | { jobId: string; type: 'log'; entry: RunLogEntry };

function summarize(result: ItemResult): RowSummary {
  const source = result.status === 'done' ? result.text : (result.error?.message ?? '');
  const firstLine = source.trimStart().split('\n', 1)[0] ?? '';
  return {
    status: result.status,
    firstLine: firstLine.slice(0, 200),
    tokens: result.usage?.completion_tokens ?? 0
  };
}

export class JobSession {
  readonly jobId: string;
  meta = $state.raw<JobMeta | null>(null);
  progress = $state.raw<JobProgress | null>(null);
  /** This tab is running the job. */
  running = $state(false);
  pausing = $state(false);
  /** Another tab holds the job's lock. */
  elsewhere = $state(false);
  loadProgress = $state.raw<LoadProgress | null>(null);
  engineInfo = $state.raw<EngineInfo | null>(null);
  current = $state.raw<{ index: number; customId: string; attempt: number } | null>(null);
  streamText = $state('');
  /** Why the last run stopped, for the user. */
  error = $state.raw<ItemError | null>(null);
  /** Time when this tab's run last reported, for a live elapsed clock. */
  liveSince = $state(0);
  ids = $state.raw<string[]>([]);
  /** Bumped whenever `rows` changes; rows is a plain Map so 100,000 items stay cheap. */
  version = $state(0);
  readonly rows = new Map<number, RowSummary>();
  loaded = $state(false);
  /** The run log: step-downs, lost devices, pauses at the smallest plan. */
  log = $state.raw<RunLogEntry[]>([]);
  /** Prompt tokens per item (estimates, exact once counted), to list items too long for the plan. */
  promptTokens = $state.raw<number[]>([]);
  /** The last "Check this GPU" result; a plan that does not fit blocks the job. */
  check = $state.raw<PreflightResult | null>(null);
  /** Supervision: when the running engine last showed life, and how slow it has been. */
  #lastActivity = 0;
  #lastTextAt = 0;
  #maxGapMs = 0;
  #prefillTokensPerSecond: number | null = null;
  #hung: { index: number; waitedMs: number } | null = null;
  #waitingForLock = false;
  #opening: Promise<void> | null = null;

  constructor(jobId: string) {
    this.jobId = jobId;
  }

  get status(): JobStatus {
    const progress = this.progress;
    if (!progress) return 'Not started';
    if (this.running) {
      if (this.pausing) return 'Pausing';
      return this.current ? 'Running' : 'Starting';
    }
    if (progress.state === 'completed') return 'Completed';
    if (this.elsewhere) return 'Running in another tab';
    if (progress.state === 'running') return 'Interrupted';
    if (progress.state === 'paused') return 'Paused';
    if (progress.state === 'stopped') return 'Stopped';
    return progress.cursor > 0 ? 'Paused' : 'Not started';
  }

  get canStart(): boolean {
    return this.status === 'Not started';
  }

  get canResume(): boolean {
    return ['Paused', 'Interrupted', 'Stopped'].includes(this.status);
  }

  /** Why Start and Resume are blocked, or null. */
  get blocked(): string | null {
    return this.check && !this.check.fits
      ? 'Starting is blocked: the memory plan does not fit this GPU (see "GPU and memory plan").'
      : null;
  }

  open(): Promise<void> {
    this.#opening ??= this.#open();
    return this.#opening;
  }

  async #open(): Promise<void> {
    const meta = await store.getJob(this.jobId);
    if (!meta) throw new Error(`There is no job ${this.jobId} in this browser.`);
    this.meta = meta;
    this.progress = await store.getProgress(this.jobId);
    this.error = this.progress.stopReason;
    this.ids = await store.getItemIds(this.jobId);
    this.log = await store.getLog(this.jobId);
    this.promptTokens = await store.getPromptTokens(this.jobId);
    await this.refreshLock();
    for (let from = 0; from < meta.total; from += RESULT_CHUNK) {
      const results = await store.getResults(this.jobId, from, from + RESULT_CHUNK);
      for (const result of results) this.rows.set(result.index, summarize(result));
      this.version++;
    }
    this.loaded = true;
  }

  async refreshLock(): Promise<void> {
    if (this.running || !navigator.locks) return;
    const { held = [] } = await navigator.locks.query();
    this.elsewhere = held.some((lock) => lock.name === jobLockName(this.jobId));
    if (this.elsewhere) void this.#takeOverWhenFree();
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
      this.elsewhere = false;
      this.progress = await store.getProgress(this.jobId);
      if (this.progress.state === 'running' && !this.running) {
        await this.note('takeover', null, 'the tab that ran this job closed; this tab took over');
        void this.run();
      }
    } finally {
      this.#waitingForLock = false;
    }
  }

  /** A message from the tab that runs this job. */
  applyBroadcast(message: BroadcastMessage): void {
    if (this.running) return;
    this.elsewhere = true;
    if (message.type === 'committed') {
      this.rows.set(message.index, message.row);
      this.version++;
      this.progress = message.progress;
    } else if (message.type === 'progress') {
      this.progress = message.progress;
    } else {
      this.log = [...this.log, message.entry];
    }
  }

  /** Adds a line to the run log: stored, shown, and sent to other tabs. */
  async note(kind: RunLogEntry['kind'], index: number | null, message: string): Promise<void> {
    const entry: RunLogEntry = { at: Date.now(), index, kind, message };
    await store.appendLog(this.jobId, entry);
    this.log = [...this.log, entry];
    channel?.postMessage({ jobId: this.jobId, type: 'log', entry } satisfies BroadcastMessage);
  }

  /**
   * How long without a token means a hang: ten times the slowest gap seen so
   * far, three times the expected prefill of this item's prompt, and never
   * less than HANG_FLOOR_MS.
   */
  hangTimeoutMs(): number {
    const index = this.current?.index ?? 0;
    const promptTokens = this.promptTokens[index] ?? 0;
    const prefillMs = this.#prefillTokensPerSecond
      ? (promptTokens / this.#prefillTokensPerSecond) * 1000 * 3
      : 0;
    return Math.max(HANG_FLOOR_MS, this.#maxGapMs * 10, prefillMs);
  }

  #watch(): void {
    const current = this.current;
    if (!this.running || !current || this.#hung) return;
    const waited = Date.now() - this.#lastActivity;
    if (waited < this.hangTimeoutMs()) return;
    this.#hung = { index: current.index, waitedMs: waited };
    const message = `No token for ${Math.round(waited / 1000)} s: the engine hung at item ${current.index + 1}.`;
    void store
      .recordFailure(this.jobId, current.index, { code: 'hung', message })
      .finally(() => terminate(message));
  }

  row(index: number): RowSummary | undefined {
    return this.rows.get(index);
  }

  #onEvent = (event: RunEvent): void => {
    const now = Date.now();
    this.#lastActivity = now;
    switch (event.type) {
      case 'load':
        this.loadProgress = event.progress;
        break;
      case 'engine':
        this.engineInfo = event.info;
        this.loadProgress = null;
        break;
      case 'item':
        this.current = { index: event.index, customId: event.customId, attempt: event.attempt };
        this.streamText = '';
        this.#lastTextAt = 0;
        break;
      case 'text':
        if (this.#lastTextAt) this.#maxGapMs = Math.max(this.#maxGapMs, now - this.#lastTextAt);
        this.#lastTextAt = now;
        if (this.current?.index === event.index) this.streamText += event.text;
        break;
      case 'committed': {
        const row = summarize(event.result);
        this.rows.set(event.result.index, row);
        this.version++;
        this.progress = event.progress;
        this.liveSince = now;
        this.#crashes = 0;
        this.resumedAfterGpuReload = false;
        const prefill = event.result.usage?.prefill_tokens_per_s;
        if (prefill) this.#prefillTokensPerSecond = prefill;
        channel?.postMessage({
          jobId: this.jobId,
          type: 'committed',
          index: event.result.index,
          row,
          progress: event.progress
        } satisfies BroadcastMessage);
        break;
      }
      case 'progress':
        this.progress = event.progress;
        this.liveSince = now;
        channel?.postMessage({
          jobId: this.jobId,
          type: 'progress',
          progress: event.progress
        } satisfies BroadcastMessage);
        break;
      case 'log':
        this.log = [...this.log, event.entry];
        channel?.postMessage({
          jobId: this.jobId,
          type: 'log',
          entry: event.entry
        } satisfies BroadcastMessage);
        break;
      case 'needs':
        // The model's tokenizer counted the prompts: the plan and the too-long list use them now.
        if (this.meta) this.meta = { ...this.meta, needs: event.needs };
        void store.getPromptTokens(this.jobId).then((tokens) => (this.promptTokens = tokens));
        break;
    }
  };

  #crashes = 0;
  #restarted = false;
  /** This page was reloaded to get the GPU back, and has not committed since. */
  resumedAfterGpuReload = false;

  /**
   * Runs the job and supervises it: a hung engine or a dead worker gets a new
   * worker and the job resumes; a GPU that Chrome blocked after crashes gets
   * a page reload (a few times at most) and the job resumes after it.
   */
  async run(): Promise<void> {
    if (this.running || this.blocked) return;
    this.running = true;
    this.pausing = false;
    this.error = null;
    this.liveSince = Date.now();
    const watchdog = setInterval(() => this.#watch(), 1000);
    try {
      while (await this.#runOnce());
    } finally {
      clearInterval(watchdog);
      this.running = false;
      this.pausing = false;
      this.current = null;
      this.loadProgress = null;
    }
  }

  /** One run in the worker. True when the supervisor should run again. */
  async #runOnce(): Promise<boolean> {
    this.#lastActivity = Date.now();
    try {
      let outcome = await runJob(this.jobId, this.#onEvent);
      // A worker just terminated may hold the job's lock for a moment longer.
      for (let i = 0; outcome.state === 'busy' && this.#restarted && i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        outcome = await runJob(this.jobId, this.#onEvent);
      }
      this.#restarted = false;
      if (outcome.state === 'busy') {
        this.elsewhere = true;
        void this.#takeOverWhenFree();
        return false;
      }
      this.progress = outcome.progress;
      this.error = outcome.error;
      const blocked =
        outcome.error?.code === 'gpu-blocked' ||
        (outcome.error?.code === 'no-webgpu' && this.resumedAfterGpuReload);
      if (blocked) return this.#reloadForGpu();
      return false;
    } catch (error) {
      // The worker is gone (hung and terminated, or crashed): what was committed is safe.
      this.progress = await store.getProgress(this.jobId);
      this.current = null;
      const saved = (this.progress?.done ?? 0) + (this.progress?.failed ?? 0);
      const hung = this.#hung;
      this.#hung = null;
      restart();
      this.#restarted = true;
      if (hung) {
        await this.note(
          'hung',
          hung.index,
          `no token for ${Math.round(hung.waitedMs / 1000)} s at item ${hung.index + 1}; engine restarted in a new worker`
        );
        return !this.pausing;
      }
      this.#crashes++;
      const reason = error instanceof Error ? error.message : String(error);
      if (this.#crashes < MAX_WORKER_CRASHES && !this.pausing) {
        await this.note('restart', null, `the runner crashed (${reason}); restarted`);
        return true;
      }
      this.error = {
        code: 'worker-crashed',
        message: `${reason} It crashed ${this.#crashes} times in a row. Nothing was lost: ${saved} results are saved. Press Resume to continue.`
      };
      this.#crashes = 0;
      return false;
    }
  }

  /** Reloads the page to get WebGPU back, at most MAX_AUTO_RELOADS times in RELOAD_WINDOW_MS. */
  async #reloadForGpu(): Promise<boolean> {
    const now = Date.now();
    const recent = (JSON.parse(sessionStorage.getItem(RELOADS_KEY) ?? '[]') as number[]).filter(
      (at) => now - at < RELOAD_WINDOW_MS
    );
    const saved = (this.progress?.done ?? 0) + (this.progress?.failed ?? 0);
    if (recent.length >= MAX_AUTO_RELOADS) {
      this.error = {
        code: 'gpu-blocked',
        message: `The browser keeps blocking the GPU for this page after crashes: LocalBatch reloaded the page ${recent.length} times in the last ${RELOAD_WINDOW_MS / 60_000} minutes and stops here. Nothing was lost: ${saved} of ${this.meta?.total ?? '?'} results are saved. Press the browser's Reload button (Chrome lifts the block when you reload) and the job resumes by itself; if the GPU keeps crashing, close other tabs that use it or choose a smaller model.`
      };
      await this.note('stopped', null, 'GPU blocked again after 3 automatic reloads; stopped');
      // The reload the user is asked for resumes the job.
      sessionStorage.setItem(RESUME_AFTER_RELOAD_KEY, this.jobId);
      return false;
    }
    sessionStorage.setItem(RELOADS_KEY, JSON.stringify([...recent, now]));
    sessionStorage.setItem(RESUME_AFTER_RELOAD_KEY, this.jobId);
    await this.note(
      'reload',
      null,
      'the browser blocked the GPU after a crash; reloading the page to resume'
    );
    // Everything is committed (the run has returned): reload and resume after it.
    location.reload();
    return false;
  }

  async pause(): Promise<void> {
    if (!this.running) return;
    this.pausing = true;
    await pauseJob(this.jobId);
  }

  /** Queues the failed items again and runs them. */
  async retryFailed(): Promise<void> {
    if (this.running) return;
    const queued = await store.queueFailedItems(this.jobId);
    if (!queued) return;
    this.progress = await store.getProgress(this.jobId);
    for (const index of this.progress.retry) this.rows.delete(index);
    this.version++;
    await this.note(
      'resumed',
      null,
      `${queued} failed item${queued === 1 ? '' : 's'} queued again`
    );
    await this.run();
  }
}

const sessions = new Map<string, JobSession>();

channel?.addEventListener('message', (event: MessageEvent<BroadcastMessage>) => {
  sessions.get(event.data.jobId)?.applyBroadcast(event.data);
});

export function sessionFor(jobId: string): JobSession {
  let session = sessions.get(jobId);
  if (!session) {
    session = new JobSession(jobId);
    sessions.set(jobId, session);
  }
  return session;
}
