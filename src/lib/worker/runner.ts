/**
 * The runner, the worker's entry to running jobs: it leases a job (a Web Lock, so
 * one runner runs it across tabs), runs its jobs one after another (they share the
 * loaded engine), and pauses a run on request. A run (run.ts) prepares the engine
 * (prepare.ts), keeps the engine's number of units in flight (unit.ts), commits each
 * unit's results as it finishes (run-io.ts writes them in grouped transactions), and
 * acts on failures as recovery.ts decides. Every run starts from the progress stored
 * in IndexedDB, so resuming after any crash is the same act as starting.
 */
import { jobLockName } from '$lib/shared/storage-names';
import { EngineSlot } from './prepare';
import { Run } from './run';
import type { Emit, RunnerDeps, RunOutcome } from './run-types';

export type { Emit, RunnerDeps, RunEvent, RunOutcome, RunnerStore } from './run-types';

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
    // Pause reaches the run from here on: before, from the store (a Pause pressed while this
    // run was starting, or before a worker was replaced, is stored first), after, by its signal.
    const pause = new AbortController();
    this.#pauses.set(jobId, pause);
    try {
      const job = await store.getJob(jobId);
      if (!job) throw new Error(`There is no job ${jobId}.`);
      const progress = await store.getProgress(jobId);
      if (await store.pauseRequested(jobId)) pause.abort();
      const run = new Run(this.#deps, this.#engine, job, progress, emit, pause.signal);
      return await run.execute();
    } finally {
      this.#pauses.delete(jobId);
    }
  }
}
