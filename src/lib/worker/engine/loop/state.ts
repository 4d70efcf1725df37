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
  /** Tokens every prompt of the job begins with, to keep and share (0: none). */
  readonly prefixTokens: number;
  /** The kept prefix, once taken from the first prompt longer than it (actions/prefix.ts). */
  prefix: KeptPrefix | null;
}

/** A kept prefix: its tokens, its own KV slot, and how much of it is read. */
interface KeptPrefix {
  readonly ids: readonly number[];
  readonly slot: number;
  /** Tokens read into its slot so far; it is opened with its first chunk. */
  cursor: number;
}

/** `prefixTokens`: tokens every prompt begins with, read once and shared where the model can. */
export function loopState(model: StepModel, window: number, prefixTokens = 0): LoopState {
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
    prefixTokens: model.sharing ? prefixTokens : 0,
    prefix: null
  };
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
  void model.lost.then((info) => (state.lost = info));
  return state;
}
