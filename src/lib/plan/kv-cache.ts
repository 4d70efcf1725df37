/**
 * The KV cache as the step loop makes it on WebLLM's runtime (TVM's paged attention cache):
 * one cache, a whole window for each of its slots, in pages of 16 tokens, and one page more,
 * which the runtime adds (measured on the real runtime: a 1,024-token window of Qwen2.5-0.5B
 * got 65 pages a layer, a 4,096-token one 257). The plan counts it; the loop asks for it. Pure.
 */

/** Tokens a KV page holds. */
export const KV_PAGE_TOKENS = 16;

/**
 * Tokens the loop asks the cache to hold: a whole window for each of `sequences` slots, and the
 * pages of a kept prefix (`prefixTokens`, shared by the sequences that fork from it).
 */
export function kvCapacity(window: number, sequences: number, prefixTokens = 0): number {
  const pages = (tokens: number) => Math.ceil(tokens / KV_PAGE_TOKENS) * KV_PAGE_TOKENS;
  return sequences * pages(window) + pages(prefixTokens);
}

/** Tokens the cache's pages hold on the device: the capacity and the spare page. */
export function kvTokens(window: number, sequences: number, prefixTokens = 0): number {
  return kvCapacity(window, sequences, prefixTokens) + KV_PAGE_TOKENS;
}

/**
 * The prefix worth keeping for prompts (their token ids): the tokens they all begin with, in
 * whole KV pages (a fork then shares pages and copies none), leaving each prompt at least one
 * token of its own to read (its logits give the first answer token). 0 when that is no page,
 * or there is one prompt only.
 */
export function sharedPrefixTokens(prompts: Iterable<readonly number[]>): number {
  let common = Infinity;
  let first: readonly number[] | null = null;
  let count = 0;
  for (const ids of prompts) {
    count++;
    if (first === null) {
      first = ids;
      common = ids.length - 1;
      continue;
    }
    let same = 0;
    const most = Math.min(common, ids.length - 1);
    while (same < most && ids[same] === first[same]) same++;
    common = same;
    if (common < KV_PAGE_TOKENS) return 0;
  }
  // One prompt shares with nothing.
  if (count < 2 || !(common >= KV_PAGE_TOKENS)) return 0;
  return Math.floor(common / KV_PAGE_TOKENS) * KV_PAGE_TOKENS;
}

/** Context windows are whole multiples of this (also WebLLM's prefill chunk). */
export const WINDOW_STEP = 1024;

export function roundUpToWindow(tokens: number): number {
  return Math.max(WINDOW_STEP, Math.ceil(tokens / WINDOW_STEP) * WINDOW_STEP);
}

export function roundDownToWindow(tokens: number): number {
  return Math.floor(tokens / WINDOW_STEP) * WINDOW_STEP;
}
