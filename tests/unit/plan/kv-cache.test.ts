import { describe, expect, it } from 'vitest';
import { KV_PAGE_TOKENS, kvCapacity, kvTokens, sharedPrefixTokens } from '$lib/plan/kv-cache';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);

describe('the KV cache the loop makes', () => {
  it('holds a whole window a slot (a kept prefix within it), and a spare page', () => {
    expect(kvCapacity(1000, 3)).toBe(3 * 1008);
    expect(kvCapacity(1024, 2)).toBe(2 * 1024);
    expect(kvTokens(1024, 2)).toBe(2 * 1024 + KV_PAGE_TOKENS);
    expect(kvTokens(1024, 1)).toBe(1024 + KV_PAGE_TOKENS);
  });
});

describe('sharedPrefixTokens: the prefix worth keeping', () => {
  it('the tokens every prompt begins with, in whole pages', () => {
    const rubric = range(100, 40);
    const prompts = [
      [...rubric, 1, 2, 3],
      [...rubric, 4, 5],
      [...rubric, 6]
    ];
    expect(sharedPrefixTokens(prompts)).toBe(32);
  });

  it('leaves every prompt a token of its own to read', () => {
    const page = range(100, 32);
    // One prompt is the 32 shared tokens and no more: a page less is kept.
    expect(sharedPrefixTokens([page, [...page, 7]])).toBe(16);
    expect(
      sharedPrefixTokens([
        [...page, 1],
        [...page, 2]
      ])
    ).toBe(32);
  });

  it('nothing when the prompts share less than a page, or there is one prompt', () => {
    expect(sharedPrefixTokens([range(0, 40), [...range(0, 15), 99, ...range(16, 30)]])).toBe(0);
    expect(sharedPrefixTokens([range(0, 40)])).toBe(0);
    expect(sharedPrefixTokens([])).toBe(0);
    expect(sharedPrefixTokens([range(0, 40), range(1, 40)])).toBe(0);
  });

  it('reads any iterable once (a job’s prompts are walked from the store)', () => {
    function* prompts() {
      for (let i = 0; i < 1000; i++) yield [...range(0, 20), i];
    }
    expect(sharedPrefixTokens(prompts())).toBe(16);
  });
});
