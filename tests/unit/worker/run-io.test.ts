import { describe, expect, it } from 'vitest';
import { RunIO, type RunIOStore } from '$lib/worker/run-io';
import type { RunWrite } from '$lib/store/jobs';
import type { ItemResult } from '$lib/shared/job';

function result(index: number, attempts: number): ItemResult {
  return {
    index,
    customId: `q-${index}`,
    status: 'done',
    text: 'ok',
    finishReason: 'stop',
    usage: null,
    error: null,
    model: 'm',
    finishedAt: 0,
    attempts
  };
}

/** A store that records every transaction it was asked to write. */
function recording(): RunIOStore & { writes: RunWrite[]; hold: () => () => void } {
  let gate: Promise<void> | null = null;
  const writes: RunWrite[] = [];
  return {
    writes,
    async readAhead() {
      return { inputs: [], tries: [] };
    },
    async writeRun(_: string, write: RunWrite) {
      if (gate) await gate;
      writes.push(structuredClone(write));
    },
    /** Holds the transactions until the returned function is called. */
    hold() {
      let release!: () => void;
      gate = new Promise((resolve) => (release = resolve));
      return () => {
        gate = null;
        release();
      };
    }
  };
}

describe('RunIO', () => {
  it('writes no try for an attempt whose result joins the same group; the result records it', async () => {
    const store = recording();
    const io = new RunIO(store, 'job', 0);
    const none = { count: 0, lastError: null };
    io.attempt(0, 'item', none);
    io.attempt(1, 'shared', none);
    io.attempt(2, 'batch', none);
    await io.write({ results: [result(0, 1), result(2, 1)] });
    await io.drained();
    expect(store.writes).toHaveLength(1);
    expect(store.writes[0]!.results.map((r) => [r.index, r.attempts])).toEqual([
      [0, 1],
      [2, 1]
    ]);
    // Item 1 has no result yet: its attempt is written.
    expect(store.writes[0]!.tries).toEqual([
      { index: 1, scope: 'shared', tries: { count: 1, lastError: null } }
    ]);
  });

  it('writes the try of an attempt begun while an earlier group was under way, and a later attempt after a result', async () => {
    const store = recording();
    const io = new RunIO(store, 'job', 0);
    const none = { count: 0, lastError: null };
    const release = store.hold();
    io.attempt(0, 'item', none);
    // The first group is under way (held): item 0's try is in it, its result in the next.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const first = io.write({ results: [result(0, 1)] });
    // An attempt after the result in the same group (a retry) is kept.
    io.attempt(0, 'item', { count: 1, lastError: null });
    release();
    await first;
    await io.drained();
    expect(store.writes.map((w) => w.tries.map((t) => [t.index, t.tries.count]))).toEqual([
      [[0, 1]],
      [[0, 2]]
    ]);
    expect(store.writes.map((w) => w.results.map((r) => r.index))).toEqual([[], [0]]);
  });
});
