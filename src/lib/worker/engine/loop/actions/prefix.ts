/**
 * Prefix: a sequence whose prompt begins with the kept prefix (the tokens every prompt of the
 * job begins with, taken from the first prompt) forks from it instead of reading it, as mlc-llm's
 * prefix cache and vLLM's automatic prefix caching do. The prefix is read once,
 * a chunk a step, into a KV sequence of its own when the first such sequence is admitted, and
 * stays until the model is disposed (the job's end, a cancel, a lost device: the next load reads
 * it again). A sequence still reads at least its prompt's last token, whose logits it samples.
 */
import type { Sequence } from '../sequence';
import type { LoopState } from '../state';

/** Whether `sequence`'s prompt begins with the kept prefix and goes on after it. */
function sharesPrefix(state: LoopState, sequence: Sequence): boolean {
  const { prefix } = state;
  if (!prefix) return false;
  const ids = sequence.request.promptIds;
  if (ids.length <= prefix.ids.length) return false;
  return prefix.ids.every((id, i) => ids[i] === id);
}

/** Forks the sequence's slot from the read prefix: its prompt's first tokens are there. */
function fork(state: LoopState, sequence: Sequence): void {
  const { prefix, model } = state;
  if (!prefix || !model.sharing) return;
  model.sharing.fork(prefix.slot, sequence.slot, sequence.request);
  sequence.opened = true;
  sequence.awaitingPrefix = false;
  sequence.cursor = prefix.ids.length;
  sequence.cachedTokens = prefix.ids.length;
}

/**
 * Opens an admitted sequence's slot: from the kept prefix where it begins with it, else empty.
 * The prefix is taken from the first prompt longer than it.
 */
export function openSlot(state: LoopState, sequence: Sequence): void {
  const { promptIds } = sequence.request;
  if (!state.prefix && state.prefixTokens > 0 && promptIds.length > state.prefixTokens) {
    const ids = promptIds.slice(0, state.prefixTokens);
    state.prefix = { ids, slot: state.model.slots, cursor: 0 };
  }
  const { prefix } = state;
  if (!prefix || !sharesPrefix(state, sequence)) {
    state.model.addSequence(sequence.slot, sequence.request);
    sequence.opened = true;
  } else if (prefix.cursor >= prefix.ids.length) fork(state, sequence);
  else sequence.awaitingPrefix = true;
}

/**
 * Reads one chunk of the kept prefix while a live sequence waits for it, and after the last
 * forks every sequence waiting; the prefix tokens it read (0 when none waits).
 */
export async function readPrefix(state: LoopState): Promise<number> {
  const { prefix, model } = state;
  if (!prefix || !model.sharing || !state.live.some((s) => s.awaitingPrefix && !s.over)) return 0;
  if (prefix.cursor === 0) model.sharing.addPrefix(prefix.slot);
  const ids = prefix.ids.slice(prefix.cursor, prefix.cursor + model.prefillChunk);
  await model.prefill(prefix.slot, ids, false);
  prefix.cursor += ids.length;
  if (prefix.cursor >= prefix.ids.length) {
    for (const sequence of state.live) {
      if (sequence.awaitingPrefix && !sequence.over) fork(state, sequence);
    }
  }
  return ids.length;
}
