import { describe, expect, it } from 'vitest';
import { engineFromUrl } from '$lib/shared/engine-choice';

describe('engineFromUrl', () => {
  it('picks the simulated engine and its delay from the query', () => {
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&tokenDelayMs=7&simMemoryMB=5000'))
    ).toEqual({
      kind: 'simulated',
      modelId: null,
      tokenDelayMs: 7,
      simMemoryMB: 5000,
      simHangAtItem: null,
      simEcho: false,
      simBreakEvery: null,
      simConcurrency: 1,
      simPoisonItem: null,
      simItemDelayMs: null,
      simGpuPassPerItem: false
    });
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&simBreakEvery=7'))
    ).toMatchObject({ simBreakEvery: 7 });
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&simItemDelayMs=20'))
    ).toMatchObject({ simItemDelayMs: 20 });
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&simGpuPassPerItem=1'))
    ).toMatchObject({ simGpuPassPerItem: true });
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&simHoldAt=8,24,8,x'))
    ).toMatchObject({ simHoldAt: [8, 24, 8] });
    expect(engineFromUrl(new URL('http://localhost/?engine=simulated'))).toMatchObject({
      tokenDelayMs: 2
    });
    expect(engineFromUrl(new URL('http://localhost/?engine=simulated&simEcho=1'))).toMatchObject({
      simEcho: true
    });
    // The real engine carries none of the simulated engine's knobs.
    expect(engineFromUrl(new URL('http://localhost/'))).toEqual({
      kind: 'webllm',
      modelId: null
    });
  });
});
