import { describe, expect, it } from 'vitest';
import { EngineError, translateEngineError } from '$lib/worker/engine/errors';
import { parseInitReport } from '$lib/worker/engine/load-progress';
import {
  countPromptTokens,
  hashString,
  simulatedCompletion
} from '$lib/worker/engine/simulated-text';
import { engineFromUrl } from '$lib/shared/engine-choice';

const request = {
  messages: [{ role: 'user' as const, content: 'Rate this answer: 42.' }],
  temperature: 0,
  top_p: 1,
  max_tokens: 512,
  seed: 0
};

describe('simulated text', () => {
  it('is a pure function of messages, sampling settings and seed', () => {
    const a = simulatedCompletion(request);
    expect(simulatedCompletion({ ...request })).toEqual(a);
    expect(simulatedCompletion({ ...request, seed: 1 }).tokens).not.toEqual(a.tokens);
    expect(simulatedCompletion({ ...request, temperature: 0.5 }).tokens).not.toEqual(a.tokens);
    expect(a.tokens.join('').startsWith('[simulated] ')).toBe(true);
    expect(a.finishReason).toBe('stop');
    expect(a.promptTokens).toBe(countPromptTokens(request));
  });

  it('stops at max_tokens with finish reason "length"', () => {
    const short = simulatedCompletion({ ...request, max_tokens: 3 });
    expect(short.tokens).toHaveLength(3);
    expect(short.finishReason).toBe('length');
  });

  it('hashes with FNV-1a', () => {
    expect(hashString('')).toBe(0x811c9dc5);
    expect(hashString('a')).toBe(0xe40c292c);
  });

  it('counts prompt tokens deterministically', () => {
    expect(countPromptTokens(request)).toBe(4 + 6 + 2);
  });
});

describe('translateEngineError', () => {
  const context = { phase: 'load' as const, model: 'Qwen2.5-7B-Instruct-q4f32_1-MLC' };

  it('names the unreachable hosts on a failed fetch', () => {
    const error = translateEngineError(new TypeError('Failed to fetch'), {
      ...context,
      unreachable: ['huggingface.co', 'raw.githubusercontent.com']
    });
    expect(error.code).toBe('network');
    expect(error.message).toBe(
      'Could not download Qwen2.5-7B-Instruct-q4f32_1-MLC: huggingface.co and raw.githubusercontent.com could not be reached. Check the network connection.'
    );
    expect(error.hosts).toEqual(['huggingface.co', 'raw.githubusercontent.com']);
  });

  it('maps WebLLM and WebGPU errors to codes', () => {
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    expect(translateEngineError(named('DeviceLostError', 'lost'), context).code).toBe(
      'device-lost'
    );
    expect(
      translateEngineError(
        named('ContextWindowSizeExceededError', 'Prompt tokens exceed context window size'),
        {
          ...context,
          phase: 'generate'
        }
      ).code
    ).toBe('context-exceeded');
    expect(translateEngineError(new Error('Device is lost'), context).code).toBe('device-lost');
    expect(translateEngineError(new Error('GPU out of memory'), context).code).toBe(
      'out-of-memory'
    );
    expect(translateEngineError(new Error('weird'), context).code).toBe('load-failed');
    expect(translateEngineError(new Error('weird'), { ...context, phase: 'generate' }).code).toBe(
      'generation-failed'
    );
    const typed = new EngineError('cancelled', 'Stopped.');
    expect(translateEngineError(typed, context)).toBe(typed);
  });
});

describe('parseInitReport', () => {
  it('reads MB, percent, speed and ETA from a download report', () => {
    const progress = parseInitReport({
      progress: 0.25,
      timeElapsed: 10,
      text: 'Fetching param cache[27/108]: 1276MB fetched. 25% completed, 10 secs elapsed. It can take a while when we first visit this page to populate the cache. Later refreshes will become faster.'
    });
    expect(progress).toMatchObject({
      phase: 'download',
      loadedMB: 1276,
      totalMB: 5104,
      fraction: 0.25
    });
    expect(progress.mbPerSecond).toBeCloseTo(127.6);
    expect(progress.etaSeconds).toBeCloseTo(30);
  });

  it('treats other reports as compile steps', () => {
    expect(
      parseInitReport({ progress: 0.5, timeElapsed: 3, text: 'Loading GPU shader modules[10/40]' })
    ).toMatchObject({
      phase: 'compile',
      loadedMB: null
    });
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

describe('simulatedCompletion', () => {
  const payload = {
    ...request,
    messages: [{ role: 'user' as const, content: '<img src=x onerror=alert(1)>' }]
  };

  it('quotes the prompt first with the echo knob, and is otherwise the same text', () => {
    const plain = simulatedCompletion(payload);
    const echoed = simulatedCompletion(payload, true);
    expect(echoed.tokens[0]).toBe('You said: <img src=x onerror=alert(1)>\n');
    expect(echoed.tokens.slice(1)).toEqual(plain.tokens);
  });
});
