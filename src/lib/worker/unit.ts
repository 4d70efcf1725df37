/**
 * One unit of work, start to commit: an item alone, or several items that share one
 * prompt (a preset's `SharedPrompt`, such as K pairs per scoring prompt). The steps are
 * the same for both: read the inputs, commit the skipped ones, check the prompt fits,
 * count an attempt (an item out of attempts is poison), stream the answer, read it
 * against its schema, commit the results. Where a lone item fails (a prompt too long,
 * no attempts left, its own error), items sharing a prompt are queued to run alone.
 */
import type { ItemInput, ItemResult, ItemTries, JobMeta, RunLogEntry } from '$lib/shared/job';
import type { PlannedMemory } from '$lib/plan/types';
import { answerReader, type ParsedAnswer } from '$lib/shared/answer';
import type { GenerateRequest } from '$lib/shared/request';
import type { ItemError } from '$lib/shared/stop';
import type { AttemptScope } from '$lib/store/jobs';
import { requestFor, skipReason } from '$lib/presets';
import { shareUsage, type SharedPrompt } from '$lib/presets/shared-prompt';
import { asEngineError, type EngineError } from './engine/errors';
import type { Engine, GenerateResult } from './engine/types';
import { decideFailure, MAX_ATTEMPTS, poisonError } from './recovery';
import type { RunIO } from './run-io';
import type { RunEvent } from './run-types';

/** How a unit ended: the run's loop decides what follows. */
export type UnitEnd =
  | { kind: 'ok' }
  | { kind: 'paused' }
  /** The device was lost while these ran. */
  | { kind: 'loss'; indices: number[]; error: EngineError }
  /** Stop the run with this error (everything committed is kept). */
  | { kind: 'stop'; indices: number[]; error: ItemError }
  /** The server does not answer: the run pauses until it does. */
  | { kind: 'wait'; indices: number[]; error: EngineError };

const OK: UnitEnd = { kind: 'ok' };

/** A unit's items, and whether they share one prompt. */
export interface Unit {
  indices: number[];
  shared: boolean;
}

/** A loaded engine and the memory plan it was loaded with (none for a server). */
export interface Ready {
  engine: Engine;
  plan: PlannedMemory | null;
}

/** Where a unit's attempts are counted. */
interface TryKey {
  index: number;
  scope: AttemptScope;
}

/** What a unit needs from the run it belongs to. */
export interface UnitHost {
  readonly settings: JobMeta['settings'];
  readonly io: RunIO;
  readonly sharedPrompt: SharedPrompt | null;
  now(): number;
  emit(event: RunEvent): void;
  /** Estimated prompt tokens, where the engine has no tokenizer. */
  estimateTokens(request: GenerateRequest): number;
  /** The model a result names when the engine gave none. */
  modelId(plan: PlannedMemory | null): string;
  /** The model the loaded engine reports, or null. */
  loadedModel(): string | null;
  /** The answer read against the request's schema (none without one). */
  readAnswer(request: GenerateRequest, text: string): ParsedAnswer | undefined;
  /** The device was lost earlier in this run. */
  lostThisRun(): boolean;
  /** The message a run stopped by `error` ends with (what was kept, what to do). */
  stopMessage(error: ItemError): string;
  /** Writes with the run's other writes; rejects when the disk refused it. */
  write(part: Parameters<RunIO['write']>[0]): Promise<void>;
  /** Commits results with the progress they make; `alone` are queued to run again alone. */
  commit(results: readonly ItemResult[], started: number, alone?: readonly number[]): Promise<void>;
  log(entry: Omit<RunLogEntry, 'at'>): Promise<void>;
  /** A generation ended without losing the device: losses counted at one item start again. */
  deviceHeld(): void;
}

/** How often streamed text is sent to the page, at most. */
const TEXT_FLUSH_MS = 50;

/**
 * Runs one unit and commits it. `alone`: nothing else runs beside it, so its attempts
 * count towards poison (together, only their number is kept).
 */
