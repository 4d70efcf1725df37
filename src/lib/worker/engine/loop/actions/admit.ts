/**
 * Admit: waiting sequences take free KV slots, in the order they asked, each with its own
 * random stream (seeded with its request's seed, as WebLLM seeds its one stream per request)
 * and its grammar's matcher; its slot opens empty, or holding the kept prefix (prefix.ts). A seed the generator refuses or
 * a schema that does not compile fails that sequence alone.
 */
import { translateEngineError } from '../../errors';
import type { LoopState } from '../state';
import { openSlot, takeSlot } from './prefix';

export async function admit(state: LoopState): Promise<void> {
  const { model } = state;
  while (state.waiting.length > 0 && state.freeSlots.length > 0) {
    const sequence = state.waiting.shift();
    if (!sequence || sequence.status === 'settled') continue;
    try {
      const rng = model.sampler.newRng();
      rng.setSeed(sequence.request.seed);
      sequence.rng = rng;
      const { schema } = sequence.request;
      if (schema !== undefined) sequence.matcher = await model.grammars.matcher(schema);
    } catch (error) {
      sequence.end(translateEngineError(error, { phase: 'generate', model: model.name }));
      continue;
    }
    if (sequence.cancelled) {
      sequence.end();
      continue;
    }
    takeSlot(state, sequence);
    sequence.status = 'live';
    state.live.push(sequence);
    openSlot(state, sequence);
  }
}
