/**
 * Prefill: one chunk of the prompt of the oldest live sequence still reading it (chunks of the
 * model's prefill chunk from the prompt's start, the job's shared prefix a chunk of its own:
 * prefix.ts; so a prompt's chunks never depend on what else runs, as WebLLM chunks it), and,
 * after its last chunk, its first token.
 */
import type { LoopState } from '../state';
import { chunkEnd } from './prefix';
import { sample } from './sample';

/** Reads one chunk; the prompt tokens it read (0 when no sequence is reading). */
export async function prefill(state: LoopState): Promise<number> {
  const sequence = state.live.find((s) => !s.over && s.reading);
  if (!sequence) return 0;
  const { promptIds } = sequence.request;
  const ids = promptIds.slice(sequence.cursor, chunkEnd(state, sequence));
  const last = sequence.cursor + ids.length >= promptIds.length;
  const logits = await state.model.prefill(sequence.slot, ids, last);
  sequence.cursor += ids.length;
  if (last && logits) await sample(state, [sequence], logits);
  return ids.length;
}
