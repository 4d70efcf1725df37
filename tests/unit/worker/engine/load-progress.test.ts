import { describe, expect, it } from 'vitest';
import { parseInitReport } from '$lib/worker/engine/load-progress';

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
