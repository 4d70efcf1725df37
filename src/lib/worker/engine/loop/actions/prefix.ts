/**
 * Prefix: the tokens every prompt of the job begins with (the job's shared prefix, taken from
 * the first prompt longer than it). A prompt that begins with it reads it as a chunk of its own,
 * shared or not, so sharing changes what is read, never how: the answers are those of an
 * unshared run token for token (on WebLLM's runtime a prompt's logits depend on its chunks).
 *
 * Shared, as mlc-llm's prefix cache recycles a finished sequence: when a sequence that read the
 * prefix leaves its slot, the slot keeps its KV sequence, trimmed back to the prefix
 * (`kv_state_popn`), and the next prompt that begins with it reads only the rest. A slot's
 * sequence stays one chain of pages, so its attention is computed as an unshared one's; a fork
 * (pages shared between sequences) is read by a two-level attention whose rounding changes
 * answers (measured on the real runtime). So the prefix is read once per slot in a run, and again
 * in the next run (each run sets the prefix afresh: setPrefix) and after a load (a lost device,
 * a new plan).
 */
import type { Sequence } from '../sequence';
import type { LoopState } from '../state';

/** The prefix when `sequence`'s prompt begins with it and goes on after it, else null. */
function prefixOf(state: LoopState, sequence: Sequence): readonly number[] | null {
  const { promptIds } = sequence.request;
  if (!state.prefix && state.prefixTokens > 0 && promptIds.length > state.prefixTokens)
    state.prefix = promptIds.slice(0, state.prefixTokens);
  const { prefix } = state;
  if (!prefix || promptIds.length <= prefix.length) return null;
  return prefix.every((id, i) => promptIds[i] === id) ? prefix : null;
}

/**
 * Sets the prefix for the sequences admitted after: its tokens (0: none; taken from the first
 * prompt longer than it), and whether slots keep it. Slots that keep one are freed (the engine
 * stays loaded between jobs, whose prefixes differ).
 */
export function setPrefix(state: LoopState, tokens: number, share: boolean): void {
  const keep = share && state.model.sharing !== undefined;
  for (const slot of state.kept) state.model.removeSequence(slot);
  state.kept.clear();
  state.prefix = null;
  state.prefixTokens = tokens;
  state.keepPrefix = keep;
}

/**
 * Takes a free slot for an admitted sequence: one that holds the prefix when its prompt begins
 * with it, else one that holds nothing, so kept prefixes stay for those that use them; failing
 * that, the lowest free slot (a kept prefix there is freed when the slot opens).
 */
export function takeSlot(state: LoopState, sequence: Sequence): void {
  sequence.prefix = prefixOf(state, sequence);
  sequence.prefixTokens = sequence.prefix?.length ?? 0;
  const wanted = sequence.prefixTokens > 0;
  const { freeSlots, kept } = state;
  const at = freeSlots.findIndex((slot) => kept.has(slot) === wanted);
  const [slot] = freeSlots.splice(Math.max(at, 0), 1);
  if (slot === undefined) throw new Error('No KV slot is free.');
  sequence.slot = slot;
}

/** Opens the sequence's slot: on the kept prefix where it holds it and the prompt begins with it. */
export function openSlot(state: LoopState, sequence: Sequence): void {
  const { model, kept } = state;
  const { slot } = sequence;
  if (kept.delete(slot)) {
    if (sequence.prefixTokens > 0 && model.sharing) {
      model.sharing.reuse(slot, sequence.request);
      sequence.opened = true;
      sequence.cursor = sequence.cachedTokens = sequence.prefixTokens;
      return;
    }
    model.removeSequence(slot);
  }
  model.addSequence(slot, sequence.request);
  sequence.opened = true;
}

/**
 * Closes a leaving sequence's slot: where it holds the whole prefix and sharing is on, trimmed
 * back to it and kept for the next prompt that begins with it; else freed.
 */
export function closeSlot(state: LoopState, sequence: Sequence): void {
  const { model } = state;
  const held = sequence.cursor + sequence.fedBack;
  const keeps =
    state.keepPrefix &&
    sequence.prefix !== null &&
    sequence.prefix === state.prefix &&
    sequence.cursor >= sequence.prefixTokens;
  if (keeps && model.sharing) {
    const extra = held - sequence.prefixTokens;
    if (extra > 0) model.sharing.trim(sequence.slot, extra);
    state.kept.add(sequence.slot);
  } else model.removeSequence(sequence.slot);
}

/** Where the sequence's next chunk ends: the prefix is a chunk of its own. */
export function chunkEnd(state: LoopState, sequence: Sequence): number {
  const end = sequence.cursor + state.model.prefillChunk;
  const { prefixTokens } = sequence;
  return sequence.cursor < prefixTokens ? Math.min(end, prefixTokens) : end;
}
