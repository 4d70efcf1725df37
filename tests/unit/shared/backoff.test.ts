import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backoffMs, retryAfterMs, sleep, type Backoff } from '$lib/shared/backoff';

const EXACT: Backoff = { firstMs: 5_000, maxMs: 60_000, jitter: 0 };
const HALF: Backoff = { firstMs: 500, maxMs: 20_000, jitter: 0.5, maxRetryAfterMs: 60_000 };

describe('the backoff schedule', () => {
  it('doubles from the first wait up to the ceiling', () => {
    const waits = Array.from({ length: 7 }, (_, retry) => backoffMs(EXACT, retry));
    expect(waits).toEqual([5_000, 10_000, 20_000, 40_000, 60_000, 60_000, 60_000]);
    // Far retries stay at the ceiling (2 ** retry grows past any number).
    expect(backoffMs(EXACT, 5_000)).toBe(60_000);
  });

  it('with a fixed random, gives the same waits every time', () => {
    const waits = (random: () => number) =>
      Array.from({ length: 8 }, (_, retry) => backoffMs(HALF, retry, { random }));
    expect(waits(() => 0.5)).toEqual([375, 750, 1500, 3000, 6000, 12000, 15000, 15000]);
    expect(waits(() => 0)).toEqual([250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(waits(() => 1)).toEqual([500, 1000, 2000, 4000, 8000, 16000, 20000, 20000]);
  });

  it('keeps each wait between the fixed share and the whole of it', () => {
    for (const jitter of [0, 0.25, 0.5, 1]) {
      const backoff = { ...HALF, jitter };
      for (let retry = 0; retry < 10; retry++) {
        const ceiling = Math.min(backoff.maxMs, backoff.firstMs * 2 ** retry);
        for (let i = 0; i < 20; i++) {
          const wait = backoffMs(backoff, retry);
          expect(wait).toBeGreaterThanOrEqual(Math.floor(ceiling * (1 - jitter)));
          expect(wait).toBeLessThanOrEqual(ceiling);
        }
      }
    }
    // No jitter: the exact wait whatever chance says; all jitter: anything up to it.
    const random = () => 0.9;
    expect(backoffMs(EXACT, 1, { random })).toBe(10_000);
    expect(backoffMs({ ...EXACT, jitter: 1 }, 1, { random })).toBe(9_000);
  });

  it("honours the server's Retry-After, up to its cap", () => {
    expect(backoffMs(HALF, 0, { retryAfterMs: 3_000, random: () => 0.5 })).toBe(3_000);
    expect(backoffMs(HALF, 0, { retryAfterMs: 600_000 })).toBe(60_000);
    expect(backoffMs(HALF, 4, { retryAfterMs: 0 })).toBe(0);
    // Without a cap of its own, the schedule's ceiling caps it.
    expect(backoffMs(EXACT, 0, { retryAfterMs: 600_000 })).toBe(60_000);
    expect(backoffMs(HALF, 2, { retryAfterMs: null, random: () => 0 })).toBe(1_000);
  });
});

describe('Retry-After', () => {
  it('reads seconds', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(' 120 ')).toBe(120_000);
    expect(retryAfterMs('0')).toBe(0);
    expect(retryAfterMs('1.5')).toBe(1500);
  });

  it('reads an HTTP date, as the time left until then', () => {
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 30))).toBe(
      30_000
    );
    // A date gone by: now.
    expect(retryAfterMs(new Date(1_000).toUTCString(), 4000)).toBe(0);
  });

  it('gives null for what it cannot read', () => {
    expect(retryAfterMs('soon')).toBeNull();
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('')).toBeNull();
    expect(retryAfterMs('   ')).toBeNull();
    expect(retryAfterMs('-1')).toBeNull();
    expect(retryAfterMs('12 s')).toBeNull();
    expect(retryAfterMs('Infinity')).toBeNull();
    expect(retryAfterMs('1e3')).toBeNull();
  });
});

describe('sleep', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Whether the promise has settled, and how. */
  function watch(promise: Promise<void>) {
    const state: { settled: 'no' | 'resolved' | 'rejected'; reason?: unknown } = { settled: 'no' };
    promise.then(
      () => (state.settled = 'resolved'),
      (reason: unknown) => Object.assign(state, { settled: 'rejected', reason })
    );
    return state;
  }

  it('resolves after the wait, not before', async () => {
    const state = watch(sleep(1000));
    await vi.advanceTimersByTimeAsync(999);
    expect(state.settled).toBe('no');
    await vi.advanceTimersByTimeAsync(1);
    expect(state.settled).toBe('resolved');
  });

  it("rejects at once on abort, with the signal's reason (an AbortError by default)", async () => {
    const controller = new AbortController();
    const state = watch(sleep(60_000, { signal: controller.signal }));
    await vi.advanceTimersByTimeAsync(10);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    expect(state.settled).toBe('rejected');
    expect(state.reason).toBeInstanceOf(DOMException);
    expect((state.reason as DOMException).name).toBe('AbortError');
    expect(state.reason).toBe(controller.signal.reason);
    // Its timer is gone too.
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects with the reason whoever aborted gave', async () => {
    const controller = new AbortController();
    const reason = new Error('paused');
    const promise = sleep(1000, { signal: controller.signal });
    controller.abort(reason);
    await expect(promise).rejects.toBe(reason);
  });

  it('rejects without waiting when the signal is aborted already', async () => {
    const promise = sleep(1000, { signal: AbortSignal.abort() });
    expect(vi.getTimerCount()).toBe(0);
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('an abort after the wait changes nothing', async () => {
    const controller = new AbortController();
    const promise = sleep(100, { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(100);
    controller.abort();
    await expect(promise).resolves.toBeUndefined();
  });

  it('ends early, resolved, on the event it wakes on', async () => {
    const scope = new EventTarget();
    const global = globalThis as { addEventListener?: unknown; removeEventListener?: unknown };
    global.addEventListener = scope.addEventListener.bind(scope);
    global.removeEventListener = scope.removeEventListener.bind(scope);
    try {
      const state = watch(sleep(30_000, { wakeOn: 'online' }));
      await vi.advanceTimersByTimeAsync(1000);
      scope.dispatchEvent(new Event('offline'));
      await vi.advanceTimersByTimeAsync(0);
      expect(state.settled).toBe('no');
      scope.dispatchEvent(new Event('online'));
      await vi.advanceTimersByTimeAsync(0);
      expect(state.settled).toBe('resolved');
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      delete global.addEventListener;
      delete global.removeEventListener;
    }
  });
});