export async function runUnit(
  host: UnitHost,
  unit: Unit,
  { engine, plan }: Ready,
  signal: AbortSignal,
  alone: boolean
): Promise<UnitEnd> {
  const { settings } = host;
  const { inputs, tries } = await host.io.items(unit.indices);
  const started = host.now();
  const model = host.modelId(plan);
  const skipped: ItemResult[] = [];
  const sent: ItemInput[] = [];
  for (const input of inputs) {
    const skip = skipReason(settings, input);
    if (skip === null) sent.push(input);
    else
      skipped.push(
        bareResult(host, input, { status: 'skipped', model, attempts: 0, skipReason: skip })
      );
  }
  const first = sent[0];
  if (!first) {
    await host.commit(skipped, started);
    return OK;
  }
  const shared = unit.shared ? host.sharedPrompt : null;
  const name = shared ? shared.name(sent) : first.customId;
  // The unit's events, log lines and attempts go by its first item.
  const at = unit.indices[0] ?? first.index;

  /** The unit cannot run as it is: a lone item fails with `error`; shared items run alone. */
  const giveUp = async (
    error: ItemError,
    attempts: number,
    why: string,
    failedModel = model
  ): Promise<UnitEnd> => {
    if (!shared) {
      const failed = bareResult(host, first, {
        status: 'failed',
        error,
        model: failedModel,
        attempts
      });
      await host.commit([failed], started);
      return OK;
    }
    await host.commit(
      skipped,
      started,
      sent.map((input) => input.index)
    );
    await host.log({ index: at, kind: 'split', message: shared.runAlone(sent, why) });
    return OK;
  };

  const request = shared ? shared.request(sent) : requestFor(settings, [first]);
  const tokenizer = engine.tokenizer();
  const needed = tokenizer ? tokenizer(request).length : host.estimateTokens(request);
  if (plan && needed > plan.maxPromptTokens) {
    // Never sent: a prompt longer than the window would crash the engine.
    return giveUp(
      {
        code: 'context-exceeded',
        message: `The prompt needs ${tokenizer ? '' : 'about '}${needed} tokens, but the plan's context of ${plan.contextWindow} tokens leaves ${plan.maxPromptTokens} for the prompt after the answer.`
      },
      0,
      `needs ${needed} prompt tokens, more than the plan's ${plan.maxPromptTokens}`
    );
  }

  // A shared prompt's attempts are counted at its first item; together, only their number is kept.
  const key: TryKey = {
    index: at,
    scope: shared ? 'batch' : alone ? 'item' : 'shared'
  };
  const before = tries(key.index, key.scope);
  if ((shared || alone) && before.count >= MAX_ATTEMPTS) {
    const error = poisonError(before.lastError);
    const end = await giveUp(error, before.count, `did not finish in ${before.count} attempts`);
    if (!shared) {
      await host.log({
        index: at,
        kind: 'poison',
        message: `item ${first.index + 1} failed after ${before.count} attempts (${error.code}); moving on`
      });
    }
    return end;
  }

  // Counted as it starts, in the next write: the engine does not wait for the disk.
  const attempt = host.io.attempt(key.index, key.scope, before).count;
  host.emit({ type: 'item', index: at, customId: name, attempt });
  const stream = new TextStream((text) => host.emit({ type: 'text', index: at, text }));
  let output: GenerateResult;
  try {
    output = await engine.generate(request, (delta) => stream.add(delta), signal, {
      index: at,
      attempt,
      onRetry: (retry) => host.emit({ type: 'retry', index: at, ...retry })
    });
  } catch (error) {
    const failure = await afterFailure(host, error, unit.indices, key, tries(key.index, key.scope));
    if ('end' in failure) return failure.end;
    const { code, message } = failure.itemError;
    const end = await giveUp(
      { code, message },
      attempt,
      `failed (${message})`,
      host.loadedModel() ?? model
    );
    if (shared) return end;
    // The item's own fault: the device held.
    host.deviceHeld();
    await host.io.backpressure();
    return end;
  } finally {
    stream.close();
  }

  const answer = host.readAnswer(request, output.text);
  const answered = (input: ItemInput, own: Partial<ItemResult>, usage = output.usage) => ({
    index: input.index,
    customId: input.customId,
    status: 'done' as const,
    text: output.text,
    finishReason: output.finishReason,
    usage,
    error: null,
    model: output.model,
    finishedAt: host.now(),
    attempts: attempt,
    ...own
  });
  if (!shared) {
    await host.commit([answered(first, answer ? { answer } : {})], started);
  } else {
    const parts = shared.split(
      answer ?? { ok: false, reason: '' },
      sent.map((input) => input.customId)
    );
    const scored = sent.filter((input) => parts.has(input.customId));
    const usage = shareUsage(output.usage, scored.length);
    const results = scored.map((input, i) => answered(input, parts.get(input.customId)!, usage[i]));
    const missing = sent.filter((input) => !parts.has(input.customId)).map((input) => input.index);
    await host.commit(
      [...skipped, ...results].sort((a, b) => a.index - b.index),
      started,
      missing
    );
    if (missing.length) {
      await host.log({ index: at, kind: 'split', message: shared.leftOut(sent, missing.length) });
    }
  }
  host.deviceHeld();
  await host.io.backpressure();
  return OK;
}

