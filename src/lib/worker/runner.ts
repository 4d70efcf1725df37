/**
 * The runner, the worker's entry to running jobs: it leases a job (a Web Lock, so
 * one runner runs it across tabs), runs its jobs one after another (they share the
 * loaded engine), and pauses a run on request. A run (run.ts) prepares the engine
 * (prepare.ts), keeps the engine's number of units in flight (unit.ts), commits each
 * unit's results as it finishes (run-io.ts writes them in grouped transactions), and
 * acts on failures as recovery.ts decides. Every run starts from the progress stored
 * in IndexedDB, so resuming after any crash is the same act as starting.
 */
import type { EngineChoice } from '$lib/shared/engine-choice';
import type {
  ItemInput,
  ItemResult,
  JobMeta,
  JobNeeds,
  JobProgress,
  RunLogEntry,
  RunState
} from '$lib/shared/job';
import type { Plan } from '$lib/plan/types';
import type { GenerateRequest } from '$lib/shared/request';
import type { ItemError } from '$lib/shared/stop';
import { jobLockName } from '$lib/shared/storage-names';
import type { RunIOStore } from './run-io';
import type { Engine, EngineInfo, LoadProgress } from './engine/types';
import { EngineSlot } from './prepare';
import { Run } from './run';

export type RunEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'engine'; info: EngineInfo }
  | { type: 'item'; index: number; customId: string; attempt: number }
  | { type: 'text'; index: number; text: string }
  | { type: 'committed'; result: ItemResult; progress: JobProgress }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'log'; entry: RunLogEntry }
  | { type: 'needs'; needs: JobNeeds }
  /** The engine tries an item's request again (a server's 429, 5xx or dropped connection). */
  | { type: 'retry'; index: number; reason: string; waitMs: number; attempt: number };

export type Emit = (event: RunEvent) => void;

export interface RunOutcome {
  state: RunState | 'busy';
  progress: JobProgress | null;
  error: ItemError | null;
}

/** The parts of the store the runner uses (the store module itself in the app). */
export interface RunnerStore extends RunIOStore {
  getJob(jobId: string): Promise<JobMeta | undefined>;
  getProgress(jobId: string): Promise<JobProgress>;
  saveProgress(jobId: string, progress: JobProgress): Promise<void>;
  getResult(jobId: string, index: number): Promise<ItemResult | undefined>;
  /** Inputs with index in [from, to), in index order. */
  getInputs(jobId: string, from: number, to: number): Promise<ItemInput[]>;
  saveExactCounts(jobId: string, needs: JobNeeds, promptTokens: number[]): Promise<void>;
}

export interface RunnerDeps {
  store: RunnerStore;
  createEngine(choice: EngineChoice): Engine;
  now(): number;
  /** The memory plan for the job on this machine, its window capped after step-downs. */
  plan(job: JobMeta, windowCap: number | null): Promise<Plan>;
  /** Estimated prompt tokens of one request (before any tokenizer is loaded). */
  promptTokens(request: GenerateRequest): number;
  /** The next smaller context window after a loss, or null at the smallest. */
  stepDown(window: number): number | null;
  /** Web Locks where the platform has them; one runner per job across tabs. */
  locks?: LockManager;
  /** Transactions start at most this often (ms); what finishes between goes into one. */
  writeEveryMs?: number;
}

export class Runner {
  #deps: RunnerDeps;
  #engine: EngineSlot;
  #pauses = new Map<string, AbortController>();
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
    this.#engine = new EngineSlot(deps.createEngine);
  }

  /** Stops the job's run after the current token; the partial item is not kept. */
  pause(jobId: string): void {
    this.#pauses.get(jobId)?.abort();
  }

  /** Runs the job; jobs given to one runner run one after another (they share the engine). */
  run(jobId: string, emit: Emit): Promise<RunOutcome> {
    const turn = this.#queue.then(() => this.#leased(jobId, emit));
    // eslint-disable-next-line no-restricted-syntax -- the caller of run() gets the rejection; the next job still runs
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  async #leased(jobId: string, emit: Emit): Promise<RunOutcome> {
    const { locks } = this.#deps;
    if (!locks) return this.#run(jobId, emit);
    return locks.request(jobLockName(jobId), { ifAvailable: true }, (lock) =>
      lock ? this.#run(jobId, emit) : { state: 'busy' as const, progress: null, error: null }
    );
  }

  async #run(jobId: string, emit: Emit): Promise<RunOutcome> {
    const { store } = this.#deps;
    const job = await store.getJob(jobId);
    if (!job) throw new Error(`There is no job ${jobId}.`);
    const progress = await store.getProgress(jobId);
    const pause = new AbortController();
    this.#pauses.set(jobId, pause);
    try {
      const run = new Run(this.#deps, this.#engine, job, progress, emit, pause.signal);
      return await run.execute();
    } finally {
      this.#pauses.delete(jobId);
    }
  }
}
