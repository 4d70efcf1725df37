import { describe, expect, it } from 'vitest';
import {
  askedSequences,
  engineFromUrl,
  parseSequences,
  sharesPrefix,
  withSequencesCap
} from '$lib/shared/engine-choice';

describe('prefix sharing', () => {
  it('is on unless the address says prefixSharing=off; a job made before it shares; a server keeps its own', () => {
    const at = (query: string) => engineFromUrl(new URL(`http://localhost/${query}`));
    expect(at('?prefixSharing=off')).toMatchObject({ kind: 'webllm', prefixSharing: false });
    expect(at('?engine=simulated&prefixSharing=off')).toMatchObject({ prefixSharing: false });
    expect(at('?prefixSharing=on')).toMatchObject({ prefixSharing: true });
    expect(sharesPrefix(at('?prefixSharing=off'))).toBe(false);
    expect(sharesPrefix(at(''))).toBe(true);
    expect(sharesPrefix({ kind: 'webllm', modelId: null })).toBe(true);
    expect(
      sharesPrefix({
        kind: 'server',
        baseUrl: 'http://127.0.0.1:8000/v1',
        model: 'm',
        concurrency: 8,
        firstTokenMs: 1000
      })
    ).toBe(false);
  });
});

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
      sequences: 1,
      simPoisonItem: null,
      simItemDelayMs: null,
      simGpuPassPerItem: false,
      prefixSharing: true
    });
    expect(
      engineFromUrl(new URL('http://localhost/?engine=simulated&simBreakEvery=7'))
    ).toMatchObject({ simBreakEvery: 7 });
    expect(engineFromUrl(new URL('http://localhost/?engine=simulated&sequences=4'))).toMatchObject({
      sequences: 4
    });
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
    // The real engine carries none of the simulated engine's knobs; its sequences are the plan's.
    expect(engineFromUrl(new URL('http://localhost/'))).toEqual({
      kind: 'webllm',
      modelId: null,
      sequences: null,
      prefixSharing: true
    });
  });
});

describe('sequences at once', () => {
  it('reads a whole number from 1 to 16 from the page address; anything else is the plan’s choice', () => {
    const at = (query: string) => engineFromUrl(new URL(`http://localhost/${query}`));
    expect(at('?sequences=4')).toEqual({
      kind: 'webllm',
      modelId: null,
      prefixSharing: true,
      sequences: 4
    });
    for (const bad of ['?sequences=0', '?sequences=17', '?sequences=2.5', '?sequences=x', ''])
      expect(at(bad)).toMatchObject({ kind: 'webllm', sequences: null });
    expect(parseSequences(' 16 ')).toBe(16);
  });

  it('caps a job’s sequences after a memory loss: the asked number, the plan’s, an older job’s 1', () => {
    const job = (sequences?: number | null) => ({
      engine: {
        kind: 'webllm' as const,
        modelId: null,
        ...(sequences !== undefined ? { sequences } : {})
      }
    });
    expect(withSequencesCap(job(8), 4).engine).toMatchObject({ sequences: 4 });
    expect(withSequencesCap(job(2), 4).engine).toMatchObject({ sequences: 2 });
    expect(withSequencesCap(job(null), 4).engine).toMatchObject({ sequences: 4 });
    expect(withSequencesCap(job(), 4).engine).toMatchObject({ sequences: 1 });
    expect(withSequencesCap(job(8), null)).toEqual(job(8));
  });

  it('a simulated job asks for its sequences as a WebLLM one does; one made before them, for the items it kept at once', () => {
    const simulated = {
      kind: 'simulated' as const,
      modelId: null,
      tokenDelayMs: 0,
      simMemoryMB: null,
      simHangAtItem: null
    };
    expect(askedSequences({ ...simulated, sequences: 4 })).toBe(4);
    expect(askedSequences({ ...simulated, sequences: null })).toBeNull();
    expect(askedSequences(simulated)).toBe(1);
    expect(askedSequences({ ...simulated, simConcurrency: 4 } as typeof simulated)).toBe(4);
    expect(withSequencesCap({ engine: { ...simulated, sequences: 8 } }, 2).engine).toMatchObject({
      sequences: 2
    });
    const server = {
      kind: 'server' as const,
      baseUrl: 'http://localhost:8000/v1',
      model: 'm',
      concurrency: 8,
      firstTokenMs: 1000
    };
    expect(askedSequences(server)).toBe(1);
    expect(withSequencesCap({ engine: server }, 2).engine).toEqual(server);
  });
});
