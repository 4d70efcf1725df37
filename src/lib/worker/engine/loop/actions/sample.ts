/**
 * Sample: a token for each row of `logits` (read back, row after row), each with its own
 * settings, grammar and random stream; the token is the sequence's, and its text streams. A
 * row's own failure (its settings, its grammar) fails that sequence alone.
 */
import { translateEngineError } from '../../errors';
import { applyMask, samplingOf } from '../sampling';
import type { Sequence } from '../sequence';
import type { LoopState } from '../state';

export async function sample(
  state: LoopState,
  rows: readonly Sequence[],
  logits: Float32Array
): Promise<void> {
  const { model } = state;
  const vocab = model.vocabSize;
  const masks = await Promise.all(
    rows.map((s) => (s.matcher && !s.over ? s.matcher.getNextTokenBitmask() : null))
  );
  rows.forEach((sequence, r) => {
    if (sequence.over) return;
    try {
      const mask = masks[r] ?? null;
      let row = logits.subarray(r * vocab, (r + 1) * vocab);
      if (mask) {
        row = Float32Array.from(row);
        applyMask(row, mask);
      }
      const token = model.sampler.sample(row, {
        ...samplingOf(sequence.request, model.defaults),
        defaults: model.defaults,
        appeared: sequence.appeared,
        rng: sequence.rng as NonNullable<Sequence['rng']>
      });
      if (sequence.matcher && !sequence.matcher.acceptToken(token))
        throw new Error('Grammar matcher rejected the newly sampled token.');
      const delta = sequence.accept(token, state.rules);
      if (delta) sequence.request.onText(delta);
    } catch (error) {
      sequence.failure = translateEngineError(error, { phase: 'generate', model: model.name });
    }
  });
}
