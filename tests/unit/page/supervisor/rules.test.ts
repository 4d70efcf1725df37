import { describe, expect, it } from 'vitest';
import {
  HANG_FLOOR_MS,
  MAX_AUTO_RELOADS,
  MAX_WORKER_CRASHES,
  RELOAD_WINDOW_MS,
  afterWorkerLoss,
  decideReload,
  hangLimitMs,
  isGpuBlocked,
  isHung,
  shouldResumeOnOpen,
  shouldTakeOver
} from '$lib/page/supervisor/rules';
import type { RunState } from '$lib/shared/job';

describe('hang limit', () => {
  it.each([
    [
      'nothing measured yet: the floor',
      { promptTokens: 0, prefillTokensPerSecond: null, maxGapMs: 0 },
      HANG_FLOOR_MS
    ],
    [
      'small gaps and a fast prefill: the floor',
      { promptTokens: 500, prefillTokensPerSecond: 1000, maxGapMs: 200 },
      HANG_FLOOR_MS
    ],
    [
      'a first prompt, its prefill not measured yet: three times its prefill at the slowest speed measured',
      { promptTokens: 15, prefillTokensPerSecond: null, maxGapMs: 0 },
      112_500
    ],
    [
      'ten times the slowest gap',
      { promptTokens: 0, prefillTokensPerSecond: null, maxGapMs: 4000 },
      40_000
    ],
    [
      'three times the expected prefill',
      { promptTokens: 30_000, prefillTokensPerSecond: 1000, maxGapMs: 100 },
      90_000
    ],
    [
      'the larger of gap and prefill',
      { promptTokens: 10_000, prefillTokensPerSecond: 1000, maxGapMs: 5000 },
      50_000
    ]
  ])('%s', (_, activity, limit) => {
    expect(hangLimitMs(activity)).toBe(limit);
    expect(isHung(1_000_000 + limit - 1, 1_000_000, activity)).toBe(false);
    expect(isHung(1_000_000 + limit, 1_000_000, activity)).toBe(true);
  });
});

describe('afterWorkerLoss', () => {
  it.each([
    [
      { hung: true, crashesBefore: 0, pausing: false },
      { action: 'resume', crashes: 0 }
    ],
    [
      { hung: true, crashesBefore: 2, pausing: false },
      { action: 'resume', crashes: 2 }
    ],
    [
      { hung: true, crashesBefore: 0, pausing: true },
      { action: 'paused', crashes: 0 }
    ],
    [
      { hung: false, crashesBefore: 0, pausing: false },
      { action: 'restart', crashes: 1 }
    ],
    [
      { hung: false, crashesBefore: MAX_WORKER_CRASHES - 2, pausing: false },
      { action: 'restart', crashes: MAX_WORKER_CRASHES - 1 }
    ],
    [
      { hung: false, crashesBefore: MAX_WORKER_CRASHES - 1, pausing: false },
      { action: 'stop', crashes: MAX_WORKER_CRASHES }
    ],
    // Pause wins over a crash: the worker was lost while pausing (or stopped for the Pause).
    [
      { hung: false, crashesBefore: 0, pausing: true },
      { action: 'paused', crashes: 0 }
    ],
    [
      { hung: false, crashesBefore: MAX_WORKER_CRASHES - 1, pausing: true },
      { action: 'paused', crashes: MAX_WORKER_CRASHES - 1 }
    ]
  ])('%o -> %o', (loss, expected) => {
    expect(afterWorkerLoss(loss)).toEqual(expected);
  });
});

describe('decideReload', () => {
  const now = 50 * 60_000;

  it('reloads while the budget allows, recording the time', () => {
    expect(decideReload(now, [])).toEqual({ reload: true, reloads: [now] });
    const before = Array.from({ length: MAX_AUTO_RELOADS - 1 }, (_, i) => now - (i + 1) * 1000);
    expect(decideReload(now, before)).toEqual({ reload: true, reloads: [...before, now] });
  });

  it('stops after MAX_AUTO_RELOADS in the window', () => {
    const before = Array.from({ length: MAX_AUTO_RELOADS }, (_, i) => now - (i + 1) * 1000);
    expect(decideReload(now, before)).toEqual({ reload: false, recent: before });
  });

  it('forgets reloads older than the window', () => {
    const old = now - RELOAD_WINDOW_MS;
    const before = [
      old - 5000,
      old,
      ...Array.from({ length: MAX_AUTO_RELOADS - 1 }, () => now - 1)
    ];
    const decision = decideReload(now, before);
    expect(decision).toEqual({ reload: true, reloads: [...before.slice(2), now] });
  });
});

describe('isGpuBlocked', () => {
  it.each([
    ['gpu-blocked', false, true],
    ['gpu-blocked', true, true],
    ['no-webgpu', true, true],
    ['no-webgpu', false, false],
    ['network', true, false],
    [undefined, true, false]
  ])('%s after a reload for the GPU: %s -> %s', (code, after, blocked) => {
    expect(isGpuBlocked(code, after)).toBe(blocked);
  });
});

describe('shouldTakeOver', () => {
  it.each<[RunState, boolean, boolean]>([
    ['running', false, true],
    ['running', true, false],
    ['paused', false, false],
    ['completed', false, false],
    ['stopped', false, false],
    ['idle', false, false]
  ])('stored %s, running here %s -> %s', (stored, here, takeOver) => {
    expect(shouldTakeOver(stored, here)).toBe(takeOver);
  });
});

describe('shouldResumeOnOpen', () => {
  const base = {
    reloadedFor: false,
    autoResume: true,
    lockedElsewhere: false,
    runningHere: false,
    stored: 'running' as RunState | null
  };
  it.each([
    ['a job that was running when its page died', {}, true],
    ['setting off', { autoResume: false }, false],
    ['setting off, but this tab reloaded for it', { autoResume: false, reloadedFor: true }, true],
    ['another tab runs it', { lockedElsewhere: true }, false],
    ['this tab runs it', { runningHere: true }, false],
    ['paused', { stored: 'paused' }, false],
    ['completed', { stored: 'completed' }, false],
    [
      'stopped (for its reload), this tab reloaded for it',
      { stored: 'stopped', reloadedFor: true },
      true
    ],
    ['stopped, another job', { stored: 'stopped' }, false],
    ['no progress record', { stored: null }, false]
  ] as const)('%s -> %s', (_, change, resume) => {
    expect(shouldResumeOnOpen({ ...base, ...change })).toBe(resume);
  });
});
