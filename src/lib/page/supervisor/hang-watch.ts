/**
 * Watches a run for a hung engine: when the engine last showed life (any event of the
 * run), how slow it has streamed and prefilled so far, and from that (isHung in
 * rules.ts) whether the item it works on hung. The clock is given, so it runs in unit
 * tests; the supervisor asks it every second and replaces the worker when it says so.
 */
import type { RunEvent } from '$lib/worker/runner';
import { isHung } from './rules';

/** The item the engine hung at, and how long it had gone without a token. */
export interface Hang {
  index: number;
  waitedMs: number;
}

export class HangWatch {
  #lastActivity = 0;
  #lastTextAt = 0;
  #maxGapMs = 0;
  #prefillTokensPerSecond: number | null = null;
  #hang: Hang | null = null;

  constructor(private readonly clock: () => number) {}

  /** A run starts in a worker: its time without a token counts from now. */
  begin(): void {
    this.#lastActivity = this.clock();
  }

  /** An event of the run: the engine is alive, and streams or prefills at this pace. */
  saw(event: RunEvent): void {
    const now = this.clock();
    this.#lastActivity = now;
    if (event.type === 'item') {
      this.#lastTextAt = 0;
    } else if (event.type === 'text') {
      if (this.#lastTextAt) this.#maxGapMs = Math.max(this.#maxGapMs, now - this.#lastTextAt);
      this.#lastTextAt = now;
    } else if (event.type === 'committed') {
      const prefill = event.result.usage?.prefill_tokens_per_s;
      if (prefill) this.#prefillTokensPerSecond = prefill;
    }
  }

  /**
   * Whether the engine hung at `item` (of `promptTokens` prompt tokens). A hang is
   * told once: it is kept, and nothing more is told, until `takeHang` reads it.
   */
  check(item: { index: number; promptTokens: number }): Hang | null {
    if (this.#hang) return null;
    const now = this.clock();
    const activity = {
      promptTokens: item.promptTokens,
      prefillTokensPerSecond: this.#prefillTokensPerSecond,
      maxGapMs: this.#maxGapMs
    };
    if (!isHung(now, this.#lastActivity, activity)) return null;
    this.#hang = { index: item.index, waitedMs: now - this.#lastActivity };
    return this.#hang;
  }

  /** The hang that cost the run its worker (null: the worker crashed), forgotten as it is read. */
  takeHang(): Hang | null {
    const hang = this.#hang;
    this.#hang = null;
    return hang;
  }
}
