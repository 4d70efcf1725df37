import { describe, expect, it } from 'vitest';
import {
  MIB,
  formatCount,
  formatDuration,
  formatFigure,
  formatFileSize,
  formatMiB,
  plural
} from '$lib/shared/figures';
import { SAMPLING_RULES, samplingValid } from '$lib/shared/sampling';
import { keptSentence, stopMessage } from '$lib/shared/stop';

describe('figures', () => {
  it('counts', () => {
    expect(formatCount(0)).toBe('0');
    expect(formatCount(100_000)).toBe('100,000');
    expect(plural(1, 'item')).toBe('1 item');
    expect(plural(1500, 'problem')).toBe('1,500 problems');
    expect(plural(2, 'entry', 'entries')).toBe('2 entries');
  });

  it('measured figures: one decimal below 100, whole numbers with separators above', () => {
    expect(formatFigure(null)).toBe('—');
    expect(formatFigure(Number.NaN)).toBe('—');
    expect(formatFigure(2.345)).toBe('2.3');
    expect(formatFigure(99.96)).toBe('100.0');
    expect(formatFigure(1276.4)).toBe('1,276');
  });

  it('sizes', () => {
    expect(formatMiB(5106.67 * MIB)).toBe('5,107 MiB');
    expect(formatFileSize(256 * MIB + 1)).toBe('256.1 MiB');
    expect(formatFileSize(3 * MIB)).toBe('3.0 MiB');
  });

  it('durations', () => {
    expect(formatDuration(null)).toBe('—');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(41_200)).toBe('42 s');
    expect(formatDuration(65_000)).toBe('1 min 05 s');
    expect(formatDuration(3_900_000)).toBe('1 h 05 min');
  });
});

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

describe('stop messages', () => {
  it('say what happened, what was kept and what to do', () => {
    expect(keptSentence(3, 10)).toBe('Nothing was lost: 3 of 10 results are saved.');
    expect(stopMessage({ code: 'network', message: 'Offline.' }, 0, 5)).toBe(
      'Offline. Nothing was lost: 0 of 5 results are saved. Connect to the network, then press Resume.'
    );
    expect(stopMessage({ code: 'quota', message: 'Full.' }, 1, 2)).toBe(
      'Full. Nothing was lost: 1 of 2 results are saved. Free some space (delete finished jobs after exporting them, or a cached model), then press Resume.'
    );
    expect(stopMessage({ code: 'load-failed', message: 'Broken.' }, 2, 4)).toBe(
      'Broken. Nothing was lost: 2 of 4 results are saved. Press Resume to continue from where it stopped.'
    );
  });
});
