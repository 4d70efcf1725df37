/**
 * The runner's recovery rules, as pure decisions: what a failure means for the
 * run (pause, recover on a new device, fail the item, stop), what a lost device
 * means for the plan (same plan, a smaller window, or pause at the smallest),
 * and when an item is poison. The runner does the I/O; these say what to do.
 */
import type { EngineErrorCode, ItemError } from '$lib/shared/stop';
import { isDeviceLoss, isItemError } from '$lib/shared/stop';

/** An item is failed with its last error once this many attempts have not finished it. */
export const MAX_ATTEMPTS = 3;

export type FailureAction =
  /** Pause was pressed: stop, keeping everything committed. */
  | 'pause'
  /** The GPU device was lost: restart on a new device (see decideLoss). */
  | 'recover'
  /** The item's own fault: commit it as failed and go on. */
  | 'fail-item'
  /** Chrome stopped giving this page a GPU after a crash: the page must reload. */
  | 'gpu-blocked'
  /** The server does not answer: pause, and resume when it does. */
  | 'wait'
  /** Anything else: stop the run with everything kept. */
  | 'stop';

/**
 * What a failure while loading the engine or generating an item means for the run.
 * `lostThisRun`: the device was lost earlier in this run (so "no WebGPU" now is
 * Chrome's block after GPU crashes, which only a reload lifts).
 */
export function decideFailure(
  code: EngineErrorCode,
  phase: 'load' | 'generate',
  lostThisRun: boolean
): FailureAction {
  if (isDeviceLoss(code)) return 'recover';
  if (code === 'server-down') return 'wait';
  if (phase === 'load') return code === 'no-webgpu' && lostThisRun ? 'gpu-blocked' : 'stop';
  if (code === 'cancelled') return 'pause';
  return isItemError(code) ? 'fail-item' : 'stop';
}

/** Losses since the last commit, and the item they happened at. */
export interface Losses {
  index: number;
  count: number;
}

export const NO_LOSSES: Losses = { index: -1, count: 0 };

export interface Loss {
  code: EngineErrorCode;
  /** GPUDeviceLostInfo.reason where known. */
  lostReason: string | null;
  message: string;
}

export type LossDecision = { losses: Losses; log: string } & (
  | { action: 'restart' }
  | { action: 'step-down'; window: number }
  | { action: 'fewer-sequences'; sequences: number }
  | { action: 'pause'; error: ItemError }
);

/**
 * A loss that says "memory": an allocation failed, or the runtime gave the
 * device up (TVM destroys it on an allocation error). A crash ("unknown")
 * says less; only when it repeats at the same item is a smaller plan tried.
 */
function isMemoryLoss(loss: Pick<Loss, 'code' | 'lostReason'>): boolean {
  return loss.code === 'out-of-memory' || loss.lostReason === 'destroyed';
}

/**
 * After a lost device at item `index`: the same plan on a new device (a crash),
 * a smaller plan (memory, or the same item lost it twice): first half the sequences
 * at once, then a smaller context window, or a pause when no smaller window is left.
 * `window` is the plan's context and `sequences` its sequences at once (null before
 * any plan); `alone` says the item ran with nothing beside it: a crash it repeats alone is
 * its own (a poison item, failed when its attempts run out), not the batch's, so the
 * sequences stay (a memory loss still halves them: the cache holds a window for each).
 * `kept` is the "what was kept" sentence for the pause message.
 */
export function decideLoss(input: {
  loss: Loss;
  index: number;
  window: number | null;
  sequences?: number | null;
  alone?: boolean;
  losses: Losses;
  stepDown: (window: number) => number | null;
  kept: string;
}): LossDecision {
  const { loss, index, window, stepDown, kept } = input;
  const losses =
    input.losses.index === index ? { index, count: input.losses.count + 1 } : { index, count: 1 };
  const what =
    loss.code === 'out-of-memory'
      ? 'out of GPU memory'
      : `device lost (${loss.lostReason ?? 'unknown'})`;
  const memory = isMemoryLoss(loss);
  const at = `${what} at item ${index + 1}`;
  const sequences = input.sequences ?? 1;
  if (sequences > 1 && (memory || (losses.count >= 2 && input.alone !== true))) {
    // Each sequence holds a window of KV cache: fewer of them free the most, and keep every item's room.
    const fewer = Math.max(1, Math.floor(sequences / 2));
    return {
      action: 'fewer-sequences',
      sequences: fewer,
      losses,
      log: `${at}; sequences at once ${sequences} → ${fewer}`
    };
  }
  const smaller = window !== null && (memory || losses.count >= 2) ? stepDown(window) : null;
  if (smaller === null && !memory) {
    // A crash (not a memory error): same plan on a new device; the item's attempts are counted.
    return { action: 'restart', losses, log: `${at}; engine restarted on a new device` };
  }
  const current = window ?? 0;
  if (smaller === null) {
    return {
      action: 'pause',
      losses,
      log: `${at} with the smallest plan (context ${current}); paused`,
      error: {
        code: loss.code,
        message: `${loss.message} This happened at item ${index + 1} with the smallest plan (a context of ${current} tokens). ${kept} Choose a smaller model, close other tabs and programs that use the GPU, then press Resume.`
      }
    };
  }
  return {
    action: 'step-down',
    window: smaller,
    losses,
    log: `${at}; context ${current} → ${smaller}`
  };
}

/** The error a poison item is failed with: its attempts ran out, and how the last one ended. */
export function poisonError(lastError: ItemError | null): ItemError {
  const last = lastError ?? {
    code: 'interrupted',
    message: 'The page or the engine stopped while this item was being generated.'
  };
  return {
    code: last.code,
    message: `${MAX_ATTEMPTS} attempts did not finish this item; the last one ended with: ${last.message}`
  };
}

/**
 * The unit the first suspect runs again in, with nothing beside it, after a loss: an item that
 * was queued to run alone (retry) alone; any other in the prompt it ran in, with the suspects
 * that shared it (they are listed unit by unit, as they ran: at most `size` to a prompt), so a
 * shared prompt runs again as it ran and its items are committed together.
 */
export function suspectUnit(
  suspects: readonly number[],
  retry: readonly number[],
  size: number
): { indices: number[]; shared: boolean } {
  const indices: number[] = [];
  for (const index of suspects) {
    if (indices.length === size || retry.includes(index)) break;
    if (indices.length > 0 && index < indices.at(-1)!) break;
    indices.push(index);
  }
  if (indices.length === 0) return { indices: [suspects[0]!], shared: false };
  return { indices, shared: size > 1 };
}
