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
  /** The kept prefix, where the loop shares one (actions/prefix.ts). */
  readonly prefix: KeptPrefix | null;
}

/** A kept prefix: its tokens, its own KV slot, and how much of it is read. */
interface KeptPrefix {
  readonly ids: readonly number[];
  readonly slot: number;
  /** Tokens read into its slot so far; it is opened with its first chunk. */
  cursor: number;
}

/**
 * `prefix`: tokens many of the loop's prompts begin with, read once and shared (where the model
 * can share; whole pages of the KV cache, so a shorter tail than a page is read again by each).
 */
export function loopState(
  model: StepModel,
  window: number,
  prefix: readonly number[] = []
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
    prefix:
      model.sharing && prefix.length > 0 ? { ids: prefix, slot: model.slots, cursor: 0 } : null
  };
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
  void model.lost.then((info) => (state.lost = info));
  return state;
}
