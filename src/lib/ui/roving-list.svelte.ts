/**
 * Keyboard use of a long virtualized list (a job's results, the results
 * viewer): the list is one Tab stop, the arrow keys, Page Up/Down, Home and
 * End move between rows, Enter or Space activates the row (it is a button).
 * With 100,000 rows, a Tab stop per row would make the list a trap.
 */
import { tick } from 'svelte';
import type { VListHandle } from 'virtua/svelte';

/** Rows moved by Page Up / Page Down: about one screen of the list. */
const PAGE_ROWS = 12;
/** A row the list has just mounted stays hidden until measured: how many frames to wait. */
const MAX_FOCUS_FRAMES = 10;

export class RovingList {
  /** The row that holds the list's one Tab stop. */
  active = $state(0);
  /** The virtualizer (bind:this) and the element around the rows (bind:this). */
  list = $state<VListHandle | undefined>();
  box = $state<HTMLElement | undefined>();
  #count: () => number;

  constructor(count: () => number) {
    this.#count = count;
  }

  /** The `tabindex` of row `index`. */
  tabindex(index: number): 0 | -1 {
    return index === this.active ? 0 : -1;
  }

  async focusRow(index: number): Promise<void> {
    this.active = index;
    this.list?.scrollToIndex(index, { align: 'nearest' });
    for (let frame = 0; frame < MAX_FOCUS_FRAMES && this.active === index; frame++) {
      await tick();
      const row = this.box?.querySelector<HTMLElement>(`[data-row="${index}"]`);
      row?.focus();
      if (row && document.activeElement === row) return;
      await new Promise((resolve) => requestAnimationFrame(resolve));
    }
  }

  onkeydown = (event: KeyboardEvent): void => {
    const last = this.#count() - 1;
    const moves: Record<string, number> = {
      ArrowDown: this.active + 1,
      ArrowUp: this.active - 1,
      PageDown: this.active + PAGE_ROWS,
      PageUp: this.active - PAGE_ROWS,
      Home: 0,
      End: last
    };
    const next = moves[event.key];
    if (next === undefined || last < 0) return;
    event.preventDefault();
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- focusing a row only waits for it to be drawn; it cannot fail
    void this.focusRow(Math.max(0, Math.min(last, next)));
  };
}
