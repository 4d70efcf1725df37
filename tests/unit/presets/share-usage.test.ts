import { describe, expect, it } from 'vitest';
import { shareUsage } from '$lib/presets/shared-prompt';

describe('shareUsage: a shared prompt’s usage over its results', () => {
  it('splits every count, the remainder to the first, so the totals add up', () => {
    const parts = shareUsage(
      {
        prompt_tokens: 403,
        completion_tokens: 61,
        total_tokens: 464,
        prompt_tokens_details: { cached_tokens: 320 },
        decode_tokens_per_s: 12
      },
      4
    );
    expect(parts.map((u) => u.prompt_tokens)).toEqual([103, 100, 100, 100]);
    expect(parts.map((u) => u.completion_tokens)).toEqual([16, 15, 15, 15]);
    expect(parts.map((u) => u.prompt_tokens_details?.cached_tokens)).toEqual([80, 80, 80, 80]);
    expect(parts.reduce((sum, u) => sum + u.total_tokens, 0)).toBe(464);
    expect(parts.every((u) => u.decode_tokens_per_s === 12)).toBe(true);
  });

  it('nothing shared: no cached count appears', () => {
    const parts = shareUsage({ prompt_tokens: 10, completion_tokens: 3, total_tokens: 13 }, 2);
    expect(parts.every((u) => u.prompt_tokens_details === undefined)).toBe(true);
  });
});
