import { describe, expect, it } from 'vitest';
import { HangWatch } from '$lib/page/supervisor/hang-watch';
import { HANG_FLOOR_MS, SLOWEST_PREFILL_TOKENS_PER_S } from '$lib/page/supervisor/rules';
import type { ItemResult, JobProgress } from '$lib/shared/job';
import { initialProgress } from '$lib/store/jobs';
import type { RunEvent } from '$lib/worker/runner';

/** A watch over a run whose job measured its prefill at `prefill` tokens/s (null: not yet). */
function watch(prefill: number | null = 1000) {
  const clock = { now: 1_000_000 };
  const hangs = new HangWatch(() => clock.now);
  hangs.begin();
  if (prefill) hangs.saw(committed(prefill));
  return { clock, hangs, start: clock.now };
}

const item = { index: 4, promptTokens: 100 };
const text: RunEvent = { type: 'text', index: 4, text: 'a' };

function committed(prefillTokensPerSecond: number): RunEvent {
  const result: ItemResult = {
    index: 3,
    customId: 'q-4',
    status: 'done',
    text: 'answer',
    finishReason: 'stop',
    usage: {
      prompt_tokens: 10,
      completion_tokens: 5,
      total_tokens: 15,
      prefill_tokens_per_s: prefillTokensPerSecond
    },
    error: null,
    model: 'm',
    finishedAt: 1,
    attempts: 1
  };
  const progress: JobProgress = { ...initialProgress(0), cursor: 4, done: 4 };
  return { type: 'committed', result, progress };
}

describe('HangWatch', () => {
  it('tells a hang once, HANG_FLOOR_MS after the run began, until it is taken', () => {
    const { clock, hangs, start } = watch();
    clock.now = start + HANG_FLOOR_MS - 1;
    expect(hangs.check(item)).toBe(null);
    clock.now = start + HANG_FLOOR_MS;
    expect(hangs.check(item)).toEqual({ index: 4, waitedMs: HANG_FLOOR_MS });
    clock.now += 5000;
    expect(hangs.check(item)).toBe(null);
    expect(hangs.takeHang()).toEqual({ index: 4, waitedMs: HANG_FLOOR_MS });
    expect(hangs.takeHang()).toBe(null);
    // A new run in a new worker counts from its start.
    hangs.begin();
    clock.now += HANG_FLOOR_MS - 1;
    expect(hangs.check(item)).toBe(null);
  });

  it('counts any event of the run as life', () => {
    const { clock, hangs, start } = watch();
    for (const event of [
      text,
      { type: 'progress', progress: initialProgress(0) },
      {
        type: 'load',
        progress: {
          phase: 'download',
          text: 'loading',
          fraction: 0.5,
          loadedMB: 10,
          totalMB: 20,
          mbPerSecond: 5,
          etaSeconds: 2
        }
      }
    ] satisfies RunEvent[]) {
      clock.now += HANG_FLOOR_MS - 1;
      hangs.saw(event);
    }
    clock.now += HANG_FLOOR_MS - 1;
    expect(hangs.check(item)).toBe(null);
    clock.now += 1;
    expect(hangs.check(item)).toEqual({ index: 4, waitedMs: HANG_FLOOR_MS });
    expect(clock.now - start).toBe(4 * HANG_FLOOR_MS - 3);
  });

  it('waits ten times the slowest gap between two pieces of text', () => {
    const { clock, hangs } = watch();
    hangs.saw(text);
    clock.now += 4000;
    hangs.saw(text);
    clock.now += 40_000 - 1;
    expect(hangs.check(item)).toBe(null);
    clock.now += 1;
    expect(hangs.check(item)).toEqual({ index: 4, waitedMs: 40_000 });
  });

  it('does not count the time between two items as a gap', () => {
    const { clock, hangs } = watch();
    hangs.saw(text);
    clock.now += 10_000;
    hangs.saw({ type: 'item', index: 5, customId: 'q-6', attempt: 1 });
    clock.now += 100;
    hangs.saw({ ...text, index: 5 });
    clock.now += HANG_FLOOR_MS;
    expect(hangs.check({ index: 5, promptTokens: 100 })).toEqual({
      index: 5,
      waitedMs: HANG_FLOOR_MS
    });
  });

  it('before the job measured its prefill: three times the prompt at the slowest speed measured', () => {
    const { clock, hangs, start } = watch(null);
    const limit = (100 / SLOWEST_PREFILL_TOKENS_PER_S) * 3 * 1000;
    expect(limit).toBe(750_000);
    clock.now = start + limit - 1;
    expect(hangs.check(item)).toBe(null);
    clock.now = start + limit;
    expect(hangs.check(item)).toEqual({ index: 4, waitedMs: limit });
  });

  it("waits three times the expected prefill of the item's prompt, at the measured speed", () => {
    const { clock, hangs } = watch();
    const long = { index: 4, promptTokens: 30_000 };
    clock.now += 90_000 - 1;
    expect(hangs.check(long)).toBe(null);
    // A short prompt at the same speed: the floor.
    expect(hangs.check({ index: 4, promptTokens: 100 })).toEqual({
      index: 4,
      waitedMs: 90_000 - 1
    });
    hangs.takeHang();
    clock.now += 1;
    expect(hangs.check(long)).toEqual({ index: 4, waitedMs: 90_000 });
  });
});
