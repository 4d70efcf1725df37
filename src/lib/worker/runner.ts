/**
 * The runner: lease the job (a Web Lock), then loop
 *   prepare the engine (plan its memory, load, count tokens once)
 *   -> run one item (retry queue, else cursor): count an attempt, generate
 *   -> commit result + progress in one transaction
 *   -> on a failure, decide (recovery.ts) and act
 * until the job is done, paused, or stopped by an error that is not the
 * item's fault. Runs inside the worker. Every start reads the progress from
 * IndexedDB, so resuming after any crash is the same act as starting.
 */
import type { EngineChoice } from '$lib/shared/engine-choice';
import type {
  ItemInput,
  ItemResult,
  ItemTries,
  JobMeta,
  JobNeeds,
  JobProgress,
  PlanRecord,
  RunLogEntry,
  RunState,
  Usage
} from '$lib/shared/job';
import type { Plan, PlannedMemory } from '$lib/plan/types';
import { requestFor, skipReason } from '$lib/presets';
import { answerReader, type ParsedAnswer } from '$lib/shared/answer';
import type { GenerateRequest } from '$lib/shared/request';
import {
  isQuotaError,
  keptSentence,
  QUOTA_MESSAGE,
  savedCount,
  stopMessage,
  type EngineErrorCode,
  type ItemError
} from '$lib/shared/stop';
import { jobLockName } from '$lib/shared/storage-names';
import { formatCount } from '$lib/shared/figures';
import type { AttemptScope } from '$lib/store/jobs';
import { RunIO, type RunIOStore } from './run-io';
import { splitScores } from '$lib/presets/score-pairs';
import { EngineError } from './engine/errors';
import type { Engine, EngineInfo, LoadPlan, LoadProgress } from './engine/types';
import {
  allHandled,
  isHandled,
  nextUnhandled,
  progressAfter,
  queueAgain,
  type PreviousResult
} from '$lib/shared/progress';
import {
  decideFailure,
  decideLoss,
  MAX_ATTEMPTS,
  NO_LOSSES,
  poisonError,
  type Losses
} from './recovery';

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

type Emit = (event: RunEvent) => void;

/** How a unit (an item, or a batch of pairs) ended: the loop decides what follows. */
type UnitEnd =
  | { kind: 'ok' }
  | { kind: 'paused' }
  /** The device was lost while these ran. */
  | { kind: 'loss'; indices: number[]; error: EngineError }
  /** Stop the run with this error (everything committed is kept). */
  | { kind: 'stop'; indices: number[]; error: ItemError }
  /** The browser refused to store the results. */
  | { kind: 'quota'; indices: number[]; error: unknown }
  /** The server does not answer: the run pauses until it does. */
  | { kind: 'wait'; indices: number[]; error: EngineError };

const OK: UnitEnd = { kind: 'ok' };
const PAUSED: UnitEnd = { kind: 'paused' };

/** A unit in flight: its items, its own stop, and how it ends. */
interface Flight {
  indices: number[];
  controller: AbortController;
  end: Promise<{ id: number; end: UnitEnd }>;
}

function unique(indices: readonly number[]): number[] {
  return [...new Set(indices)].sort((a, b) => a - b);
}

/** A loaded engine and the memory plan it was loaded with (none for a server). */
interface Ready {
  engine: Engine;
  plan: PlannedMemory | null;
}

/** "the batch of pairs 17 to 24" (by custom_id), for the run log and the page. */
function batchName(items: readonly Pick<ItemInput, 'customId'>[]): string {
  const first = items[0]?.customId ?? '';
  const last = items[items.length - 1]?.customId ?? '';
  return items.length > 1 ? `the batch of pairs ${first} to ${last}` : `the batch of pair ${first}`;
}

