/**
 * The runner: lease the job, then load the engine and loop
 *   read cursor -> count an attempt -> generate -> commit result + cursor
 * until the job is done, paused, or stopped by an error that is not the
 * item's fault. Runs inside the worker. Every start reads the cursor from
 * IndexedDB, so resuming after any crash is the same act as starting.
 */
import { EngineError, isItemError, type EngineErrorCode } from '$lib/engine/errors';
import type {
  Engine,
  EngineInfo,
  GenerateRequest,
  LoadPlan,
  LoadProgress
} from '$lib/engine/types';
import type { Plan, PlannedMemory } from '$lib/gpu/types';
import { buildRequest, jobLockName } from './request';
import type {
  EngineChoice,
  ItemError,
  ItemInput,
  ItemResult,
  JobMeta,
  JobProgress,
  PlanRecord,
  RunLogEntry,
  RunState
} from './types';

export type RunEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'engine'; info: EngineInfo }
  | { type: 'item'; index: number; customId: string; attempt: number }
  | { type: 'text'; index: number; text: string }
  | { type: 'committed'; result: ItemResult; progress: JobProgress }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'log'; entry: RunLogEntry };

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
  appendLog(jobId: string, entry: RunLogEntry, progress: JobProgress): Promise<void>;
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

/** Losses that a smaller plan may cure. */
function isMemoryLoss(code: EngineErrorCode): boolean {
  return code === 'device-lost' || code === 'out-of-memory';
}

function asEngineError(error: unknown, fallback: EngineErrorCode): EngineError {
  if (error instanceof EngineError) return error;
  return new EngineError(fallback, error instanceof Error ? error.message : String(error));
}

function planRecord(plan: PlannedMemory): PlanRecord {
  return {
    modelId: plan.model.id,
    contextWindow: plan.contextWindow,
    kvBytes: plan.kvBytes,
    totalBytes: plan.totalBytes,
    maxPromptTokens: plan.maxPromptTokens
  };
}

function loadPlan(plan: PlannedMemory): LoadPlan {
  return {
    modelId: plan.model.id,
    contextWindow: plan.contextWindow,
    weightsBytes: plan.weightsBytes,
    activationBytes: plan.activationBytes,
    kvBytes: plan.kvBytes,
    totalBytes: plan.totalBytes
  };
}

