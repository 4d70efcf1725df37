import { describe, expect, it } from 'vitest';
import {
  hashString,
  simulatedCompletion,
  simulatedPromptIds
} from '$lib/worker/engine/simulated-text';

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

  it('lays a prompt out as tokens deterministically: a word or mark each, 4 a message, 2 for the reply', () => {
    const ids = simulatedPromptIds(request);
    expect(ids).toHaveLength(4 + 6 + 2);
    expect(simulatedPromptIds({ ...request })).toEqual(ids);
    expect(
      simulatedPromptIds({ ...request, messages: [{ role: 'user', content: 'Rate it.' }] })
    ).not.toEqual(ids);
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
