/**
 * How a row's next token is picked, as WebLLM 0.2.79's `LLMChatPipeline.sampleTokenFromLogits`
 * picks it (lib/index.js): the grammar's mask (WebLLM masks on the GPU with float32's lowest
 * value; here on the CPU copy, with the same value, so the numbers are the same), then the
 * penalties of the model's chat config (presence and frequency when both are set, else
 * repetition), then top-p with the sequence's own random stream. The model's sampler does the
 * last two (WebLLM's runtime: webllm-model.ts; the simulated model: its own).
 */
import type { SamplingDefaults } from './model';

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
  defaults: SamplingDefaults
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

/** A request's temperature and top-p, the model's where it sets none; a RangeError when out of range. */
export function samplingOf(
  settings: { temperature?: number; topP?: number },
  defaults: SamplingDefaults
): { temperature: number; topP: number } {
  const temperature = settings.temperature ?? defaults.temperature;
  const topP = settings.topP ?? defaults.top_p;
  if (topP <= 0 || topP > 1) throw new RangeError('top_p must be in (0, 1].');
  if (temperature < 0) throw new RangeError('temperature must be at least 0.');
  return { temperature, topP };
}
