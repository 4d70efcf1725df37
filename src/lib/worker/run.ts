/**
 * One run of one job: the loop and the units in flight. Until the job is done or
 * the run stops, it prepares the engine (prepare.ts), keeps the engine's number of
 * units running (unit.ts: an item, or items sharing a prompt; after a loss, its
 * suspects with nothing beside them: recovery.ts), and acts on how each ends: a lost device recovers
 * (recovery.ts decides: the same plan on a new device, or a smaller window), a
 * server that does not answer pauses the run, anything else stops it with what
 * was kept. Results and progress are written by run-io.ts in grouped transactions;
 * a failed write (a full disk) stops the run, keeping what was written.
 */
import type { ItemResult, JobMeta, JobProgress, RunLogEntry, RunState } from '$lib/shared/job';
import type { PlannedMemory } from '$lib/plan/types';
import {
  isQuotaError,
  keptSentence,
  QUOTA_MESSAGE,
  savedCount,
  stopMessage,
  type ItemError
} from '$lib/shared/stop';
import { sharedPromptFor } from '$lib/presets';
import {
  allHandled,
  isHandled,
  nextUnhandled,
  progressAfter,
  queueAgain,
  type PreviousResult
} from '$lib/shared/progress';
import { asEngineError, type EngineError } from './engine/errors';
import { decideFailure, decideLoss, NO_LOSSES, suspectsAfterLoss, type Losses } from './recovery';
import { Flights } from './flight';
import { RunIO } from './run-io';
import type { RunEvent, RunnerDeps, RunOutcome } from './run-types';
import { EngineSlot, planRecord, prepareEngine, type PrepareHost } from './prepare';
import { AnswerReaders, attemptsInAll, failPoison, type Ready, type UnitHost } from './unit';

function unique(indices: readonly number[]): number[] {
  return [...new Set(indices)].sort((a, b) => a - b);
}

export class Run {
  #deps: RunnerDeps;
  #slot: EngineSlot;
  #job: JobMeta;
  #progress: JobProgress;
  #emit: (event: RunEvent) => void;
  #pause: AbortSignal;
  /** The engine and its plan, once prepared; null after a loss. */
  #ready: Ready | null = null;
  /** The last plan, kept after a loss: the next one is sized from it. */
  #plan: PlannedMemory | null = null;
  #losses: Losses = NO_LOSSES;
  #lostThisRun = false;
  #answers = new AnswerReaders();
  /** Units running now. */
  #flight: Flights;
  /** Reads ahead, and writes commits, tries and run-log lines in groups, in order. */
  #io: RunIO;
  /** The progress as last written (the run's own runs ahead of it while writes are under way). */
  #written: JobProgress;
  /** The first failed write: the run stops, keeping what was written. */
  #writeError: { error: unknown } | null = null;
  #units: UnitHost;
  #preparing: PrepareHost;

