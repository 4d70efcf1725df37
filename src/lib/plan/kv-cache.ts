/**
 * The KV cache as the step loop makes it on WebLLM's runtime (TVM's paged attention cache):
 * one cache, a whole window for each of its slots, in pages of 16 tokens, and one page more,
 * which the runtime adds (measured on the real runtime: a 1,024-token window of Qwen2.5-0.5B
 * got 65 pages a layer, a 4,096-token one 257). The plan counts it; the loop asks for it. Pure.
 */
import { formatCount } from '$lib/shared/figures';

/** Tokens a KV page holds. */
export const KV_PAGE_TOKENS = 16;

/**
 * Tokens the loop asks the cache to hold: a whole window for each of `sequences` slots (a kept
 * prefix is held in a slot, within its window).
 */
export function kvCapacity(window: number, sequences: number): number {
  return sequences * Math.ceil(window / KV_PAGE_TOKENS) * KV_PAGE_TOKENS;
}

/** Tokens the cache's pages hold on the device: the capacity and the spare page. */
export function kvTokens(window: number, sequences: number): number {
  return kvCapacity(window, sequences) + KV_PAGE_TOKENS;
}

/**
 * The prefix worth keeping for prompts (their token ids, added one by one): the tokens they
 * all begin with, in whole KV pages (a slot trimmed back to it keeps whole pages), leaving each
 * prompt at least one token of its own to read (its logits give the first answer token). 0
 * when that is no page, or there is one prompt only.
 */
export class SharedPrefix {
  #first: readonly number[] | null = null;
  #common = 0;
  #count = 0;

  add(ids: readonly number[]): void {
    this.#count++;
    const first = this.#first;
    if (first === null) {
      this.#first = ids.slice(0, -1);
      this.#common = ids.length - 1;
      return;
    }
    let same = 0;
    const most = Math.min(this.#common, ids.length - 1);
    while (same < most && ids[same] === first[same]) same++;
    this.#common = same;
  }

  get tokens(): number {
    // One prompt shares with nothing.
    if (this.#count < 2) return 0;
    return Math.floor(this.#common / KV_PAGE_TOKENS) * KV_PAGE_TOKENS;
  }
}

/**
 * What the plan and the run log say of the prefix a job's prompts share; null when they share
 * none. Kept, it lives in each sequence's slot, within the slot's window: no memory more.
 */
export function prefixWords(tokens: number, share: boolean): string | null {
  if (tokens === 0) return null;
  const pages = `${formatCount(tokens)} tokens (${formatCount(tokens / KV_PAGE_TOKENS)} KV pages)`;
  return share
    ? `Every prompt begins with the same ${pages}: each sequence's KV slot keeps them, so they are read once a slot, not once a prompt (within the slot's window: no memory more)`
    : `Every prompt begins with the same ${pages}: read with every prompt (prefix sharing is off for this job)`;
}

/** SharedPrefix over `prompts`. */
export function sharedPrefixTokens(prompts: Iterable<readonly number[]>): number {
  const shared = new SharedPrefix();
  for (const ids of prompts) shared.add(ids);
  return shared.tokens;
}

/** Context windows are whole multiples of this (also WebLLM's prefill chunk). */
export const WINDOW_STEP = 1024;

export function roundUpToWindow(tokens: number): number {
  return Math.max(WINDOW_STEP, Math.ceil(tokens / WINDOW_STEP) * WINDOW_STEP);
}

export function roundDownToWindow(tokens: number): number {
  return Math.floor(tokens / WINDOW_STEP) * WINDOW_STEP;
}