/** A batch's usage shared out over its `n` results (the remainder to the first), so totals add up. */
function shareUsage(usage: Usage, n: number): Usage[] {
  const part = (total: number, i: number) => Math.floor(total / n) + (i === 0 ? total % n : 0);
  return Array.from({ length: n }, (_, i) => ({
    ...usage,
    prompt_tokens: part(usage.prompt_tokens, i),
    completion_tokens: part(usage.completion_tokens, i),
    total_tokens: part(usage.prompt_tokens, i) + part(usage.completion_tokens, i)
  }));
}

/** Inputs read at a time when the tokenizer counts a whole job. */
const COUNT_CHUNK = 2000;

/** How often streamed text is sent to the page, at most. */
const TEXT_FLUSH_MS = 50;

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

/**
 * The loaded engine, kept between runs of one runner: a job resumed with the
 * same engine choice and plan does not load the model again.
 */
class EngineSlot {
  #current: { key: string; engine: Engine; info: EngineInfo } | null = null;

  constructor(private readonly create: (choice: EngineChoice) => Engine) {}

  /** The model the loaded engine reports, or null. */
  get model(): string | null {
    return this.#current?.info.model ?? null;
  }

  async load(choice: EngineChoice, plan: PlannedMemory | null, emit: Emit): Promise<Engine> {
    const key = JSON.stringify([choice, plan?.model.id, plan?.contextWindow]);
    if (this.#current?.key === key) return this.#current.engine;
    await this.drop();
    const engine = this.create(choice);
    try {
      const info = await engine.load(plan && loadPlan(plan), (progress) =>
        emit({ type: 'load', progress })
      );
      this.#current = { key, engine, info };
      emit({ type: 'engine', info });
      return engine;
    } catch (error) {
      await engine.unload().catch(() => undefined);
      throw error;
    }
  }

  async drop(): Promise<void> {
    const current = this.#current;
    this.#current = null;
    await current?.engine.unload().catch(() => undefined);
  }
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

/** One run of one job: its state while it runs, and the steps of the loop. */
class Run {
  #deps: RunnerDeps;
  #slot: EngineSlot;
  #job: JobMeta;
  #progress: JobProgress;
  #emit: Emit;
  #pause: AbortSignal;
  /** The engine and its plan, once prepared; null after a loss. */
  #ready: Ready | null = null;
  /** The last plan, kept after a loss: the next one is sized from it. */
  #plan: PlannedMemory | null = null;
  #losses: Losses = NO_LOSSES;
  #lostThisRun = false;
  #readers = new Map<string, (text: string) => ParsedAnswer>();
  /** Units (an item, or a batch of pairs) running now, by a number of their own. */
  #flight = new Map<number, Flight>();
  #unitIds = 0;
  /** Reads ahead, and writes commits, tries and run-log lines in groups, in order. */
  #io: RunIO;
  /** The progress as last written (the run's own runs ahead of it while writes are under way). */
  #written: JobProgress;
  /** A write failed (a full disk): the run stops, keeping what was written. */
  #writeError: { error: unknown } | null = null;

  constructor(
    deps: RunnerDeps,
    slot: EngineSlot,
    job: JobMeta,
    progress: JobProgress,
    emit: Emit,
    pause: AbortSignal
  ) {
    this.#deps = deps;
    this.#slot = slot;
    this.#job = job;
    this.#progress = { ...progress, retry: progress.retry ?? [] };
    this.#written = this.#progress;
    this.#emit = emit;
    this.#pause = pause;
    this.#io = new RunIO(deps.store, job.id, deps.writeEveryMs);
  }

  get #jobId(): string {
    return this.#job.id;
  }

  get #kept(): string {
    return keptSentence(savedCount(this.#progress), this.#job.total);
  }

  async execute(): Promise<RunOutcome> {
    const { store, now } = this.#deps;
    if (allHandled(this.#progress, this.#job.total)) {
      this.#progress = { ...this.#progress, state: 'completed', stopReason: null };
      await store.saveProgress(this.#jobId, this.#progress);
      return { state: 'completed', progress: this.#progress, error: null };
    }
    this.#progress = { ...this.#progress, state: 'running', stopReason: null, updatedAt: now() };
    await store.saveProgress(this.#jobId, this.#progress);
    this.#emit({ type: 'progress', progress: this.#progress });
    try {
      while (!allHandled(this.#progress, this.#job.total)) {
        if (this.#writeError) throw this.#writeError.error;
        if (this.#pause.aborted) {
          await this.#drain();
          return await this.#finish('paused', null);
        }
        if (!this.#ready) {
          const stop = await this.#prepare(this.#nextIndex());
          if (stop) return stop;
          continue;
        }
        this.#fill(this.#ready);
        if (this.#flight.size === 0) break;
        // Units leave the flight here, in the loop, so a loss sees every unit that ran with it.
        const { id, end } = await Promise.race([...this.#flight.values()].map((unit) => unit.end));
        const together = this.#flight.size;
        const busy = [...this.#busy()];
        this.#flight.delete(id);
        if (end.kind === 'ok' || end.kind === 'paused') continue;
        await this.#drain();
        if (end.kind === 'quota') throw end.error;
        if (end.kind === 'stop') {
          await this.#slot.drop();
          return await this.#finish('stopped', end.error);
        }
        if (end.kind === 'wait') return await this.#waitForServer(end.error);
        // A lost device: everything that ran with it runs again; together, each then alone.
        if (together > 1) {
          const { retry } = this.#progress;
          const lost = busy.filter((i) => retry.includes(i) || !isHandled(this.#progress, i));
          this.#progress = { ...this.#progress, suspects: unique(lost) };
        }
        const stop = await this.#recover(end.error, end.indices[0] ?? 0);
        if (stop) return stop;
      }
      await this.#drain();
      if (this.#writeError) throw this.#writeError.error;
      if (!allHandled(this.#progress, this.#job.total)) {
        throw new Error('The runner found nothing to start although the job is not finished.');
      }
      return await this.#finish('completed', null);
    } catch (error) {
      await this.#drain();
      if (!isQuotaError(error)) throw error;
      await this.#slot.drop();
      return this.#finish('paused', {
        code: 'quota',
        message: stopMessage({ code: 'quota', message: QUOTA_MESSAGE }, ...this.#saved())
      });
    }
  }

  /** The item a failure while preparing is put down to: the next one to run. */
  #nextIndex(): number {
    const { suspects = [], retry } = this.#progress;
    return (
      suspects[0] ??
      retry[0] ??
      nextUnhandled(this.#progress, this.#job.total, 0, new Set()) ??
      this.#progress.cursor
    );
  }

  /** Items running now (alone, or in batches). */
  #busy(): Set<number> {
    const busy = new Set<number>();
    for (const unit of this.#flight.values()) for (const index of unit.indices) busy.add(index);
    return busy;
  }

  /**
   * Starts units until the engine's limit: suspects one at a time with nothing beside
   * them, then queued items, then fresh ones from the cursor on (batches of K pairs in a
   * scoring job with several pairs per prompt).
   */
  #fill(ready: Ready): void {
    const suspects = this.#progress.suspects ?? [];
    const limit = suspects.length ? 1 : Math.max(1, ready.engine.concurrency);
    while (this.#flight.size < limit) {
      const unit = this.#nextUnit(suspects);
      if (!unit) return;
      const controller = new AbortController();
      const signal = AbortSignal.any([this.#pause, controller.signal]);
      const id = this.#unitIds++;
      const { indices, batch } = unit;
      const end = (
        batch
          ? this.#runBatch(indices, ready, signal)
          : this.#runItem(indices[0]!, ready, signal, limit === 1)
      )
        .catch((error: unknown): UnitEnd => {
          if (isQuotaError(error)) return { kind: 'quota', indices, error };
          throw error;
        })
        .then((unitEnd) => ({ id, end: unitEnd }));
      this.#flight.set(id, { indices, controller, end });
    }
  }

  #batchSize(): number {
    return this.#job.settings.preset?.pairsPerPrompt ?? 1;
  }

  /**
   * The next unit to start, or null. Suspects and queued items run as items (alone in
   * their prompt); fresh items as batches in a scoring job with several pairs per prompt.
   */
  #nextUnit(suspects: readonly number[]): { indices: number[]; batch: boolean } | null {
    if (suspects.length) {
      return this.#flight.size === 0 ? { indices: [suspects[0]!], batch: false } : null;
    }
    const busy = this.#busy();
    const queued = this.#progress.retry.find((index) => !busy.has(index));
    if (queued !== undefined) return { indices: [queued], batch: false };
    const size = this.#batchSize();
    const unit: number[] = [];
    let from = this.#progress.cursor;
    while (unit.length < size) {
      const index = nextUnhandled(this.#progress, this.#job.total, from, busy);
      if (index === null) break;
      unit.push(index);
      busy.add(index);
      from = index + 1;
    }
    return unit.length ? { indices: unit, batch: size > 1 } : null;
  }

  /** Stops every unit in flight (their partial text is not kept) and waits for them and the commits. */
  async #drain(): Promise<void> {
    const running = [...this.#flight.values()];
    for (const unit of running) unit.controller.abort();
    await Promise.allSettled(running.map((unit) => unit.end));
    this.#flight.clear();
    await this.#io.drained();
  }

  #saved(): [saved: number, total: number] {
    return [savedCount(this.#progress), this.#job.total];
  }

  /** The answer read against the request's schema (readers are made once per schema). */
  #readAnswer(request: GenerateRequest, text: string): ParsedAnswer | undefined {
    if (!request.schema) return undefined;
    const key = JSON.stringify(request.schema);
    let read = this.#readers.get(key);
    if (!read) {
      read = answerReader(request.schema);
      this.#readers.set(key, read);
    }
    return read(text);
  }

  /** Plans the job's memory, loads the engine and counts the prompts once. A stop, or null. */
  async #prepare(index: number): Promise<RunOutcome | null> {
    try {
      if (this.#job.engine.kind === 'server') {
        // A server plans its own memory: nothing to plan or count here.
        const engine = await this.#slot.load(this.#job.engine, null, this.#emit);
        this.#ready = { engine, plan: null };
        return null;
      }
      const planned = await this.#deps.plan(this.#job, this.#progress.windowCap);
      if (!planned.ok) {
        return await this.#finish('stopped', {
          code: 'does-not-fit',
          message: `${planned.refusal} ${this.#kept}`
        });
      }
      this.#usePlan(planned);
      let engine = await this.#slot.load(this.#job.engine, planned, this.#emit);
      const count = engine.tokenCounter();
      if (count && !this.#job.needs.exact) {
        const grown = await this.#countExactly(count, planned);
        if (grown) engine = await this.#slot.load(this.#job.engine, grown, this.#emit);
      }
      this.#ready = { engine, plan: this.#plan ?? planned };
      return null;
    } catch (error) {
      const engineError = asEngineError(error, 'load-failed');
      switch (decideFailure(engineError.code, 'load', this.#lostThisRun)) {
        case 'recover':
          return this.#recover(engineError, index);
        case 'wait':
          return this.#waitForServer(engineError);
        case 'gpu-blocked':
          // Chrome blocks WebGPU for a page after repeated GPU crashes; a reload lifts it.
          return this.#finish('stopped', {
            code: 'gpu-blocked',
            message: `The browser stopped giving this page a GPU after the GPU crashed again. ${this.#kept}`
          });
        default:
          return this.#finish('stopped', {
            code: engineError.code,
            message: stopMessage(engineError, ...this.#saved())
          });
      }
    }
  }

  #usePlan(plan: PlannedMemory): void {
    this.#plan = plan;
    this.#progress = { ...this.#progress, plan: planRecord(plan) };
    this.#emit({ type: 'progress', progress: this.#progress });
  }

  /**
   * Counts every prompt with the loaded tokenizer and saves the counts as the
   * job's exact needs. A window larger than they need is kept (it loaded, and a
   * reload costs minutes on a real GPU); one too small for them is grown when
   * the GPU has room. Returns the grown plan, or null.
   */
  async #countExactly(
    count: (request: GenerateRequest) => number,
    planned: PlannedMemory
  ): Promise<PlannedMemory | null> {
    const { store } = this.#deps;
    const estimated = this.#job.needs;
    const { settings } = this.#job;
    const counts: number[] = [];
    let longestPromptTokens = 0;
    // With several pairs per prompt, the batches (index-aligned runs of `size`) count too.
    const size = settings.preset?.pairsPerPrompt ?? 1;
    let batch: ItemInput[] = [];
    const countBatch = () => {
      if (batch.length > 1) {
        longestPromptTokens = Math.max(longestPromptTokens, count(requestFor(settings, batch)));
      }
      batch = [];
    };
    for (let from = 0; from < this.#job.total; from += COUNT_CHUNK) {
      const inputs = await store.getInputs(this.#jobId, from, from + COUNT_CHUNK);
      for (const input of inputs) {
        const tokens = count(requestFor(settings, [input]));
        counts.push(tokens);
        if (tokens > longestPromptTokens) longestPromptTokens = tokens;
        if (size <= 1) continue;
        if (input.index % size === 0) countBatch();
        if (skipReason(settings, input) === null) batch.push(input);
      }
    }
    countBatch();
    const needs: JobNeeds = { ...estimated, longestPromptTokens, exact: true };
    await store.saveExactCounts(this.#jobId, needs, counts);
    this.#job = { ...this.#job, needs };
    this.#emit({ type: 'needs', needs });

    let message = `Counted the prompts with the model's tokenizer: the longest needs ${formatCount(needs.longestPromptTokens)} tokens (estimated ${formatCount(estimated.longestPromptTokens)})`;
    const exact = await this.#deps.plan(this.#job, this.#progress.windowCap);
    const grown =
      exact.ok && exact.model.id === planned.model.id && exact.contextWindow > planned.contextWindow
        ? exact
        : null;
    if (grown) {
      message += `; context ${planned.contextWindow} → ${grown.contextWindow}`;
      this.#usePlan(grown);
    }
    await this.#log({ index: null, kind: 'tokens', message });
    return grown;
  }

  /** Runs one item and commits it. */
  async #runItem(
    index: number,
    { engine, plan }: Ready,
    signal: AbortSignal,
    alone: boolean
  ): Promise<UnitEnd> {
    const { now } = this.#deps;
    const { inputs, tries } = await this.#io.items([index]);
    // items() throws for an item that is not stored.
    const input = inputs[0]!;
    const started = now();
    const model = this.#modelId(plan);
    const skip = skipReason(this.#job.settings, input);
    if (skip !== null) {
      const skipped = this.#result(input, {
        status: 'skipped',
        model,
        attempts: 0,
        skipReason: skip
      });
      await this.#commit([skipped], started);
      return OK;
    }
    const request = requestFor(this.#job.settings, [input]);
    const counter = engine.tokenCounter();
    const needed = counter ? counter(request) : this.#deps.promptTokens(request);
    if (plan && needed > plan.maxPromptTokens) {
      // Never sent: a prompt longer than the window would crash the engine.
      const error: ItemError = {
        code: 'context-exceeded',
        message: `The prompt needs ${counter ? '' : 'about '}${needed} tokens, but the plan's context of ${plan.contextWindow} tokens leaves ${plan.maxPromptTokens} for the prompt after the answer.`
      };
      await this.#commit([this.#failed(input, error, model, 0)], started);
      return OK;
    }

    // Alone, attempts count towards poison; together, only their number is kept.
    const scope: AttemptScope = alone ? 'item' : 'shared';
    const before = tries(index, scope);
    if (alone && before.count >= MAX_ATTEMPTS) {
      const error = poisonError(before.lastError);
      await this.#commit([this.#failed(input, error, model, before.count)], started);
      await this.#log({
        index,
        kind: 'poison',
        message: `item ${index + 1} failed after ${before.count} attempts (${error.code}); moving on`
      });
      return OK;
    }

    // Counted as it starts, in the next write: the engine does not wait for the disk.
    const attempt = this.#io.attempt(index, scope, before).count;
    this.#emit({ type: 'item', index, customId: input.customId, attempt });
    const stream = new TextStream((text) => this.#emit({ type: 'text', index, text }));
    let result: ItemResult;
    try {
      const output = await engine.generate(request, (delta) => stream.add(delta), signal, {
        index,
        attempt,
        onRetry: (retry) => this.#emit({ type: 'retry', index, ...retry })
      });
      const answer = this.#readAnswer(request, output.text);
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
        attempts: attempt,
        ...(answer ? { answer } : {})
      };
    } catch (error) {
      const failure = await this.#failure(error, [index], scope, tries(index, scope));
      if ('end' in failure) return failure.end;
      const { code, message } = failure.itemError;
      result = this.#failed(input, { code, message }, this.#slot.model ?? model, attempt);
    } finally {
      stream.close();
    }
    await this.#commit([result], started);
    this.#losses = NO_LOSSES;
    await this.#io.backpressure();
    return OK;
  }

  /**
   * Scores a batch of pairs in one prompt and commits their scores in one transaction.
   * A pair the answer leaves out (or scores badly) is queued to be scored alone, as are
   * all of them when the batch is too long for the window, fails as an item would, or
   * keeps losing the device. Pairs with images are committed as skipped.
   */
  async #runBatch(
    indices: readonly number[],
    { engine, plan }: Ready,
    signal: AbortSignal
  ): Promise<UnitEnd> {
    const { now } = this.#deps;
    const first = indices[0] ?? 0;
    const { inputs, tries } = await this.#io.items(indices);
    const started = now();
    const model = this.#modelId(plan);
    const skipped: ItemResult[] = [];
    const sent: ItemInput[] = [];
    for (const input of inputs) {
      const skip = skipReason(this.#job.settings, input);
      if (skip === null) sent.push(input);
      else
        skipped.push(
          this.#result(input, { status: 'skipped', model, attempts: 0, skipReason: skip })
        );
    }
    const alone = async (why: string): Promise<UnitEnd> => {
      await this.#commit(
        skipped,
        started,
        sent.map((input) => input.index)
      );
      await this.#log({
        index: first,
        kind: 'split',
        message: `${batchName(sent)} ${why}; its pairs are scored alone`
      });
      return OK;
    };
    if (sent.length === 0) {
      await this.#commit(skipped, started);
      return OK;
    }
    const request = requestFor(this.#job.settings, sent);
    const counter = engine.tokenCounter();
    const needed = counter ? counter(request) : this.#deps.promptTokens(request);
    if (plan && needed > plan.maxPromptTokens) {
      return alone(`needs ${needed} prompt tokens, more than the plan's ${plan.maxPromptTokens}`);
    }
    const before = tries(first, 'batch');
    if (before.count >= MAX_ATTEMPTS) return alone(`did not finish in ${before.count} attempts`);

    const attempt = this.#io.attempt(first, 'batch', before).count;
    this.#emit({ type: 'item', index: first, customId: batchName(sent), attempt });
    const stream = new TextStream((text) => this.#emit({ type: 'text', index: first, text }));
    let output: Awaited<ReturnType<Engine['generate']>>;
    try {
      output = await engine.generate(request, (delta) => stream.add(delta), signal, {
        index: first,
        attempt,
        onRetry: (retry) => this.#emit({ type: 'retry', index: first, ...retry })
      });
    } catch (error) {
      const failure = await this.#failure(error, indices, 'batch', tries(first, 'batch'));
      if ('end' in failure) return failure.end;
      return alone(`failed (${failure.itemError.message})`);
    } finally {
      stream.close();
    }
    const scores = splitScores(
      this.#readAnswer(request, output.text) ?? { ok: false, reason: '' },
      sent.map((input) => input.customId)
    );
    const scored = sent.filter((input) => scores.has(input.customId));
    const usage = shareUsage(output.usage, scored.length);
    const results = scored.map((input, i): ItemResult => {
      const score = scores.get(input.customId);
      return {
        index: input.index,
        customId: input.customId,
        status: 'done',
        text: JSON.stringify({ score }),
        finishReason: output.finishReason,
        usage: usage[i] ?? null,
        error: null,
        model: output.model,
        finishedAt: now(),
        attempts: attempt,
        answer: { ok: true, value: { score } }
      };
    });
    const missing = sent.filter((input) => !scores.has(input.customId)).map((input) => input.index);
    await this.#commit(
      [...skipped, ...results].sort((a, b) => a.index - b.index),
      started,
      missing
    );
    if (missing.length) {
      await this.#log({
        index: first,
        kind: 'split',
        message: `${batchName(sent)}: the answer left out ${missing.length} of ${sent.length} pairs; they are scored alone`
      });
    }
    this.#losses = NO_LOSSES;
    await this.#io.backpressure();
    return OK;
  }

  /**
   * What a failed generation means for its unit (an item, or a batch starting at
   * `indices[0]`): how the unit ends, or the error that is the unit's own fault.
   */
  async #failure(
    error: unknown,
    indices: readonly number[],
    scope: AttemptScope,
    tries: ItemTries
  ): Promise<{ end: UnitEnd } | { itemError: EngineError }> {
    const engineError = asEngineError(error, 'generation-failed');
    const unit = [...indices];
    switch (decideFailure(engineError.code, 'generate', this.#lostThisRun)) {
      case 'pause':
        return { end: PAUSED };
      case 'recover':
        await this.#io.fail(
          unit[0] ?? 0,
          scope,
          { code: engineError.code, message: engineError.message },
          tries
        );
        return { end: { kind: 'loss', indices: unit, error: engineError } };
      case 'wait':
        return { end: { kind: 'wait', indices: unit, error: engineError } };
      case 'fail-item':
        return { itemError: engineError };
      default:
        return {
          end: {
            kind: 'stop',
            indices: unit,
            error: { code: engineError.code, message: stopMessage(engineError, ...this.#saved()) }
          }
        };
    }
  }

  /** A result with no answer text: failed or skipped. */
  #result(
    input: ItemInput,
    fields: Pick<ItemResult, 'status' | 'model' | 'attempts'> & Partial<ItemResult>
  ): ItemResult {
    return {
      index: input.index,
      customId: input.customId,
      text: '',
      finishReason: null,
      usage: null,
      error: null,
      finishedAt: this.#deps.now(),
      ...fields
    };
  }

  /** The model a result names when the engine gave none: the plan's, or the server's. */
  #modelId(plan: PlannedMemory | null): string {
    const engine = this.#job.engine;
    return plan?.model.id ?? (engine.kind === 'server' ? engine.model : (this.#slot.model ?? ''));
  }

  /**
   * The server does not answer: pause with what was kept. The page asks again now and then
   * and resumes the job when the server answers (the items in flight run again).
   */
  async #waitForServer(error: EngineError): Promise<RunOutcome> {
    await this.#slot.drop();
    await this.#log({
      index: null,
      kind: 'paused',
      message: `${error.message} Paused until it answers`
    });
    return this.#finish('paused', {
      code: 'server-down',
      message: stopMessage(error, ...this.#saved())
    });
  }

