/**
 * A job as the page shows it: what is stored, plus the live run when this tab
 * (or another, through broadcasts) runs it. View state only: it reads the store and
 * never writes it. The supervisor (supervisor/job-supervisor.ts) runs the job, makes
 * the job's changes, and tells this what happened through the methods below; from
 * outside, every field is read-only.
 */
import { SvelteSet } from 'svelte/reactivity';
import type { PreflightResult } from '$lib/gpu/preflight';
import type { JobMeta, JobProgress, RunLogEntry } from '$lib/shared/job';
import { savedCount, type ItemError } from '$lib/shared/stop';
import * as jobs from '$lib/store/jobs';
import type { EngineInfo, LoadProgress } from '$lib/worker/engine/types';
import type { RunEvent } from '$lib/worker/runner';
import { NOT_SCORED, type PairScore } from '$lib/presets/score-pairs';
import { summarizeRow, type JobBroadcast, type RowSummary } from './job-broadcast';

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

/** Results read at a time when the page opens. */
const RESULT_CHUNK = 5000;

/** One run log line, as the store and the events both give it. */
function logKey(entry: RunLogEntry): string {
  return `${entry.at} ${entry.kind} ${entry.index} ${entry.message}`;
}

/** How many results have each score, kept up to date row by row (not recounted per commit). */
export type ScoreCounts = Record<PairScore, number>;

function noScores(): ScoreCounts {
  return { 0: 0, 1: 0, 2: 0, 3: 0, 4: 0, 5: 0, [NOT_SCORED]: 0 } as ScoreCounts;
}

/** The item this tab's run shows: the last one it started. */
export interface CurrentItem {
  index: number;
  customId: string;
  attempt: number;
}

export class JobSession {
  readonly jobId: string;
  #meta = $state.raw<JobMeta | null>(null);
  #progress = $state.raw<JobProgress | null>(null);
  #running = $state(false);
  #pausing = $state(false);
  #elsewhere = $state(false);
  #loadProgress = $state.raw<LoadProgress | null>(null);
  #engineInfo = $state.raw<EngineInfo | null>(null);
  #current = $state.raw<CurrentItem | null>(null);
  #streamText = $state('');
  #error = $state.raw<ItemError | null>(null);
  #liveSince = $state(0);
  #ids = $state.raw<string[]>([]);
  #version = $state(0);
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- redrawn through #version, not per entry
  readonly #rows = new Map<number, RowSummary>();
  #log = $state.raw<RunLogEntry[]>([]);
  #promptTokens = $state.raw<number[]>([]);
  #check = $state.raw<PreflightResult | null>(null);
  #scores = $state.raw<ScoreCounts>(noScores());
  readonly #inFlight = new SvelteSet<number>();
  #retries = $state(0);
  #reloading = $state(false);
  #opening: Promise<void> | null = null;
  /** For each read of the stored results under way: the rows this tab's events set since. */
  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping of reads, never drawn
  readonly #reads = new Set<Set<number>>();

  constructor(jobId: string) {
    this.jobId = jobId;
  }

  get meta(): JobMeta | null {
    return this.#meta;
  }
  get progress(): JobProgress | null {
    return this.#progress;
  }
  /** This tab is running the job. */
  get running(): boolean {
    return this.#running;
  }
  get pausing(): boolean {
    return this.#pausing;
  }
  /** Another tab holds the job's lock. */
  get elsewhere(): boolean {
    return this.#elsewhere;
  }
  get loadProgress(): LoadProgress | null {
    return this.#loadProgress;
  }
  get engineInfo(): EngineInfo | null {
    return this.#engineInfo;
  }
  get current(): CurrentItem | null {
    return this.#current;
  }
  get streamText(): string {
    return this.#streamText;
  }
  /** Why the last run stopped, for the user. */
  get error(): ItemError | null {
    return this.#error;
  }
  /** Time when this tab's run last reported, for a live elapsed clock. */
  get liveSince(): number {
    return this.#liveSince;
  }
  get ids(): readonly string[] {
    return this.#ids;
  }
  /** Bumped whenever `rows` changes; rows is a plain Map so 100,000 items stay cheap. */
  get version(): number {
    return this.#version;
  }
  get rows(): ReadonlyMap<number, RowSummary> {
    return this.#rows;
  }
  /** The run log: step-downs, lost devices, pauses at the smallest plan. */
  get log(): readonly RunLogEntry[] {
    return this.#log;
  }
  /** Prompt tokens per item (estimates, exact once counted), to list items too long for the plan. */
  get promptTokens(): readonly number[] {
    return this.#promptTokens;
  }
  /** The last "Check this GPU" result; a plan that does not fit blocks the job. */
  get check(): PreflightResult | null {
    return this.#check;
  }
  /** Results per score (a scoring job's Scores view). */
  get scores(): ScoreCounts {
    return this.#scores;
  }
  /** Items this tab's run has sent and not yet committed. */
  get inFlight(): ReadonlySet<number> {
    return this.#inFlight;
  }
  /** Requests the engine tried again in this tab's runs (a server's 429, 5xx, drops). */
  get retries(): number {
    return this.#retries;
  }

