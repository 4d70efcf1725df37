// Fakes the supervisor's unit tests share: a clock moved by hand and a tab's sessionStorage.
import type { Cancel, PageClock } from '$lib/page/supervisor/page-clock';
import type { TabStorage } from '$lib/page/supervisor/reload-guard';

/** An animation frame comes this long after it is asked for (when the tab is visible). */
export const FRAME_MS = 16;

interface Timer {
  at: number;
  every: number | null;
  run: () => void;
}

/** Lets every promise already started run to its end (the fakes answer without I/O or timers). */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A PageClock that moves only when told: `advance` runs each timer and frame that falls due
 * on the way, at its own time and in order, and lets the promises it starts settle.
 */
export class FakeClock implements PageClock {
  #now: number;
  #timers: Timer[] = [];
  /** A hidden tab: animation frames never come. */
  hidden = false;

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now = (): number => this.#now;

  after(ms: number, run: () => void): Cancel {
    return this.#add({ at: this.#now + ms, every: null, run });
  }

  every(ms: number, run: () => void): Cancel {
    return this.#add({ at: this.#now + ms, every: ms, run });
  }

  nextFrame(run: () => void): Cancel {
    if (this.hidden) return () => undefined;
    return this.#add({ at: this.#now + FRAME_MS, every: null, run });
  }

  /** Timers and frames still waiting. */
  get waiting(): number {
    return this.#timers.length;
  }

  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    for (;;) {
      // The earliest due; of two at the same time, the one set first (as browsers do).
      const next = this.#timers.reduce<Timer | null>(
        (first, timer) => (timer.at <= end && (!first || timer.at < first.at) ? timer : first),
        null
      );
      if (!next) break;
      this.#now = next.at;
      if (next.every) next.at += next.every;
      else this.#timers = this.#timers.filter((timer) => timer !== next);
      next.run();
      await settle();
    }
    this.#now = end;
  }

  #add(timer: Timer): Cancel {
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((other) => other !== timer);
    };
  }
}

export class MemoryStorage implements TabStorage {
  readonly items = new Map<string, string>();
  getItem(key: string) {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string) {
    this.items.set(key, value);
  }
  removeItem(key: string) {
    this.items.delete(key);
  }
}
