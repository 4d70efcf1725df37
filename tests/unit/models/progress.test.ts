/** The download figures: speed over a sliding window, progress and what is left. */
import { describe, expect, it } from 'vitest';
import { describeProgress, downloadProgress, RateMeter } from '$lib/models/progress';

describe('download progress', () => {
  it('measures speed over a sliding window', () => {
    const meter = new RateMeter(4000, 1000);
    meter.add(0, 0);
    expect(meter.rate(500)).toBeNull();
    meter.add(1_000_000, 1000);
    expect(meter.rate(1000)).toBe(1_000_000);
    meter.add(1_000_000, 2000);
    expect(meter.rate(2000)).toBe(1_000_000);
    // A stall: no bytes for a while, the speed falls.
    expect(meter.rate(6000)).toBeLessThan(1_000_000);
    expect(meter.rate(30_000)).toBe(0);
  });

  it('gives MB, share, speed and time left', () => {
    const MIB = 1024 * 1024;
    const p = downloadProgress({
      loadedBytes: 25 * MIB,
      totalBytes: 100 * MIB,
      bytesPerSecond: 5 * MIB,
      shardsDone: 1,
      shardsTotal: 4
    });
    expect(p).toEqual({
      loadedMB: 25,
      totalMB: 100,
      fraction: 0.25,
      mbPerSecond: 5,
      etaSeconds: 15,
      shardsDone: 1,
      shardsTotal: 4
    });
    expect(describeProgress(p)).toBe(
      '25.0 of 100 MiB (25%) · 5.0 MiB/s · about 15 s left · 1 of 4 shards'
    );
    const unknown = downloadProgress({
      loadedBytes: 0,
      totalBytes: 10,
      bytesPerSecond: null,
      shardsDone: 0,
      shardsTotal: 1
    });
    expect(unknown.etaSeconds).toBeNull();
    expect(describeProgress(unknown)).toContain('measuring speed · time left unknown');
    expect(
      downloadProgress({
        loadedBytes: 10,
        totalBytes: 10,
        bytesPerSecond: 0,
        shardsDone: 1,
        shardsTotal: 1
      }).etaSeconds
    ).toBe(0);
    expect(describeProgress({ ...p, etaSeconds: 3725 })).toContain('about 1 h 02 min left');
  });
});
