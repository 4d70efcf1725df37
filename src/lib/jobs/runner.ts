/**
 * The runner: lease the job, then load the engine and loop
 *   read cursor -> count an attempt -> generate -> commit result + cursor
 * until the job is done, paused, or stopped by an error that is not the
 * item's fault. Runs inside the worker. Every start reads the cursor from
 * IndexedDB, so resuming after any crash is the same act as starting.
 */
import { EngineError, isItemError } from '$lib/engine/errors';
import type { Engine, EngineInfo, LoadProgress } from '$lib/engine/types';
import { buildRequest, jobLockName } from './request';
import type {
  EngineChoice,
  ItemError,
  ItemInput,
  ItemResult,
  JobMeta,
  JobProgress,
  RunState
} from './types';

export type RunEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'engine'; info: EngineInfo }
  | { type: 'item'; index: number; customId: string; attempt: number }
  | { type: 'text'; index: number; text: string }
  | { type: 'committed'; result: ItemResult; progress: JobProgress }
  | { type: 'progress'; progress: JobProgress };

export interface RunOutcome {
  state: RunState | 'busy';
  progress: JobProgress | null;
  error: ItemError | null;
}

/** The parts of the store the runner uses (the store module itself in the app). */
export interface RunnerStore {
  getJob(jobId: string): Promise<JobMeta | undefined>;
  getProgress(jobId: string): Promise<JobProgress>;
  saveProgress(jobId: string, progress: JobProgress): Promise<void>;
  getInput(jobId: string, index: number): Promise<ItemInput>;
  recordAttempt(jobId: string, index: number): Promise<number>;
  commitResult(jobId: string, result: ItemResult, progress: JobProgress): Promise<void>;
}

export interface RunnerDeps {
  store: RunnerStore;
  createEngine(choice: EngineChoice): Engine;
  now(): number;
  /** Web Locks where the platform has them; one runner per job across tabs. */
  locks?: LockManager;
}

/** How often streamed text is sent to the page, at most. */
const TEXT_FLUSH_MS = 50;

function summary(progress: JobProgress, total: number): string {
  const kept = progress.done + progress.failed;
  return `Nothing was lost: ${kept} of ${total} results are saved.`;
}

/** What the user reads when a run stops on an engine error. */
export function stopMessage(error: EngineError, progress: JobProgress, total: number): string {
  const next =
    error.code === 'network'
      ? 'Connect to the network, then press Resume.'
      : error.code === 'no-webgpu'
        ? 'Reload the page or use a browser with WebGPU, then press Resume.'
        : 'Press Resume to continue from where it stopped.';
  return `${error.message} ${summary(progress, total)} ${next}`;
}