  #failed(input: ItemInput, error: ItemError, model: string, attempts: number): ItemResult {
    return this.#result(input, { status: 'failed', error, model, attempts });
  }

  /**
   * Results (one item's, or a batch's) and the progress they make, written together;
   * `alone` are queued to run again alone. Returns once the run's progress counts them
   * (so nothing starts them again); they are reported committed when written.
   */
  async #commit(
    results: readonly ItemResult[],
    started: number,
    alone: readonly number[] = []
  ): Promise<void> {
    const { store, now } = this.#deps;
    // A result run again overwrites the stored one: the counts take the old one off.
    const again = (index: number) =>
      this.#progress.retry.includes(index) || (this.#progress.suspects ?? []).includes(index);
    const previous = new Map<number, PreviousResult>();
    for (const result of results) {
      if (again(result.index)) {
        previous.set(result.index, (await store.getResult(this.#jobId, result.index)) ?? null);
      }
    }
    let next = this.#progress;
    for (const [i, result] of results.entries()) {
      const before = previous.get(result.index) ?? null;
      next = progressAfter(next, result, before, i === 0 ? now() - started : 0, now());
      this.#io.settle(result.index);
    }
    next = queueAgain(next, alone);
    this.#progress = next;
    // A const for the callback: the progress this write carries.
    const written = next;
    this.#io.write({ results: [...results], progress: written }).then(
      () => {
        this.#written = written;
        for (const result of results) this.#emit({ type: 'committed', result, progress: written });
      },
      (error: unknown) => this.#failedToWrite(error)
    );
  }

  /**
   * A write failed (a full disk): the run's progress goes back to what was written,
   * every unit stops, and the loop ends the run with what was kept.
   */
  #failedToWrite(error: unknown): void {
    if (this.#writeError) return;
    this.#writeError = { error };
    this.#progress = this.#written;
    for (const unit of this.#flight.values()) unit.controller.abort();
  }

  /**
   * After a lost device: drop the engine, then restart on a new device, with a
   * smaller plan when the loss looks like memory (recovery.ts decides).
   * Returns the outcome when the run must stop.
   */
  async #recover(error: EngineError, index: number): Promise<RunOutcome | null> {
    await this.#slot.drop();
    this.#ready = null;
    this.#lostThisRun = true;
    const decision = decideLoss({
      loss: error,
      index,
      window: this.#plan?.contextWindow ?? null,
      losses: this.#losses,
      stepDown: (window) => this.#deps.stepDown(window),
      kept: this.#kept
    });
    this.#losses = decision.losses;
    switch (decision.action) {
      case 'restart':
        await this.#log({ index, kind: 'restart', message: decision.log });
        return null;
      case 'step-down':
        this.#progress = {
          ...this.#progress,
          windowCap: decision.window,
          updatedAt: this.#deps.now()
        };
        await this.#log({ index, kind: 'step-down', message: decision.log });
        return null;
      case 'pause':
        await this.#log({ index, kind: 'paused', message: decision.log });
        return this.#finish('paused', decision.error);
    }
  }

  /** Adds a line to the run log, saving the progress with it (after the commits before it). */
  async #log(entry: Omit<RunLogEntry, 'at'>): Promise<void> {
    const full = { ...entry, at: this.#deps.now() };
    const written = this.#progress;
    await this.#io.write({ log: [full], progress: written });
    this.#written = written;
    this.#emit({ type: 'log', entry: full });
  }

  async #finish(state: RunState, error: ItemError | null): Promise<RunOutcome> {
    await this.#io.drained();
    this.#progress = { ...this.#progress, state, stopReason: error, updatedAt: this.#deps.now() };
    // With a full disk even this write may fail: the last commit stands, and the page is told.
    await this.#deps.store.saveProgress(this.#jobId, this.#progress).catch(() => undefined);
    this.#emit({ type: 'progress', progress: this.#progress });
    return { state, progress: this.#progress, error };
  }
}

/** Streamed text, sent to the page at most every TEXT_FLUSH_MS. */
class TextStream {
  #pending = '';
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly send: (text: string) => void) {}

  add(delta: string): void {
    this.#pending += delta;
    this.#timer ??= setTimeout(() => this.#flush(), TEXT_FLUSH_MS);
  }

  /** Sends what is pending now and stops the timer. */
  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#flush();
  }

  #flush(): void {
    this.#timer = null;
    if (this.#pending) this.send(this.#pending);
    this.#pending = '';
  }
}