  constructor(
    deps: RunnerDeps,
    slot: EngineSlot,
    job: JobMeta,
    progress: JobProgress,
    emit: (event: RunEvent) => void,
    pause: AbortSignal
  ) {
    this.#deps = deps;
    this.#slot = slot;
    this.#job = job;
    this.#progress = progress;
    this.#written = this.#progress;
    this.#emit = emit;
    this.#pause = pause;
    this.#io = new RunIO(deps.store, job.id, deps.writeEveryMs);
    this.#units = {
      settings: job.settings,
      io: this.#io,
      sharedPrompt: sharedPromptFor(job.settings),
      now: () => deps.now(),
      emit,
      estimateTokens: (request) => deps.promptTokens(request),
      modelId: (plan) => this.#modelId(plan),
      loadedModel: () => slot.model,
      readAnswer: (request, text) => this.#answers.read(request, text),
      lostThisRun: () => this.#lostThisRun,
      stopMessage: (error) => stopMessage(error, ...this.#saved()),
      write: (part) => this.#write(part),
      commit: (results, started, alone) => this.#commit(results, started, alone),
      log: (entry) => this.#log(entry),
      deviceHeld: () => {
        this.#losses = NO_LOSSES;
      }
    };
    this.#preparing = {
      deps,
      slot,
      emit,
      usePlan: (plan) => {
        this.#plan = plan;
        this.#progress = { ...this.#progress, plan: planRecord(plan) };
        emit({ type: 'progress', progress: this.#progress });
      },
      useNeeds: (needs) => {
        this.#job = { ...this.#job, needs };
        emit({ type: 'needs', needs });
      },
      log: (entry) => this.#log(entry)
    };
    this.#flight = new Flights(this.#units, pause, () => this.#io.drained());
  }

  get #kept(): string {
    return keptSentence(savedCount(this.#progress), this.#job.total);
  }

  #saved(): [saved: number, total: number] {
    return [savedCount(this.#progress), this.#job.total];
  }

  async execute(): Promise<RunOutcome> {
    const { store, now } = this.#deps;
    try {
      // Inside the try: a disk still full when the job is resumed pauses it the same way.
      if (allHandled(this.#progress, this.#job.total)) {
        this.#progress = { ...this.#progress, state: 'completed', stopReason: null };
        await store.saveProgress(this.#job.id, this.#progress);
        return { state: 'completed', progress: this.#progress, error: null };
      }
      this.#progress = { ...this.#progress, state: 'running', stopReason: null, updatedAt: now() };
      await store.saveProgress(this.#job.id, this.#progress);
      this.#emit({ type: 'progress', progress: this.#progress });
      return await this.#loop();
    } catch (error) {
      // The one way a full disk ends a run, wherever the write was refused.
      await this.#flight.drain();
      const refused = this.#writeError?.error ?? error;
      if (!isQuotaError(refused)) throw refused;
      await this.#slot.drop();
      return this.#finish('paused', {
        code: 'quota',
        message: stopMessage({ code: 'quota', message: QUOTA_MESSAGE }, ...this.#saved())
      });
    }
  }

  async #loop(): Promise<RunOutcome> {
    while (!allHandled(this.#progress, this.#job.total)) {
      if (this.#writeError) throw this.#writeError.error;
      if (this.#pause.aborted) {
        await this.#flight.drain();
        return await this.#finish('paused', null);
      }
      if (!this.#ready) {
        const stop = await this.#prepare(this.#nextIndex());
        if (stop) return stop;
        continue;
      }
      await this.#flight.fill(this.#ready, this.#progress, this.#job.total, (index, message) =>
        this.#log({ index, kind: 'suspects', message })
      );
      if (this.#flight.size === 0) break;
      const { end, alone, busy } = await this.#flight.next();
      if (end.kind === 'ok' || end.kind === 'paused') continue;
      await this.#flight.drain();
      if (end.kind === 'stop') {
        await this.#slot.drop();
        return await this.#finish('stopped', end.error);
      }
      if (end.kind === 'wait') return await this.#waitForServer(end.error);
      const stop = await this.#afterLoss(end.error, end.indices[0] ?? 0, busy, alone);
      if (stop) return stop;
    }
    await this.#flight.drain();
    if (this.#writeError) throw this.#writeError.error;
    if (!allHandled(this.#progress, this.#job.total)) {
      throw new Error('The runner found nothing to start although the job is not finished.');
    }
    return await this.#finish('completed', null);
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

  /** Prepares the engine (plan, load, exact counts). A stop, or null. */
  async #prepare(index: number): Promise<RunOutcome | null> {
    try {
      const prepared = await prepareEngine(this.#preparing, this.#job, this.#progress);
      if ('refusal' in prepared) {
        return await this.#finish('stopped', {
          code: 'does-not-fit',
          message: `${prepared.refusal} ${this.#kept}`
        });
      }
      this.#ready = prepared.ready;
      return null;
    } catch (error) {
      if (this.#writeError || isQuotaError(error)) throw error;
      const engineError = asEngineError(error, 'load-failed');
      switch (decideFailure(engineError.code, 'load', this.#lostThisRun)) {
        case 'recover':
          return this.#recover(engineError, index, true);
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

  /**
   * Results (one unit's) and the progress they make, written together; `alone` are
   * queued to run again alone. Returns once the run's progress counts them (so nothing
   * starts them again); they are reported committed when written.
   */
  async #commit(
    results: readonly ItemResult[],
    started: number,
    alone: readonly number[] = []
  ): Promise<void> {
    const { store, now } = this.#deps;
    // A result run again overwrites the stored one: the counts take the old one off.
    const again = (index: number) =>
      this.#progress.retry.includes(index) || this.#progress.suspects.includes(index);
    const previous = new Map<number, PreviousResult>();
    for (const result of results) {
      if (again(result.index)) {
        previous.set(result.index, (await store.getResult(this.#job.id, result.index)) ?? null);
      }
    }
    let next = this.#progress;
    for (const [i, result] of results.entries()) {
      const before = previous.get(result.index) ?? null;
      next = progressAfter(next, result, before, i === 0 ? now() - started : 0, now());
      this.#io.settle(result.index);
    }
    this.#progress = queueAgain(next, alone);
    const written = this.#progress;
    // Not waited for: the engine runs the next unit while this is written (a failed
    // write stops the run through #write).
    this.#write({ results: [...results], progress: written }).then(
      () => {
        for (const result of results) this.#emit({ type: 'committed', result, progress: written });
      },
      // eslint-disable-next-line no-restricted-syntax -- #write stopped the run on this failure already
      () => undefined
    );
  }

  /** Adds a line to the run log, saving the progress with it (after the writes before it). */
  async #log(entry: Omit<RunLogEntry, 'at'>): Promise<void> {
    const full = { ...entry, at: this.#deps.now() };
    await this.#write({ log: [full], progress: this.#progress });
    this.#emit({ type: 'log', entry: full });
  }

  /**
   * Every write of the run goes through here. Resolves once written; a failed write
   * (a full disk) takes the run's progress back to what was written, stops every unit,
   * and rejects: the loop then ends the run with what was kept.
   */
  async #write(part: Parameters<RunIO['write']>[0]): Promise<void> {
    try {
      await this.#io.write(part);
      if (part.progress) this.#written = part.progress;
    } catch (error) {
      if (!this.#writeError) {
        this.#writeError = { error };
        this.#progress = this.#written;
        this.#flight.abortAll();
      }
      throw error;
    }
  }

  /**
   * A lost device while `busy` ran (`alone`: the unit that lost it had nothing beside it):
   * who is suspected now and how they run (recovery.ts), the engine restarted, and a suspect
   * that lost it alone with its attempts spent failed as poison.
   */
  async #afterLoss(
    error: EngineError,
    index: number,
    busy: readonly number[],
    alone: boolean
  ): Promise<RunOutcome | null> {
    const { retry, suspects: before } = this.#progress;
    const lost = unique(busy.filter((i) => retry.includes(i) || !isHandled(this.#progress, i)));
    const { tries } = lost.length === 1 ? await this.#io.items(lost) : { tries: null };
    const next = suspectsAfterLoss({
      lost,
      suspectsBefore: before,
      isolated: alone && before.length === 0,
      retry,
      size: this.#units.sharedPrompt?.size ?? 1,
      attempts: (i) => (tries ? attemptsInAll(tries, i) : 0)
    });
    this.#progress = { ...this.#progress, suspects: next.suspects, suspectRun: next.run };
    const stop = await this.#recover(error, index, alone, before.length > 0);
    if (stop || next.poison === null) return stop;
    await failPoison(this.#units, next.poison, this.#units.modelId(this.#plan));
    return null;
  }

  /**
   * After a lost device: drop the engine, then restart on a new device, with a
   * smaller plan when the loss looks like memory (recovery.ts decides).
   * Returns the outcome when the run must stop.
   */
  async #recover(
    error: EngineError,
    index: number,
    alone: boolean,
    suspected = false
  ): Promise<RunOutcome | null> {
    await this.#slot.drop();
    this.#ready = null;
    this.#lostThisRun = true;
    const decision = decideLoss({
      loss: error,
      index,
      window: this.#plan?.contextWindow ?? null,
      sequences: this.#plan?.sequences ?? null,
      alone,
      suspected,
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
      case 'fewer-sequences':
        this.#progress = {
          ...this.#progress,
          ...(decision.action === 'step-down'
            ? { windowCap: decision.window }
            : { sequencesCap: decision.sequences }),
          updatedAt: this.#deps.now()
        };
        await this.#log({ index, kind: 'step-down', message: decision.log });
        return null;
      case 'pause':
        await this.#log({ index, kind: 'paused', message: decision.log });
        return this.#finish('paused', decision.error);
    }
  }

  async #finish(state: RunState, error: ItemError | null): Promise<RunOutcome> {
    await this.#io.drained();
    this.#progress = { ...this.#progress, state, stopReason: error, updatedAt: this.#deps.now() };
    // With a full disk even this write may fail: the last commit stands, and the page is told.
    // eslint-disable-next-line no-restricted-syntax -- a full disk: the last commit stands, and the outcome tells the page
    await this.#deps.store.saveProgress(this.#job.id, this.#progress).catch(() => undefined);
    this.#emit({ type: 'progress', progress: this.#progress });
    return { state, progress: this.#progress, error };
  }
}
