/**
 * Retire: sequences that finished, failed or were cancelled leave their slots (and KV pages,
 * but a kept prefix's: prefix.ts) at once for the next, and settle with their answer or their error.
 */
import type { LoopState } from '../state';
import { closeSlot } from './prefix';

export function retire(state: LoopState): void {
  for (let i = state.live.length - 1; i >= 0; i--) {
    const sequence = state.live[i];
    if (!sequence?.over) continue;
    state.live.splice(i, 1);
    try {
      if (sequence.opened) closeSlot(state, sequence);
    } finally {
      // Out of `live`, it settles even when its slot could not be closed (the step then fails
      // every other sequence).
      state.freeSlots.push(sequence.slot);
      state.freeSlots.sort((a, b) => a - b);
      sequence.end();
    }
  }
}