export class Runner {
  #deps: RunnerDeps;
  #engine: { key: string; engine: Engine; info: EngineInfo } | null = null;
  #pauses = new Map<string, AbortController>();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
  }

  /** Stops the job's run after the current token; the partial item is not kept. */
  pause(jobId: string): void {
    this.#pauses.get(jobId)?.abort();
  }

  async run(jobId: string, emit: (event: RunEvent) => void): Promise<RunOutcome> {
    const { locks } = this.#deps;
    if (!locks) return this.#run(jobId, emit);
    return locks.request(jobLockName(jobId), { ifAvailable: true }, (lock) =>
      lock ? this.#run(jobId, emit) : { state: 'busy' as const, progress: null, error: null }
    );
  }

  async #engineFor(choice: EngineChoice, emit: (event: RunEvent) => void): Promise<Engine> {
    const key = JSON.stringify(choice);
    if (this.#engine?.key === key) return this.#engine.engine;
    await this.#dropEngine();
    const engine = this.#deps.createEngine(choice);
    try {
      const info = await engine.load((progress) => emit({ type: 'load', progress }));
      this.#engine = { key, engine, info };
      emit({ type: 'engine', info });
      return engine;
    } catch (error) {
      await engine.unload().catch(() => undefined);
      throw error;
    }
  }

  async #dropEngine(): Promise<void> {
    const current = this.#engine;
    this.#engine = null;
    await current?.engine.unload().catch(() => undefined);
  }

  async #run(jobId: string, emit: (event: RunEvent) => void): Promise<RunOutcome> {
    const { store, now } = this.#deps;
    const job = await store.getJob(jobId);
    if (!job) throw new Error(`There is no job ${jobId}.`);
    let progress = await store.getProgress(jobId);
    if (progress.cursor >= job.total) {
      progress = { ...progress, state: 'completed', stopReason: null };
      await store.saveProgress(jobId, progress);
      return { state: 'completed', progress, error: null };
    }

    const pause = new AbortController();
    this.#pauses.set(jobId, pause);
    const finish = async (state: RunState, error: ItemError | null): Promise<RunOutcome> => {
      this.#pauses.delete(jobId);
      progress = { ...progress, state, stopReason: error, updatedAt: now() };
      await store.saveProgress(jobId, progress);
      emit({ type: 'progress', progress });
      return { state, progress, error };
    };

    progress = { ...progress, state: 'running', stopReason: null, updatedAt: now() };
    await store.saveProgress(jobId, progress);
    emit({ type: 'progress', progress });

    let engine: Engine;
    try {
      engine = await this.#engineFor(job.engine, emit);
    } catch (error) {
      const engineError =
        error instanceof EngineError ? error : new EngineError('load-failed', String(error));
      return finish('stopped', {
        code: engineError.code,
        message: stopMessage(engineError, progress, job.total)
      });
    }

    while (progress.cursor < job.total) {
      if (pause.signal.aborted) return finish('paused', null);
      const index = progress.cursor;
      const input = await store.getInput(jobId, index);
      const attempt = await store.recordAttempt(jobId, index);
      emit({ type: 'item', index, customId: input.customId, attempt });

      let pending = '';
      let flushTimer: ReturnType<typeof setTimeout> | null = null;
      const flush = () => {
        flushTimer = null;
        if (pending) emit({ type: 'text', index, text: pending });
        pending = '';
      };
      const started = now();
      let result: ItemResult;
      try {
        const output = await engine.generate(
          buildRequest(job, input),
          (delta) => {
            pending += delta;
            flushTimer ??= setTimeout(flush, TEXT_FLUSH_MS);
          },
          pause.signal
        );
        result = {
          index,
          customId: input.customId,
          status: 'done',
          text: output.text,
          finishReason: output.finishReason,
          usage: output.usage,
          error: null,
          model: output.model,
          finishedAt: now(),
          attempts: attempt
        };
      } catch (error) {
        const engineError =
          error instanceof EngineError
            ? error
            : new EngineError('generation-failed', String(error));
        if (engineError.code === 'cancelled') return finish('paused', null);
        if (!isItemError(engineError.code)) {
          await this.#dropEngine();
          return finish('stopped', {
            code: engineError.code,
            message: stopMessage(engineError, progress, job.total)
          });
        }
        result = {
          index,
          customId: input.customId,
          status: 'failed',
          text: '',
          finishReason: null,
          usage: null,
          error: { code: engineError.code, message: engineError.message },
          model: this.#engine?.info.model ?? '',
          finishedAt: now(),
          attempts: attempt
        };
      } finally {
        if (flushTimer) clearTimeout(flushTimer);
        flush();
      }
      progress = {
        ...progress,
        cursor: index + 1,
        done: progress.done + (result.status === 'done' ? 1 : 0),
        failed: progress.failed + (result.status === 'failed' ? 1 : 0),
        promptTokens: progress.promptTokens + (result.usage?.prompt_tokens ?? 0),
        completionTokens: progress.completionTokens + (result.usage?.completion_tokens ?? 0),
        elapsedMs: progress.elapsedMs + (now() - started),
        updatedAt: now()
      };
      await store.commitResult(jobId, result, progress);
      emit({ type: 'committed', result, progress });
    }
    return finish('completed', null);
  }
}
