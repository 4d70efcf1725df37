/**
 * The units a run has in flight, and which to start next: after a loss its suspects, a group
 * at a time with nothing beside it (recovery.ts: all together, then by halves); else queued
 * items alone in their prompt, then fresh items from the cursor on, several to a prompt where
 * the job's items share one. The run (run.ts) decides what an ending means.
 */
import type { JobProgress } from '$lib/shared/job';
import { nextUnhandled } from '$lib/shared/progress';
import { suspectGroup, suspectGroupLog } from './recovery';
import { runUnit, type Ready, type Unit, type UnitEnd, type UnitHost } from './unit';

/** A unit in flight: its items, whether it runs alone, its own stop, and how it ends. */
interface Flight {
  indices: number[];
  alone: boolean;
  controller: AbortController;
  end: Promise<{ id: number; end: UnitEnd }>;
}

/** A unit that ended, whether it ran alone, and every item in flight as it ended. */
export interface Ended {
  end: UnitEnd;
  alone: boolean;
  busy: number[];
}

export class Flights {
  #flight = new Map<number, Flight>();
  #ids = 0;

  /** `pause` stops every unit; `drained` waits for the run's writes. */
  constructor(
    private readonly host: UnitHost,
    private readonly pause: AbortSignal,
    private readonly drained: () => Promise<void>
  ) {}

  get size(): number {
    return this.#flight.size;
  }

  /** Items running now (alone, or sharing a prompt). */
  busy(): Set<number> {
    const busy = new Set<number>();
    for (const unit of this.#flight.values()) for (const index of unit.indices) busy.add(index);
    return busy;
  }

  /**
   * Starts units until the engine's limit. A suspect group starts only when nothing runs,
   * after its run-log line (`log`).
   */
  async fill(
    ready: Ready,
    progress: JobProgress,
    total: number,
    log: (index: number, message: string) => Promise<void>
  ): Promise<void> {
    const { suspects, suspectRun, retry } = progress;
    const limit = Math.max(1, ready.engine.concurrency);
    const size = this.host.sharedPrompt?.size ?? 1;
    if (suspects.length) {
      if (this.#flight.size > 0) return;
      const group = suspectGroup(suspects, suspectRun, retry, size, limit);
      await log(group[0]!.indices[0]!, suspectGroupLog(group, suspects.length, suspectRun));
      for (const unit of group) this.#start(unit, ready, group.length === 1);
      return;
    }
    while (this.#flight.size < limit) {
      const unit = nextUnit(progress, total, size, this.busy());
      if (!unit) return;
      this.#start(unit, ready, limit === 1);
    }
  }

  /** The next unit to end, taken out of the flight (so a loss sees every unit that ran with it). */
  async next(): Promise<Ended> {
    const { id, end } = await Promise.race([...this.#flight.values()].map((unit) => unit.end));
    const alone = this.#flight.get(id)?.alone ?? true;
    const busy = [...this.busy()];
    this.#flight.delete(id);
    return { end, alone, busy };
  }

  /** Stops every unit in flight (their partial text is not kept) and waits for them and the writes. */
  async drain(): Promise<void> {
    const running = [...this.#flight.values()];
    for (const unit of running) unit.controller.abort();
    await Promise.allSettled(running.map((unit) => unit.end));
    this.#flight.clear();
    await this.drained();
  }

  /** Stops every unit in flight, without waiting (a failed write). */
  abortAll(): void {
    for (const unit of this.#flight.values()) unit.controller.abort();
  }

  #start(unit: Unit, ready: Ready, alone: boolean): void {
    const controller = new AbortController();
    const signal = AbortSignal.any([this.pause, controller.signal]);
    const id = this.#ids++;
    const end = runUnit(this.host, unit, ready, signal, alone).then((unitEnd) => ({
      id,
      end: unitEnd
    }));
    this.#flight.set(id, { indices: unit.indices, alone, controller, end });
  }
}

/**
 * The next unit to start outside a search for suspects, or null: a queued item alone in its
 * prompt; else fresh items, `size` to a prompt.
 */
function nextUnit(
  progress: JobProgress,
  total: number,
  size: number,
  busy: Set<number>
): Unit | null {
  const queued = progress.retry.find((index) => !busy.has(index));
  if (queued !== undefined) return { indices: [queued], shared: false };
  const indices: number[] = [];
  let from = progress.cursor;
  while (indices.length < size) {
    const index = nextUnhandled(progress, total, from, busy);
    if (index === null) break;
    indices.push(index);
    busy.add(index);
    from = index + 1;
  }
  return indices.length ? { indices, shared: size > 1 } : null;
}