  /** This tab reloads to get the GPU back: the run goes on after the reload. */
  get reloading(): boolean {
    return this.#reloading;
  }

  get status(): JobStatus {
    const progress = this.#progress;
    if (!progress) return 'Not started';
    if (this.#running) {
      if (this.#pausing) return 'Pausing';
      return this.#current ? 'Running' : 'Starting';
    }
    if (progress.state === 'completed') return 'Completed';
    if (this.#elsewhere) return 'Running in another tab';
    if (progress.state === 'running') return 'Interrupted';
    if (progress.state === 'paused') return 'Paused';
    if (progress.state === 'stopped') return 'Stopped';
    // Results imported from a file count as started, wherever they fall.
    return progress.cursor > 0 || savedCount(progress) > 0 ? 'Paused' : 'Not started';
  }

  get canStart(): boolean {
    return this.status === 'Not started';
  }

  get canResume(): boolean {
    return ['Paused', 'Interrupted', 'Stopped'].includes(this.status);
  }

  /** Why Start and Resume are blocked, or null. */
  get blocked(): string | null {
    return this.#check && !this.#check.fits
      ? 'Starting is blocked: the memory plan does not fit this GPU (see "GPU and memory plan").'
      : null;
  }

  /** Results saved so far (done, failed or skipped). */
  get saved(): number {
    return this.#progress ? savedCount(this.#progress) : 0;
  }

  /** Reads the job from storage, once (again after a read that failed). */
  open(): Promise<void> {
    this.#opening ??= this.#open().catch((error: unknown) => {
      this.#opening = null;
      throw error;
    });
    return this.#opening;
  }

