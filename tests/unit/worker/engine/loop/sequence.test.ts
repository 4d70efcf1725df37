import { describe, expect, it } from 'vitest';
import { Sequence, type AnswerRules } from '$lib/worker/engine/loop/sequence';
import { applyMask, penaltyOf } from '$lib/worker/engine/loop/sampling';

/** A tokenizer of one character a token: id 0 is 'a', 1 'b', …; 900 is half of a broken character. */
const decode = (ids: Int32Array) =>
  Array.from(ids, (id) => (id === 900 ? '\uFFFD' : String.fromCharCode(97 + (id % 26)))).join('');

interface Rules extends AnswerRules {
  maxTokens: number;
  promptTokens: number;
}

/** A sequence with these rules; `accept` takes a token under them. */
function sequence(over: Partial<Rules> = {}) {
  const rules: Rules = {
    stopTokens: [999],
    stopStrings: ['<end>'],
    maxTokens: 5,
    promptTokens: 10,
    window: 100,
    detokenize: decode,
    ...over
  };
  const s = new Sequence(
    {
      request: { messages: [], temperature: 0, top_p: 1, max_tokens: rules.maxTokens, seed: 1 },
      promptIds: Array.from({ length: rules.promptTokens }, () => 0),
      maxTokens: rules.maxTokens,
      seed: 1,
      onText: () => undefined
    },
    { resolve: () => undefined, reject: () => undefined }
  );
  return Object.assign(s, {
    accept: (token: number) => Sequence.prototype.accept.call(s, token, rules)
  });
}

describe('Sequence: its answer as WebLLM 0.2.79’s processNextToken and streaming make it', () => {
  it('streams each token’s text and stops at max_tokens, counting every sampled token', () => {
    const s = sequence({ maxTokens: 3 });
    expect([s.accept(0), s.accept(1)]).toEqual(['a', 'b']);
    expect(s.finish).toBeNull();
    expect(s.lastToken).toBe(1);
    expect(s.accept(2)).toBe('c');
    expect(s.finish).toBe('length');
    expect(s.sampled).toBe(3);
    expect(s.outputIds).toEqual([0, 1, 2]);
    expect(() => s.accept(3)).toThrow('already finished');
  });

  it('stops at a stop token, which is counted but not part of the text', () => {
    const s = sequence();
    s.accept(7);
    expect(s.accept(999)).toBe('');
    expect(s.finish).toBe('stop');
    expect(s.outputIds).toEqual([7]);
    expect(s.sampled).toBe(2);
  });

  it('cuts the text at a stop string and stops', () => {
    const s = sequence({ stopStrings: ['cd'], maxTokens: 10 });
    expect(s.accept(1)).toBe('b');
    expect(s.accept(2)).toBe('c');
    expect(s.accept(3)).toBe('');
    expect(s.finish).toBe('stop');
  });

  it('holds back a broken multi-byte character until it is whole', () => {
    const s = sequence({ maxTokens: 10 });
    expect(s.accept(900)).toBe('');
    expect(s.accept(0)).toBe('\uFFFDa');
  });

  it('stops when the sequence fills its window', () => {
    // 10 prompt tokens in a window of 12: the cache is full once the second token is fed back.
    const s = sequence({ window: 12, maxTokens: 50 });
    s.accept(0);
    s.accept(1);
    expect(s.finish).toBeNull();
    s.accept(2);
    expect(s.finish).toBe('length');
  });

  it('a stop token sampled as the window fills ends with length, as WebLLM counts it', () => {
    // 5 prompt tokens in a window of 8: three tokens fed back fill it; the fourth is a stop token.
    const s = sequence({ promptTokens: 5, window: 8, maxTokens: 50 });
    [1, 2, 3].forEach((t) => s.accept(t));
    expect(s.finish).toBeNull();
    s.accept(999);
    expect(s.finish).toBe('length');
  });

  it('counts how often each token appeared, for the penalties', () => {
    const s = sequence({ maxTokens: 10 });
    [4, 5, 4].forEach((t) => s.accept(t));
    expect([...s.appeared]).toEqual([
      [4, 2],
      [5, 1]
    ]);
  });
});

describe('sampling helpers', () => {
  it('masks every token the grammar forbids with float32’s lowest value', () => {
    const logits = new Float32Array([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
      27, 28, 29, 30, 31, 32, 33, 34
    ]);
    // Word 0 allows tokens 1 and 31; word 1 allows token 33.
    const mask = new Int32Array([(1 << 1) | (1 << 31), 1 << 1]);
    applyMask(logits, mask);
    const kept = [...logits.keys()].filter((t) => logits[t]! > -1e38);
    expect(kept).toEqual([1, 31, 33]);
    expect(logits[0]).toBe(Math.fround(-3.4028234663852886e38));
  });

  it('applies the penalty WebLLM applies for the chat config', () => {
    // Qwen2.5's mlc-chat-config: presence 0, frequency 0, repetition 1.05: the first wins.
    expect(
      penaltyOf({
        temperature: 0.7,
        top_p: 0.8,
        repetition_penalty: 1.05,
        presence_penalty: 0,
        frequency_penalty: 0
      })
    ).toEqual({ kind: 'presence-frequency', presence: 0, frequency: 0 });
    expect(
      penaltyOf({ temperature: 1, top_p: 1, repetition_penalty: 1.1, frequency_penalty: 0.5 })
    ).toEqual({
      kind: 'presence-frequency',
      presence: 0,
      frequency: 0.5
    });
    expect(penaltyOf({ temperature: 1, top_p: 1, repetition_penalty: 1.1 })).toEqual({
      kind: 'repetition',
      value: 1.1
    });
    expect(penaltyOf({ temperature: 1, top_p: 1, repetition_penalty: 1 })).toBeNull();
  });
});
