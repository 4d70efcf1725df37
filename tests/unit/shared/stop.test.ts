import { describe, expect, it } from 'vitest';
import { keptSentence, stopMessage } from '$lib/shared/stop';

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
