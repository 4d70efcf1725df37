/**
 * The runner's recovery rules, as pure decisions: what a failure means for the
 * run (pause, recover on a new device, fail the item, stop), what a lost device
 * means for the plan (same plan, a smaller window, or pause at the smallest),
 * and when an item is poison. The runner does the I/O; these say what to do.
 */
import type { JobProgress } from '$lib/shared/job';
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
 * sequences stay (a memory loss still halves them: the cache holds a window for each);
 * `suspected`: suspects were running, and a crash they repeat changes no plan (the search
 * among them finds its cause).
 * `kept` is the "what was kept" sentence for the pause message.
 */
export function decideLoss(input: {
  loss: Loss;
  index: number;
  window: number | null;
  sequences?: number | null;
  alone?: boolean;
  /** Suspects were running (suspectsAfterLoss): a crash repeated there is theirs to explain. */
  suspected?: boolean;
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
  // A crash repeated at one item; among suspects the search explains it, not a smaller plan.
  const repeated = losses.count >= 2 && input.suspected !== true;
  // Repeated by a batch (not alone): the batch's size.
  if (sequences > 1 && (memory || (repeated && input.alone !== true))) {
    // Each sequence holds a window of KV cache: fewer of them free the most, and keep every item's room.
    const fewer = Math.max(1, Math.floor(sequences / 2));
    return {
      action: 'fewer-sequences',
      sequences: fewer,
      losses,
      log: `${at}; sequences at once ${sequences} → ${fewer}`
    };
  }
  const smaller = window !== null && (memory || repeated) ? stepDown(window) : null;
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
export function poisonError(lastError: ItemError | null, attempts = MAX_ATTEMPTS): ItemError {
  const last = lastError ?? {
    code: 'interrupted',
    message: 'The page or the engine stopped while this item was being generated.'
  };
  return {
    code: last.code,
    message: `${attempts} attempts did not finish this item; the last one ended with: ${last.message}`
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

/** The suspects as the units they ran in, in order (suspectUnit, one after the other). */
function suspectUnits(
  suspects: readonly number[],
  retry: readonly number[],
  size: number
): { indices: number[]; shared: boolean }[] {
  const units: { indices: number[]; shared: boolean }[] = [];
  let rest = [...suspects];
  while (rest.length) {
    const unit = suspectUnit(rest, retry, size);
    units.push(unit);
    rest = rest.filter((index) => !unit.indices.includes(index));
  }
  return units;
}

/**
 * How the suspects of a loss run next, with nothing beside them: all of them together once (a
 * loss that was no item's fault, such as a crash or a sleep, costs one batch), then, once they
 * have failed together, by halves: the half that fails again is halved again and the rest go
 * back to the batch; a half that finishes clears itself and the other half is halved in turn.
 * A poison item among N costs about log2(N) runs.
 */
export type SuspectRun = JobProgress['suspectRun'];

/**
 * The suspect units to start now, when nothing runs: all of them (`together`) or the first half,
 * rounded up (`half`), at most `limit` (the sequences the engine runs at once) and at least one.
 */
export function suspectGroup(
  suspects: readonly number[],
  run: SuspectRun,
  retry: readonly number[],
  size: number,
  limit: number
): { indices: number[]; shared: boolean }[] {
  const units = suspectUnits(suspects, retry, size);
  const wanted = run === 'together' ? units.length : Math.ceil(units.length / 2);
  return units.slice(0, Math.max(1, Math.min(wanted, limit)));
}

/**
 * Who is suspected after a device loss, and how they run next. `lost`: the items that were in
 * flight and are not finished, as they ran. `suspectsBefore`: the suspects when it struck (none:
 * the batch was running). `isolated`: the batch was one sequence at a time, where an item
 * repeats its loss alone and is failed by its attempts (unit.ts), so nobody is a suspect.
 * `attempts(index)`: an item's attempts in all, together and alone.
 *
 * - The batch lost: every item of it is a suspect, and they run again together.
 * - Suspects lost: the culprit is among those in flight; the others go back to the batch, and
 *   the lost ones are halved.
 * - A lone item lost while suspected (it failed with nothing beside it) is `poison` once its
 *   attempts reach MAX_ATTEMPTS: it failed in every run it was in, the last alone. Until then
 *   it runs alone again.
 */
export function suspectsAfterLoss(input: {
  lost: readonly number[];
  suspectsBefore: readonly number[];
  isolated: boolean;
  retry: readonly number[];
  size: number;
  attempts: (index: number) => number;
}): { suspects: number[]; run: SuspectRun; poison: number | null } {
  const { lost, suspectsBefore, isolated } = input;
  if (lost.length === 0 || (isolated && suspectsBefore.length === 0)) {
    return { suspects: [], run: 'together', poison: null };
  }
  if (suspectsBefore.length === 0) return { suspects: [...lost], run: 'together', poison: null };
  const units = suspectUnits(lost, input.retry, input.size);
  const lone = units.length === 1 && units[0]!.indices.length === 1 ? lost[0]! : null;
  const poison = lone !== null && input.attempts(lone) >= MAX_ATTEMPTS ? lone : null;
  return { suspects: [...lost], run: 'half', poison };
}

/** The run-log line of a suspect group's start: which items, and why nothing runs beside them. */
export function suspectGroupLog(
  group: readonly { indices: number[] }[],
  suspects: number,
  run: SuspectRun
): string {
  const items = group.flatMap((unit) => unit.indices);
  const one = items.length === 1;
  const names = `${one ? 'item' : 'items'} ${itemList(items)}`;
  if (run === 'together') {
    return `${names} ${one ? 'runs' : 'run'} again with nothing beside ${one ? 'it' : 'them'}: the device was lost while ${one ? 'it' : 'they'} ran`;
  }
  return `${names} (${items.length} of ${suspects} suspects) ${one ? 'runs alone' : 'run with nothing beside them'}, to find the item that loses the device`;
}

/** 1-based item numbers, runs as ranges: "1–4, 9 and 12". */
export function itemList(items: readonly number[]): string {
  const parts: string[] = [];
  const sorted = [...items].sort((a, b) => a - b);
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j > i + 1 ? `${sorted[i]! + 1}–${sorted[j]! + 1}` : String(sorted[i]! + 1));
    if (j === i + 1) parts.push(String(sorted[j]! + 1));
    i = j + 1;
  }
  return parts.length === 1 ? parts[0]! : `${parts.slice(0, -1).join(', ')} and ${parts.at(-1)!}`;
}
