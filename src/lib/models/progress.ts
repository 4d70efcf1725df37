/** Download figures as the Models page shows them: MiB, share, speed and time left. */
import { MIB, formatDuration, formatFigure } from '$lib/shared/figures';

export interface DownloadProgress {
  /** Bytes of the model now stored (finished files, including those kept from before). */
  loadedMB: number;
  totalMB: number;
  /** 0..1 */
  fraction: number;
  /** Over the last few seconds of this session's transfer; null until there is enough to say. */
  mbPerSecond: number | null;
  etaSeconds: number | null;
  shardsDone: number;
  shardsTotal: number;
}

/**
 * Speed over a sliding window of recent samples, so a stall shows as a
 * falling speed instead of the average since the start, and shards kept from
 * an earlier session do not count as speed.
 */
export class RateMeter {
  #samples: { at: number; bytes: number }[] = [];
  #received = 0;

  constructor(
    readonly windowMs = 8000,
    /** Less than this much time seen says nothing about speed yet. */
    readonly minSpanMs = 1000
  ) {}

  /** Counts `bytes` received at time `at` (ms). */
  add(bytes: number, at: number): void {
    this.#received += bytes;
    this.#samples.push({ at, bytes: this.#received });
    this.#trim(at);
  }

  /** Bytes per second at time `now`, or null. */
  rate(now: number): number | null {
    this.#trim(now);
    const first = this.#samples[0];
    if (!first) return this.#received > 0 ? 0 : null;
    const span = now - first.at;
    if (span < this.minSpanMs) return null;
    return ((this.#received - first.bytes) / span) * 1000;
  }

  #trim(now: number): void {
    // Keep one sample at or before the window's start, so the window is full.
    while (this.#samples.length > 1 && (this.#samples[1]?.at ?? now) <= now - this.windowMs) {
      this.#samples.shift();
    }
  }
}

export function downloadProgress(input: {
  loadedBytes: number;
  totalBytes: number;
  bytesPerSecond: number | null;
  shardsDone: number;
  shardsTotal: number;
}): DownloadProgress {
  const { loadedBytes, totalBytes, bytesPerSecond, shardsDone, shardsTotal } = input;
  const fraction = totalBytes > 0 ? Math.min(1, Math.max(0, loadedBytes / totalBytes)) : 0;
  const remaining = Math.max(0, totalBytes - loadedBytes);
  const etaSeconds =
    remaining === 0 ? 0 : bytesPerSecond && bytesPerSecond > 0 ? remaining / bytesPerSecond : null;
  return {
    loadedMB: loadedBytes / MIB,
    totalMB: totalBytes / MIB,
    fraction,
    mbPerSecond: bytesPerSecond === null ? null : bytesPerSecond / MIB,
    etaSeconds,
    shardsDone,
    shardsTotal
  };
}

/** "12.5 of 40.0 MiB (31%) · 2.1 MiB/s · about 13 s left · 3 of 9 shards". */
export function describeProgress(p: DownloadProgress): string {
  const parts = [
    `${formatFigure(p.loadedMB)} of ${formatFigure(p.totalMB)} MiB (${Math.floor(p.fraction * 100)}%)`,
    p.mbPerSecond === null ? 'measuring speed' : `${formatFigure(p.mbPerSecond)} MiB/s`,
    p.etaSeconds === null
      ? 'time left unknown'
      : `about ${formatDuration(p.etaSeconds * 1000)} left`,
    `${p.shardsDone} of ${p.shardsTotal} shards`
  ];
  return parts.join(' · ');
}