  async #open(): Promise<void> {
    // The job's record first: a job's own store is not opened (made) for a job not there.
    const meta = await jobs.getJob(this.jobId);
    if (!meta) {
      throw new Error(
        `There is no job ${this.jobId} in this browser: it was deleted, or made in another browser or browser profile (each keeps its own jobs). Nothing was changed.`
      );
    }
    const progress = await jobs.getProgress(this.jobId);
    this.#meta = meta;
    // Progress another tab broadcast while this was read is newer than the read.
    if (this.#progress === null) {
      this.#progress = progress;
      this.#error = progress.stopReason;
    }
    // The page can start or resume the job now; the rest is read meanwhile.
    const [ids, log, promptTokens] = await Promise.all([
      jobs.getItemIds(this.jobId),
      jobs.getLog(this.jobId),
      jobs.getPromptTokens(this.jobId)
    ]);
    this.#ids = ids;
    // Lines that came while the log was read follow it, unless the read has them already.
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- a lookup for this merge, never drawn
    const stored = new Set(log.map(logKey));
    this.#log = [...log, ...this.#log.filter((entry) => !stored.has(logKey(entry)))];
    this.#promptTokens = promptTokens;
    await this.#loadRows(meta.total);
  }

  /**
   * Reads the stored results, RESULT_CHUNK at a time (a job with few results: one read). A row
   * this tab's events set while the read was under way is newer than what it read, and items
   * queued again keep no row (their old result stays stored until they run).
   */
  async #loadRows(total: number): Promise<void> {
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping of reads, never drawn
    const touched = new Set<number>();
    this.#reads.add(touched);
    try {
      for (let from = 0; from < total;) {
        const results = await jobs.getResults(this.jobId, from, total, RESULT_CHUNK);
        if (!results.length) break;
        from = results[results.length - 1]!.index + 1;
        // eslint-disable-next-line svelte/prefer-svelte-reactivity -- bookkeeping of reads, never drawn
        const queued = new Set(this.#progress?.retry);
        const scores = { ...this.#scores };
        for (const result of results) {
          if (touched.has(result.index) || queued.has(result.index)) continue;
          const row = summarizeRow(result);
          const before = this.#rows.get(result.index);
          if (before) scores[before.score]--;
          this.#rows.set(result.index, row);
          scores[row.score]++;
        }
        this.#scores = scores;
        this.#version++;
      }
    } finally {
      this.#reads.delete(touched);
    }
  }

  /** Reads the progress and the results again (results were imported into the job). */
  async refresh(): Promise<void> {
    await this.open();
    const seen = this.#progress;
    const progress = await jobs.getProgress(this.jobId);
    // Progress that came while this was read is newer than the read.
    if (this.#progress === seen) {
      this.#progress = progress;
      this.#error = progress.stopReason;
    }
    await this.#loadRows(this.#meta?.total ?? 0);
  }

  row(index: number): RowSummary | undefined {
    return this.#rows.get(index);
  }

  /** This tab starts running the job. */
  started(now: number): void {
    this.#running = true;
    this.#pausing = false;
    this.#reloading = false;
    this.#error = null;
    this.#liveSince = now;
  }

  /** Pause was pressed: the run stops after what it is doing. */
  pauseRequested(): void {
    this.#pausing = true;
  }

  /** The run in the worker returned: the progress it left, and why it stopped (null: it did not). */
  runReturned(progress: JobProgress | null, error: ItemError | null): void {
    this.#progress = progress;
    this.#error = error;
  }

  /** The worker is gone mid-run: what is stored is all there is, and no item runs. */
  workerLost(progress: JobProgress): void {
    this.#progress = progress;
    this.#current = null;
    this.#inFlight.clear();
  }

  /** The run stopped for this reason (a crashed worker, a blocked GPU). */
  stopped(error: ItemError): void {
    this.#error = error;
  }

  /** The page reloads to get the GPU back (it resumes the job after). */
  reloadingPage(): void {
    this.#reloading = true;
  }

  /** This tab's run is over, however it ended. */
  ended(): void {
    this.#running = false;
    this.#pausing = false;
    this.#current = null;
    this.#inFlight.clear();
    this.#loadProgress = null;
  }

  /** Whether another tab holds the job's lock (runs it). */
  heldElsewhere(held: boolean): void {
    this.#elsewhere = held;
  }

  /** The progress as stored now (another tab's run ended). */
  progressRead(progress: JobProgress): void {
    this.#progress = progress;
  }

  /** Items were queued again: the stored progress, and their old results leave the list. */
  requeued(progress: JobProgress): void {
    this.#progress = progress;
    this.#clearRows(progress.retry);
  }

  /** A line was added to the run log. */
  logged(entry: RunLogEntry): void {
    this.#log = [...this.#log, entry];
  }

  /** The job's record was changed in the store by `change`: the same change shows here. */
  edited(change: (meta: JobMeta) => JobMeta): void {
    if (this.#meta) this.#meta = change(this.#meta);
  }

  /** "Check this GPU" answered (null: the plan changed and the check is void). */
  gpuChecked(check: PreflightResult | null): void {
    this.#check = check;
  }

  /** Shows a committed result in the list. */
  #setRow(index: number, row: RowSummary): void {
    for (const touched of this.#reads) touched.add(index);
    this.#tally(this.#rows.get(index), row);
    this.#rows.set(index, row);
    this.#version++;
  }

  /** Takes rows out of the list (queued again). */
  #clearRows(indices: readonly number[]): void {
    for (const index of indices) {
      for (const touched of this.#reads) touched.add(index);
      this.#tally(this.#rows.get(index), undefined);
      this.#rows.delete(index);
    }
    this.#version++;
  }

  #tally(before: RowSummary | undefined, after: RowSummary | undefined): void {
    if (before?.score === after?.score) return;
    const scores = { ...this.#scores };
    if (before) scores[before.score]--;
    if (after) scores[after.score]++;
    this.#scores = scores;
  }

  /** An event of this tab's run. */
  apply(event: RunEvent, now: number): void {
    switch (event.type) {
      case 'load':
        this.#loadProgress = event.progress;
        break;
      case 'engine':
        this.#engineInfo = event.info;
        this.#loadProgress = null;
        break;
      case 'item':
        this.#current = { index: event.index, customId: event.customId, attempt: event.attempt };
        this.#streamText = '';
        this.#inFlight.add(event.index);
        break;
      case 'retry':
        this.#retries++;
        if (this.#current?.index === event.index) this.#streamText = '';
        break;
      case 'text':
        if (this.#current?.index === event.index) this.#streamText += event.text;
        break;
      case 'committed':
        this.#inFlight.delete(event.result.index);
        this.#setRow(event.result.index, summarizeRow(event.result));
        this.#progress = event.progress;
        this.#liveSince = now;
        break;
      case 'progress':
        this.#progress = event.progress;
        this.#liveSince = now;
        break;
      case 'log':
        this.logged(event.entry);
        break;
      case 'needs':
        // The model's tokenizer counted the prompts: the plan and the too-long list use them now.
        if (this.#meta) this.#meta = { ...this.#meta, needs: event.needs };
        // eslint-disable-next-line @typescript-eslint/no-floating-promises -- until the exact counts are read the estimates stay shown
        void jobs.getPromptTokens(this.jobId).then((tokens) => (this.#promptTokens = tokens));
        break;
    }
  }

  /** A message from the tab that runs this job. */
  applyBroadcast(message: JobBroadcast): void {
    if (this.#running) return;
    this.#elsewhere = true;
    if (message.type === 'progress') {
      for (const [index, row] of message.rows) this.#setRow(index, row);
      this.#progress = message.progress;
    } else {
      this.logged(message.entry);
    }
  }
}
