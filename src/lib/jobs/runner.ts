/**
 * The runner: lease the job (a Web Lock), plan its memory, load the engine and loop
 *   next item (retry queue, else cursor) -> count an attempt -> generate
 *   -> commit result + progress in one transaction
 * until the job is done, paused, or stopped by an error that is not the
 * item's fault. Runs inside the worker. Every start reads the progress from
 * IndexedDB, so resuming after any crash is the same act as starting.
 *
 * A lost device restarts the engine on a new device by itself; when the loss
 * looks like memory (an allocation failed, the device was "destroyed", or
 * the same item lost it twice) the next plan is smaller. An item that three
 * attempts did not finish is failed with its last error.
 */
import { EngineError, isItemError, type EngineErrorCode } from '$lib/engine/errors';
import type {
  Engine,
  EngineInfo,
  GenerateRequest,
  LoadPlan,
  LoadProgress
} from '$lib/engine/types';
import type { JobNeeds, Plan, PlannedMemory } from '$lib/gpu/types';
import { buildRequest, jobLockName } from './request';
import type {
  EngineChoice,
  ItemError,
  ItemInput,
  ItemResult,
  JobMeta,
  JobProgress,
  ItemTries,
  PlanRecord,
  RunLogEntry,
  RunState
} from './types';
import { MAX_ATTEMPTS } from './types';

export type RunEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'engine'; info: EngineInfo }
  | { type: 'item'; index: number; customId: string; attempt: number }
  | { type: 'text'; index: number; text: string }
  | { type: 'committed'; result: ItemResult; progress: JobProgress }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'log'; entry: RunLogEntry }
  | { type: 'needs'; needs: JobNeeds };

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
  /** Inputs with index in [from, to), in index order. */
  getInputs(jobId: string, from: number, to: number): Promise<ItemInput[]>;
  saveExactCounts(jobId: string, needs: JobNeeds, promptTokens: number[]): Promise<void>;
  recordAttempt(
    jobId: string,
    index: number,
    max: number
  ): Promise<ItemTries & { exhausted: boolean }>;
  recordFailure(jobId: string, index: number, error: ItemError): Promise<void>;
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

/** Inputs read at a time when the tokenizer counts a whole job. */
const COUNT_CHUNK = 2000;

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
        : error.code === 'quota'
          ? 'Free some space (delete finished jobs after exporting them, or a cached model), then press Resume.'
          : 'Press Resume to continue from where it stopped.';
  return `${error.message} ${summary(progress, total)} ${next}`;
}

function isLoss(code: EngineErrorCode): boolean {
  return code === 'device-lost' || code === 'out-of-memory';
}

/**
 * A loss that says "memory": an allocation failed, or the runtime gave the
 * device up (TVM destroys it on an allocation error). A crash ("unknown")
 * says less; only when it repeats at the same item is a smaller plan tried.
 */
function isMemoryLoss(error: EngineError): boolean {
  return error.code === 'out-of-memory' || error.lostReason === 'destroyed';
}

function isQuotaError(error: unknown): boolean {
  return (
    error instanceof DOMException &&
    (error.name === 'QuotaExceededError' || /quota/i.test(error.message))
  );
}

