/**
 * Decode: one forward pass for every live sequence with a token to feed back (a sequence
 * whose prompt was read in this step included), then a token for each.
 */
import type { LoopState } from '../state';
import { sample } from './sample';

/** Decodes one token for each row; the rows it decoded. */
export async function decode(state: LoopState): Promise<number> {
  const rows = state.live.filter((s) => s.decoding);
  if (rows.length === 0) return 0;
  const logits = await state.model.decode(rows.map((s) => ({ slot: s.slot, token: s.lastToken })));
  for (const row of rows) row.fedBack++;
  await sample(state, rows, logits);
  return rows.length;
}
