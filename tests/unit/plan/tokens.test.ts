import { describe, expect, it } from 'vitest';
import {
  ASSISTANT_PREFIX_TOKENS,
  DEFAULT_SYSTEM_PROMPT,
  MESSAGE_OVERHEAD_TOKENS,
  estimateJobTokens,
  estimatePromptTokens,
  estimateTokens
} from '$lib/plan/tokens';

describe('estimateTokens', () => {
  it('other text: one token per 3 characters, rounded up', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('a')).toBe(1);
    expect(estimateTokens('hello world')).toBe(4);
    expect(estimateTokens('x'.repeat(300))).toBe(100);
  });

  it('digits are a token each (Qwen splits numbers into digits)', () => {
    expect(estimateTokens('2024-01-31')).toBe(8 + 1);
    expect(estimateTokens('1234567890')).toBe(10);
  });

  it('CJK, kana and hangul are a token per character', () => {
    expect(estimateTokens('你好世界')).toBe(4);
    expect(estimateTokens('こんにちは')).toBe(5);
    expect(estimateTokens('カタカナ')).toBe(4);
    expect(estimateTokens('안녕하세요')).toBe(5);
    expect(estimateTokens('，。')).toBe(2);
  });

  it('other scripts half a token per character, emoji two', () => {
    expect(estimateTokens('привет')).toBe(3);
    expect(estimateTokens('😀')).toBe(2);
    // 6 ASCII non-digits (a, b, c, three spaces) = 2, CJK 2, digits 3, emoji 2.
    expect(estimateTokens('abc 你好 123 😀')).toBe(2 + 2 + 3 + 2);
  });

  it('never fewer tokens than words in English prose', () => {
    const prose =
      'The quick brown fox jumps over the lazy dog while the committee deliberates on the budget for next year.';
    expect(estimateTokens(prose)).toBeGreaterThanOrEqual(prose.split(/\s+/).length);
  });
});

describe('estimateJobTokens', () => {
  it('adds the chat template and the default system prompt when there is none', () => {
    const system = MESSAGE_OVERHEAD_TOKENS + estimateTokens(DEFAULT_SYSTEM_PROMPT);
    expect(estimatePromptTokens([{ role: 'user', content: 'hello world' }])).toBe(
      ASSISTANT_PREFIX_TOKENS + MESSAGE_OVERHEAD_TOKENS + 4 + system
    );
    expect(
      estimatePromptTokens([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello world' }
      ])
    ).toBe(ASSISTANT_PREFIX_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS + 3 + 4);
  });

  it('longest prompt and largest max_tokens across items; not exact', () => {
    const { needs, promptTokens } = estimateJobTokens([
      { messages: [{ role: 'user', content: 'short' }], max_tokens: 900 },
      { messages: [{ role: 'user', content: 'x'.repeat(3000) }], max_tokens: 100 },
      { messages: [{ role: 'user', content: '' }], max_tokens: 256 }
    ]);
    expect(promptTokens).toEqual([
      estimatePromptTokens([{ role: 'user', content: 'short' }]),
      estimatePromptTokens([{ role: 'user', content: 'x'.repeat(3000) }]),
      estimatePromptTokens([{ role: 'user', content: '' }])
    ]);
    expect(needs).toEqual({
      longestPromptTokens: estimatePromptTokens([{ role: 'user', content: 'x'.repeat(3000) }]),
      maxAnswerTokens: 900,
      exact: false
    });
    expect(needs.longestPromptTokens).toBeGreaterThan(1000);
  });

  it('an empty job needs nothing', () => {
    expect(estimateJobTokens([])).toEqual({
      promptTokens: [],
      needs: { longestPromptTokens: 0, maxAnswerTokens: 0, exact: false }
    });
  });

  it('100,000 items (the speed: npm run bench, estimate_100k_ms)', () => {
    const text =
      'Rate this answer from 1 to 5 for relevance and style. Question: how was your day? 今天很好。 Answer: fine, thanks! 2024-05-01';
    const requests = Array.from({ length: 100_000 }, (_, i) => ({
      messages: [
        { role: 'system', content: 'You are a strict grader. Reply with JSON {"score": n}.' },
        { role: 'user', content: `${text} #${i}` }
      ],
      max_tokens: 64
    }));
    const { needs } = estimateJobTokens(requests);
    expect(needs.maxAnswerTokens).toBe(64);
  });
});