const QUOTA_MESSAGE =
  'The browser has no more room for this job: the storage quota is used up (QuotaExceededError). The item in progress was not written.';

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
  #queue: Promise<unknown> = Promise.resolve();

  constructor(deps: RunnerDeps) {
    this.#deps = deps;
  }

  /** Stops the job's run after the current token; the partial item is not kept. */
  pause(jobId: string): void {
    this.#pauses.get(jobId)?.abort();
  }

  /** Runs the job; jobs given to one runner run one after another (they share the engine). */
  run(jobId: string, emit: (event: RunEvent) => void): Promise<RunOutcome> {
    const turn = this.#queue.then(() => this.#leased(jobId, emit));
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  async #leased(jobId: string, emit: (event: RunEvent) => void): Promise<RunOutcome> {
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

  /** Every item's prompt tokens with the loaded tokenizer; saved as the job's exact needs. */
  async #countExactly(
    jobId: string,
    job: JobMeta,
    count: (request: GenerateRequest) => number
  ): Promise<JobNeeds> {
    const counts: number[] = [];
    let longestPromptTokens = 0;
    for (let from = 0; from < job.total; from += COUNT_CHUNK) {
      const inputs = await this.#deps.store.getInputs(jobId, from, from + COUNT_CHUNK);
      for (const input of inputs) {
        const tokens = count(buildRequest(job, input));
        counts.push(tokens);
        if (tokens > longestPromptTokens) longestPromptTokens = tokens;
      }
    }
    const needs: JobNeeds = { ...job.needs, longestPromptTokens, exact: true };
    await this.#deps.store.saveExactCounts(jobId, needs, counts);
    return needs;
  }

  async #dropEngine(): Promise<void> {
    const current = this.#engine;
    this.#engine = null;
    await current?.engine.unload().catch(() => undefined);
  }

  async #run(jobId: string, emit: (event: RunEvent) => void): Promise<RunOutcome> {
    const { store, now } = this.#deps;
    const stored = await store.getJob(jobId);
    if (!stored) throw new Error(`There is no job ${jobId}.`);
    let job: JobMeta = stored;
    let progress = await store.getProgress(jobId);
    progress = { ...progress, retry: progress.retry ?? [] };
    const nextIndex = () => progress.retry[0] ?? progress.cursor;
    const finished = () => progress.retry.length === 0 && progress.cursor >= job.total;
    if (finished()) {
      progress = { ...progress, state: 'completed', stopReason: null };
      await store.saveProgress(jobId, progress);
      return { state: 'completed', progress, error: null };
    }

    const pause = new AbortController();
    this.#pauses.set(jobId, pause);
    const log = async (entry: Omit<RunLogEntry, 'at'>) => {
      const full = { ...entry, at: now() };
      await store.appendLog(jobId, full, progress);
      emit({ type: 'log', entry: full });
    };
    const finish = async (state: RunState, error: ItemError | null): Promise<RunOutcome> => {
      this.#pauses.delete(jobId);
      progress = { ...progress, state, stopReason: error, updatedAt: now() };
      // With a full disk even this write may fail: the last commit stands, and the page is told.
      await store.saveProgress(jobId, progress).catch(() => undefined);
      emit({ type: 'progress', progress });
      return { state, progress, error };
    };
    const commit = async (
      result: ItemResult,
      started: number,
      previous: ItemResult['status'] | null
    ) => {
      const retried = progress.retry[0] === result.index;
      const next: JobProgress = {
        ...progress,
        cursor: retried ? progress.cursor : result.index + 1,
        retry: retried ? progress.retry.slice(1) : progress.retry,
        done: progress.done + (result.status === 'done' ? 1 : 0) - (previous === 'done' ? 1 : 0),
        failed:
          progress.failed + (result.status === 'failed' ? 1 : 0) - (previous === 'failed' ? 1 : 0),
        promptTokens: progress.promptTokens + (result.usage?.prompt_tokens ?? 0),
        completionTokens: progress.completionTokens + (result.usage?.completion_tokens ?? 0),
        elapsedMs: progress.elapsedMs + (now() - started),
        updatedAt: now()
      };
      await store.commitResult(jobId, result, next);
      progress = next;
      emit({ type: 'committed', result, progress });
    };

    progress = { ...progress, state: 'running', stopReason: null, updatedAt: now() };
    await store.saveProgress(jobId, progress);
    emit({ type: 'progress', progress });

    let engine: Engine | null = null;
    let plan: PlannedMemory | null = null;
    /** Losses since the last commit, and at which item. */
    let losses = { index: -1, count: 0 };
    let lostThisRun = false;

    /**
     * After a lost device: restart on a new device, with a smaller plan when
     * the loss looks like memory. Returns the outcome when the run must stop.
     */
    const recover = async (error: EngineError, index: number): Promise<RunOutcome | null> => {
      await this.#dropEngine();
      engine = null;
      lostThisRun = true;
      losses = losses.index === index ? { index, count: losses.count + 1 } : { index, count: 1 };
      const window = plan?.contextWindow ?? 0;
      const what =
        error.code === 'out-of-memory'
          ? 'out of GPU memory'
          : `device lost (${error.lostReason ?? 'unknown'})`;
      const memory = isMemoryLoss(error);
      const smaller = plan && (memory || losses.count >= 2) ? this.#deps.stepDown(window) : null;
      if (smaller === null && !memory) {
        // A crash (not a memory error): same plan on a new device; the item's attempts are counted.
        await log({
          index,
          kind: 'restart',
          message: `${what} at item ${index + 1}; engine restarted on a new device`
        });
        return null;
      }
      if (smaller === null) {
        await log({
          index,
          kind: 'paused',
          message: `${what} at item ${index + 1} with the smallest plan (context ${window}); paused`
        });
        return finish('paused', {
          code: error.code,
          message: `${error.message} This happened at item ${index + 1} with the smallest plan (a context of ${window} tokens). ${summary(progress, job.total)} Choose a smaller model, close other tabs and programs that use the GPU, then press Resume.`
        });
      }
      progress = { ...progress, windowCap: smaller, updatedAt: now() };
      await log({
        index,
        kind: 'step-down',
        message: `${what} at item ${index + 1}; context ${window} → ${smaller}`
      });
      return null;
    };

    try {
      while (!finished()) {
        if (pause.signal.aborted) return await finish('paused', null);
        const index = nextIndex();

        if (!engine || !plan) {
          try {
            const planned = await this.#deps.plan(job, progress.windowCap);
            if (!planned.ok) {
              return await finish('stopped', {
                code: 'does-not-fit',
                message: `${planned.refusal} ${summary(progress, job.total)}`
              });
            }
            plan = planned;
            progress = { ...progress, plan: planRecord(planned) };
            emit({ type: 'progress', progress });
            engine = await this.#engineFor(job.engine, planned, emit);
            const count = engine.tokenCounter();
            if (count && !job.needs.exact) {
              const estimated = job.needs;
              const needs = await this.#countExactly(jobId, job, count);
              job = { ...job, needs };
              emit({ type: 'needs', needs });
              let message = `Counted the prompts with the model's tokenizer: the longest needs ${needs.longestPromptTokens.toLocaleString('en')} tokens (estimated ${estimated.longestPromptTokens.toLocaleString('en')})`;
              // A window larger than the exact counts need is kept (it loaded, and a reload costs
              // minutes on a real GPU); one too small for them is grown when the GPU has room.
              const exact = await this.#deps.plan(job, progress.windowCap);
              const grown =
                exact.ok &&
                exact.model.id === planned.model.id &&
                exact.contextWindow > planned.contextWindow
                  ? exact
                  : null;
              if (grown) {
                message += `; context ${planned.contextWindow} → ${grown.contextWindow}`;
                plan = grown;
                progress = { ...progress, plan: planRecord(grown) };
                emit({ type: 'progress', progress });
              }
              await log({ index: null, kind: 'tokens', message });
              if (grown) engine = await this.#engineFor(job.engine, grown, emit);
            }
          } catch (error) {
            const engineError = asEngineError(error, 'load-failed');
            if (isLoss(engineError.code)) {
              const stopped = await recover(engineError, index);
              if (stopped) return stopped;
              continue;
            }
            if (engineError.code === 'no-webgpu' && lostThisRun) {
              // Chrome blocks WebGPU for a page after repeated GPU crashes; a reload lifts it.
              return await finish('stopped', {
                code: 'gpu-blocked',
                message: `The browser stopped giving this page a GPU after the GPU crashed again. ${summary(progress, job.total)}`
              });
            }
            return await finish('stopped', {
              code: engineError.code,
              message: stopMessage(engineError, progress, job.total)
            });
          }
        }

        const input = await store.getInput(jobId, index);
        const previous = progress.retry[0] === index ? 'failed' : null;
        const request = buildRequest(job, input);
        const started = now();
        const counter = engine.tokenCounter();
        const needed = counter ? counter(request) : this.#deps.promptTokens(request);
        if (needed > plan.maxPromptTokens) {
          // Never sent: a prompt longer than the window would crash the engine.
          await commit(
            failedResult(
              input,
              {
                code: 'context-exceeded',
                message: `The prompt needs ${counter ? '' : 'about '}${needed} tokens, but the plan's context of ${plan.contextWindow} tokens leaves ${plan.maxPromptTokens} for the prompt after the answer.`
              },
              plan.model.id,
              now(),
              0
            ),
            started,
            previous
          );
          continue;
        }

        const tries = await store.recordAttempt(jobId, index, MAX_ATTEMPTS);
        if (tries.exhausted) {
          const last = tries.lastError ?? {
            code: 'interrupted',
            message: 'The page or the engine stopped while this item was being generated.'
          };
          await commit(
            failedResult(
              input,
              {
                code: last.code,
                message: `${MAX_ATTEMPTS} attempts did not finish this item; the last one ended with: ${last.message}`
              },
              plan.model.id,
              now(),
              tries.count
            ),
            started,
            previous
          );
          await log({
            index,
            kind: 'poison',
            message: `item ${index + 1} failed after ${tries.count} attempts (${last.code}); moving on`
          });
          continue;
        }
        const attempt = tries.count;
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
            pause.signal,
            { index, attempt }
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
          if (engineError.code === 'cancelled') return await finish('paused', null);
          if (isLoss(engineError.code)) {
            await store.recordFailure(jobId, index, {
              code: engineError.code,
              message: engineError.message
            });
            const stopped = await recover(engineError, index);
            if (stopped) return stopped;
            continue;
          }
          if (!isItemError(engineError.code)) {
            await this.#dropEngine();
            return await finish('stopped', {
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
        await commit(result, started, previous);
        losses = { index: -1, count: 0 };
      }
      return await finish('completed', null);
    } catch (error) {
      if (!isQuotaError(error)) throw error;
      await this.#dropEngine();
      const quota = new EngineError('quota', QUOTA_MESSAGE);
      return finish('paused', { code: 'quota', message: stopMessage(quota, progress, job.total) });
    }
  }
}