function failedResult(
  input: ItemInput,
  error: ItemError,
  model: string,
  finishedAt: number,
  attempts: number
): ItemResult {
  return {
    index: input.index,
    customId: input.customId,
    status: 'failed',
    text: '',
    finishReason: null,
    usage: null,
    error,
    model,
    finishedAt,
    attempts
  };
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

  async #engineFor(
    choice: EngineChoice,
    plan: PlannedMemory,
    emit: (event: RunEvent) => void
  ): Promise<Engine> {
    const key = JSON.stringify([choice, plan.model.id, plan.contextWindow]);
    if (this.#engine?.key === key) return this.#engine.engine;
    await this.#dropEngine();
    const engine = this.#deps.createEngine(choice);
    try {
      const info = await engine.load(loadPlan(plan), (progress) =>
        emit({ type: 'load', progress })
      );
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
    const commit = async (result: ItemResult, started: number) => {
      progress = {
        ...progress,
        cursor: result.index + 1,
        done: progress.done + (result.status === 'done' ? 1 : 0),
        failed: progress.failed + (result.status === 'failed' ? 1 : 0),
        promptTokens: progress.promptTokens + (result.usage?.prompt_tokens ?? 0),
        completionTokens: progress.completionTokens + (result.usage?.completion_tokens ?? 0),
        elapsedMs: progress.elapsedMs + (now() - started),
        updatedAt: now()
      };
      await store.commitResult(jobId, result, progress);
      emit({ type: 'committed', result, progress });
    };
    /**
     * After a lost device or a failed allocation: the next attempt uses a
     * smaller plan. Returns the outcome when there is no smaller plan.
     */
    const stepDown = async (
      error: EngineError,
      index: number,
      window: number
    ): Promise<RunOutcome | null> => {
      await this.#dropEngine();
      const next = this.#deps.stepDown(window);
      const what = error.code === 'out-of-memory' ? 'out of GPU memory' : 'device lost';
      if (next === null) {
        const entry: RunLogEntry = {
          at: now(),
          index,
          kind: 'paused',
          message: `${what} at item ${index + 1} with the smallest plan (context ${window}); paused`
        };
        await store.appendLog(jobId, entry, progress);
        emit({ type: 'log', entry });
        return finish('paused', {
          code: error.code,
          message: `${error.message} This happened at item ${index + 1} with the smallest plan (a context of ${window} tokens). ${summary(progress, job.total)} Choose a smaller model, close other tabs and programs that use the GPU, then press Resume.`
        });
      }
      const entry: RunLogEntry = {
        at: now(),
        index,
        kind: 'step-down',
        message: `${what} at item ${index + 1}; context ${window} → ${next}`
      };
      progress = { ...progress, windowCap: next, updatedAt: now() };
      await store.appendLog(jobId, entry, progress);
      emit({ type: 'log', entry });
      return null;
    };

    progress = { ...progress, state: 'running', stopReason: null, updatedAt: now() };
    await store.saveProgress(jobId, progress);
    emit({ type: 'progress', progress });

    let engine: Engine | null = null;
    let plan: PlannedMemory | null = null;
    while (progress.cursor < job.total) {
      if (pause.signal.aborted) return finish('paused', null);
      const index = progress.cursor;

      if (!engine || !plan) {
        const planned = await this.#deps.plan(job, progress.windowCap);
        if (!planned.ok) {
          return finish('stopped', {
            code: 'does-not-fit',
            message: `${planned.refusal} ${summary(progress, job.total)}`
          });
        }
        plan = planned;
        progress = { ...progress, plan: planRecord(planned) };
        emit({ type: 'progress', progress });
        try {
          engine = await this.#engineFor(job.engine, planned, emit);
        } catch (error) {
          const engineError = asEngineError(error, 'load-failed');
          if (isMemoryLoss(engineError.code)) {
            engine = null;
            const stopped = await stepDown(engineError, index, planned.contextWindow);
            if (stopped) return stopped;
            continue;
          }
          return finish('stopped', {
            code: engineError.code,
            message: stopMessage(engineError, progress, job.total)
          });
        }
      }

      const input = await store.getInput(jobId, index);
      const request = buildRequest(job, input);
      const started = now();
      const needed = this.#deps.promptTokens(request);
      if (needed > plan.maxPromptTokens) {
        // Never sent: a prompt longer than the window would crash the engine.
        await commit(
          failedResult(
            input,
            {
              code: 'context-exceeded',
              message: `The prompt needs about ${needed} tokens, but the plan's context of ${plan.contextWindow} tokens leaves ${plan.maxPromptTokens} for the prompt after the answer.`
            },
            plan.model.id,
            now(),
            0
          ),
          started
        );
        continue;
      }

      const attempt = await store.recordAttempt(jobId, index);
      emit({ type: 'item', index, customId: input.customId, attempt });
      let pending = '';
      let flushTimer: ReturnType<typeof setTimeout> | null = null;
      const flush = () => {
        flushTimer = null;
        if (pending) emit({ type: 'text', index, text: pending });
        pending = '';
      };
      let result: ItemResult;
      try {
        const output = await engine.generate(
          request,
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
        const engineError = asEngineError(error, 'generation-failed');
        if (engineError.code === 'cancelled') return finish('paused', null);
        if (isMemoryLoss(engineError.code)) {
          engine = null;
          const stopped = await stepDown(engineError, index, plan.contextWindow);
          if (stopped) return stopped;
          continue;
        }
        if (!isItemError(engineError.code)) {
          await this.#dropEngine();
          return finish('stopped', {
            code: engineError.code,
            message: stopMessage(engineError, progress, job.total)
          });
        }
        result = failedResult(
          input,
          { code: engineError.code, message: engineError.message },
          this.#engine?.info.model ?? plan.model.id,
          now(),
          attempt
        );
      } finally {
        if (flushTimer) clearTimeout(flushTimer);
        flush();
      }
      await commit(result, started);
    }
    return finish('completed', null);
  }
}
