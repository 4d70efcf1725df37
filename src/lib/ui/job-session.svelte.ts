/**
 * A job as the page sees it: what is stored, plus the live run when this tab
 * runs it. Sessions outlive the job page, so leaving the page and coming back
 * shows the run still going.
 */
import type { EngineInfo, LoadProgress } from '$lib/engine/types';
import { pauseJob, runJob } from '$lib/jobs/bridge';
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
  /** Estimated prompt tokens per item, to list items too long for the plan. */
  promptTokens = $state.raw<number[]>([]);
  /** The last "Check this GPU" result; a plan that does not fit blocks the job. */
  check = $state.raw<PreflightResult | null>(null);
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
  }

  row(index: number): RowSummary | undefined {
    return this.rows.get(index);
  }

  #onEvent = (event: RunEvent): void => {
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
        break;
      case 'text':
        if (this.current?.index === event.index) this.streamText += event.text;
        break;
      case 'committed':
        this.rows.set(event.result.index, summarize(event.result));
        this.version++;
        this.progress = event.progress;
        this.liveSince = Date.now();
        break;
      case 'progress':
        this.progress = event.progress;
        this.liveSince = Date.now();
        break;
      case 'log':
        this.log = [...this.log, event.entry];
        break;
    }
  };

  async run(): Promise<void> {
    if (this.running || this.blocked) return;
    this.running = true;
    this.pausing = false;
    this.error = null;
    this.liveSince = Date.now();
    try {
      const outcome = await runJob(this.jobId, this.#onEvent);
      if (outcome.state === 'busy') {
        this.elsewhere = true;
      } else {
        this.progress = outcome.progress;
        this.error = outcome.error;
      }
    } catch (error) {
      // The worker died: what was committed is safe; read it back.
      this.progress = await store.getProgress(this.jobId);
      this.error = {
        code: 'worker-crashed',
        message: `${error instanceof Error ? error.message : String(error)} Nothing was lost: ${
          (this.progress?.done ?? 0) + (this.progress?.failed ?? 0)
        } results are saved. Press Resume to continue.`
      };
    } finally {
      this.running = false;
      this.pausing = false;
      this.current = null;
      this.loadProgress = null;
    }
  }

  async pause(): Promise<void> {
    if (!this.running) return;
    this.pausing = true;
    await pauseJob(this.jobId);
  }
}

const sessions = new Map<string, JobSession>();

export function sessionFor(jobId: string): JobSession {
  let session = sessions.get(jobId);
  if (!session) {
    session = new JobSession(jobId);
    sessions.set(jobId, session);
  }
  return session;
}