/** An item's attempts in all: alone, and beside others. */
export function attemptsInAll(
  tries: (index: number, scope: AttemptScope) => ItemTries,
  index: number
): number {
  return tries(index, 'item').count + tries(index, 'shared').count;
}

/**
 * Fails a suspect that lost the device alone with its attempts spent (recovery.ts
 * suspectsAfterLoss): committed as failed, with how its last attempt ended.
 */
export async function failPoison(host: UnitHost, index: number, model: string): Promise<void> {
  const { inputs, tries } = await host.io.items([index]);
  const attempts = attemptsInAll(tries, index);
  const error = poisonError(
    tries(index, 'item').lastError ?? tries(index, 'shared').lastError,
    attempts
  );
  await host.commit(
    [bareResult(host, inputs[0]!, { status: 'failed', error, model, attempts })],
    host.now()
  );
  await host.log({
    index,
    kind: 'poison',
    message: `item ${index + 1} failed after ${attempts} attempts, the last alone (${error.code}); moving on`
  });
}

/**
 * What a failed generation means for its unit (its attempts counted at `key`): how
 * the unit ends, or the error that is the unit's own fault.
 */
async function afterFailure(
  host: UnitHost,
  error: unknown,
  indices: readonly number[],
  key: TryKey,
  tries: ItemTries
): Promise<{ end: UnitEnd } | { itemError: EngineError }> {
  const engineError = asEngineError(error, 'generation-failed');
  const unit = [...indices];
  switch (decideFailure(engineError.code, 'generate', host.lostThisRun())) {
    case 'pause':
      return { end: { kind: 'paused' } };
    case 'recover':
      // Why the attempt ended is on disk before the engine restarts (poison counts it).
      await host.write({ tries: [host.io.failed(key.index, key.scope, engineError, tries)] });
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
          error: { code: engineError.code, message: host.stopMessage(engineError) }
        }
      };
  }
}

/** A result with no answer text: failed or skipped. */
function bareResult(
  host: Pick<UnitHost, 'now'>,
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
    finishedAt: host.now(),
    ...fields
  };
}

/** Answer readers, compiled once per schema. */
export class AnswerReaders {
  #readers = new Map<string, (text: string) => ParsedAnswer>();

  read(request: GenerateRequest, text: string): ParsedAnswer | undefined {
    if (!request.schema) return undefined;
    const key = JSON.stringify(request.schema);
    let read = this.#readers.get(key);
    if (!read) {
      read = answerReader(request.schema);
      this.#readers.set(key, read);
    }
    return read(text);
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
