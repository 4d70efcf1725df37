/**
 * One row's next token, as WebLLM 0.2.79's `LLMChatPipeline.sampleTokenFromLogits` picks
 * it (lib/index.js): the grammar's mask (WebLLM masks on the GPU with float32's lowest
 * value; here on the CPU copy, with the same value, so the numbers are the same), then the
 * penalties from the model's chat config (presence and frequency when both are set, else
 * repetition), then top-p sampling with the sequence's own random stream (greedy below a
 * temperature of 1e-6). Each sequence has its own stream, seeded with its request's seed
 * as WebLLM seeds its one stream per request, so seeded answers do not depend on the batch.
 */
import type { Rng, Tvm, TvmArray } from './runtime';

export interface SamplingSettings {
  temperature?: number;
  topP?: number;
}

interface Defaults {
  temperature: number;
  top_p: number;
  repetition_penalty: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

export interface RowInput {
  settings: SamplingSettings;
  defaults: Defaults;
  /** xgrammar's bitmask for the row: bit t of word t/32 set when token t may come next. */
  mask: Int32Array | null;
  appeared: Map<number, number>;
  rng: Rng;
}

/** float32's lowest value, what `apply_bitmask_inplace` writes. */
const MASKED = -3.4028234663852886e38;

/** Sets every token the mask forbids to the lowest float32 (in place). */
export function applyMask(logits: Float32Array, mask: Int32Array): void {
  for (let t = 0; t < logits.length; t++) {
    if (((mask[t >> 5] ?? 0) >>> (t & 31)) & 1) continue;
    logits[t] = MASKED;
  }
}

function has(value: number | undefined | null): value is number {
  return value !== undefined && value !== null;
}

/** The penalty WebLLM applies for these settings, or null. */
export function penaltyOf(
  defaults: Defaults
):
  | { kind: 'presence-frequency'; presence: number; frequency: number }
  | { kind: 'repetition'; value: number }
  | null {
  let presence = defaults.presence_penalty;
  let frequency = defaults.frequency_penalty;
  if (has(frequency) && !has(presence)) presence = 0;
  if (has(presence) && !has(frequency)) frequency = 0;
  if (has(presence) && has(frequency)) return { kind: 'presence-frequency', presence, frequency };
  if (defaults.repetition_penalty !== 1)
    return { kind: 'repetition', value: defaults.repetition_penalty };
  return null;
}

/** Samples a token from `logits` (this row's copy); `row` is a [1, 1, vocabulary] CPU array. */
export function sampleRow(tvm: Tvm, row: TvmArray, logits: Float32Array, input: RowInput): number {
  const temperature = input.settings.temperature ?? input.defaults.temperature;
  const topP = input.settings.topP ?? input.defaults.top_p;
  if (topP <= 0 || topP > 1) throw new RangeError('top_p must be in (0, 1].');
  if (temperature < 0) throw new RangeError('temperature must be at least 0.');
  const values = input.mask ? Float32Array.from(logits) : logits;
  if (input.mask) applyMask(values, input.mask);
  row.copyFrom(values);
  const penalty = penaltyOf(input.defaults);
  if (penalty) {
    tvm.beginScope();
    try {
      const tokens = [...input.appeared.keys()];
      const ids = tvm.empty([1, tokens.length], 'int32', tvm.cpu()).copyFrom(tokens);
      if (penalty.kind === 'presence-frequency') {
        const freqs = tvm
          .empty([1, tokens.length], 'int32', tvm.cpu())
          .copyFrom([...input.appeared.values()]);
        tvm.applyPresenceAndFrequencyPenalty(row, ids, freqs, penalty.presence, penalty.frequency);
      } else {
        tvm.applyRepetitionPenalty(row, ids, penalty.value);
      }
    } finally {
      tvm.endScope();
    }
  }
  return tvm.ctx.sampleTopPFromLogits(row, temperature, topP, input.rng.randomFloat());
}
