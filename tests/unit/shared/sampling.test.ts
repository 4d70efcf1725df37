import { describe, expect, it } from 'vitest';
import { SAMPLING_RULES, samplingValid } from '$lib/shared/sampling';

describe('sampling rules', () => {
  it.each([
    ['temperature', 0, true],
    ['temperature', 2, true],
    ['temperature', 2.01, false],
    ['temperature', -0.1, false],
    ['temperature', null, false],
    ['top_p', 0, false],
    ['top_p', 1, true],
    ['top_p', 0.01, true],
    ['max_tokens', 1, true],
    ['max_tokens', 0, false],
    ['max_tokens', 1.5, false],
    ['seed', -3, true],
    ['seed', 2 ** 60, false],
    ['seed', '7', false]
  ] as const)('%s = %s: %s', (key, value, ok) => {
    expect(SAMPLING_RULES[key].ok(value)).toBe(ok);
  });

  it('a job is valid only when every setting is', () => {
    const good = { temperature: 0.7, top_p: 0.95, max_tokens: 512, seed: 0 };
    expect(samplingValid(good)).toBe(true);
    expect(samplingValid({ ...good, top_p: 0 })).toBe(false);
  });
});
