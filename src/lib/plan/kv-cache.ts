/**
 * The KV cache as the step loop makes it on WebLLM's runtime (TVM's paged attention cache):
 * one cache, a whole window for each of its slots, in pages of 16 tokens, and one page more,
 * which the runtime adds (measured on the real runtime: a 1,024-token window of Qwen2.5-0.5B
 * got 65 pages a layer, a 4,096-token one 257). The plan counts it; the loop asks for it. Pure.
 */

/** Tokens a KV page holds. */
export const KV_PAGE_TOKENS = 16;

/** Tokens the loop asks the cache to hold: a whole window for each of `sequences` slots. */
export function kvCapacity(window: number, sequences: number): number {
  return sequences * Math.ceil(window / KV_PAGE_TOKENS) * KV_PAGE_TOKENS;
}

/** Tokens the cache's pages hold on the device: the capacity and the spare page. */
export function kvTokens(window: number, sequences: number): number {
  return kvCapacity(window, sequences) + KV_PAGE_TOKENS;
}

/** Context windows are whole multiples of this (also WebLLM's prefill chunk). */
export const WINDOW_STEP = 1024;

export function roundUpToWindow(tokens: number): number {
  return Math.max(WINDOW_STEP, Math.ceil(tokens / WINDOW_STEP) * WINDOW_STEP);
}

export function roundDownToWindow(tokens: number): number {
  return Math.floor(tokens / WINDOW_STEP) * WINDOW_STEP;
}
