/**
 * What the step loop's actions share: the model, the window, and the sequences waiting for a
 * slot and live in one. Each action (actions/) is a function over this state.
 */
import type { StepModel } from './model';
import type { AnswerRules, Sequence } from './sequence';

export interface LoopState {
  readonly model: StepModel;
  /** What a sequence's answer follows: the model's stops and the window. */
  readonly rules: AnswerRules;
  /** In the order they asked. */
  readonly waiting: Sequence[];
  /** In the order they were admitted. */
  readonly live: Sequence[];
  /** KV slots no sequence holds, lowest first. */
  readonly freeSlots: number[];
  /** The device's loss, once `model.lost` says so. */
  lost: { reason: string; message: string } | null;
  /** Tokens every prompt of the job begins with, read as a chunk of their own (0: none). */
  prefixTokens: number;
  /** The prefix's tokens, once taken from the first prompt longer than it (actions/prefix.ts). */
  prefix: readonly number[] | null;
  /** Whether a slot keeps the prefix for the next prompt (sharing on, and the model can). */
  keepPrefix: boolean;
  /** Free slots whose KV sequence holds the prefix, and nothing after it. */
  readonly kept: Set<number>;
}

/**
 * `prefixTokens`: tokens every prompt begins with, read as a chunk of their own and, where
 * `share` and the model can, kept in each slot for the next prompt (actions/prefix.ts).
 */
export function loopState(
  model: StepModel,
  window: number,
  prefixTokens = 0,
  share = true
): LoopState {
  const state: LoopState = {
    model,
    rules: {
      stopTokens: model.stopTokens,
      stopStrings: model.stopStrings,
      window,
      detokenize: (ids) => model.detokenize(ids)
    },
    waiting: [],
    live: [],
    freeSlots: Array.from({ length: model.slots }, (_, i) => i),
    lost: null,
    prefixTokens,
    prefix: null,
    keepPrefix: share && model.sharing !== undefined,
    kept: new Set()
  };
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
  void model.lost.then((info) => (state.lost = info));
  return state;
}
