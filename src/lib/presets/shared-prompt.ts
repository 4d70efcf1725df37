/**
 * Several items in one prompt: a preset that asks about several items at once (the
 * scoring preset's K pairs per prompt) builds their request, names the unit, and
 * splits the one answer back into each item's own. The runner knows only this
 * interface; `score-pairs.ts` implements it.
 */
import type { ParsedAnswer } from '$lib/shared/answer';
import type { ParsedItem, Usage } from '$lib/shared/job';
import type { GenerateRequest } from '$lib/shared/request';

export type PromptItem = Pick<ParsedItem, 'customId' | 'messages' | 'params' | 'pair'>;

/** One item's part of a shared answer, as its result keeps it. */
interface ItemAnswer {
  text: string;
  answer: ParsedAnswer;
}

export interface SharedPrompt {
  /** Items a prompt holds at most. */
  readonly size: number;
  /** The request that asks about all of `items` at once. */
  request(items: readonly PromptItem[]): GenerateRequest;
  /** The unit as the run log and the page name it ("the batch of pairs 17 to 24"). */
  name(items: readonly Pick<PromptItem, 'customId'>[]): string;
  /**
   * Each item's answer by custom_id, from the unit's answer read against its schema.
   * An item the answer leaves out (or answers badly) is missing: it runs again alone.
   */
  split(answer: ParsedAnswer, ids: readonly string[]): Map<string, ItemAnswer>;
  /** The run-log line for a unit whose items all run again alone, and why. */
  runAlone(items: readonly Pick<PromptItem, 'customId'>[], why: string): string;
  /** The run-log line for `missing` items the answer left out of the unit. */
  leftOut(items: readonly Pick<PromptItem, 'customId'>[], missing: number): string;
}

/** A unit's usage shared out over its `n` results (the remainder to the first), so totals add up. */
export function shareUsage(usage: Usage, n: number): Usage[] {
  const part = (total: number, i: number) => Math.floor(total / n) + (i === 0 ? total % n : 0);
  const cached = usage.prompt_tokens_details?.cached_tokens;
  return Array.from({ length: n }, (_, i) => ({
    ...usage,
    prompt_tokens: part(usage.prompt_tokens, i),
    completion_tokens: part(usage.completion_tokens, i),
    total_tokens: part(usage.prompt_tokens, i) + part(usage.completion_tokens, i),
    ...(cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: part(cached, i) } })
  }));
}
