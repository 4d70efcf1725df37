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
