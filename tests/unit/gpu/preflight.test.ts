import { describe, expect, it } from 'vitest';
import { formatMiB } from '$lib/shared/figures';
import { PREFLIGHT_CHUNK_BYTES, planBuffers } from '$lib/gpu/preflight';

const MiB = 1024 * 1024;

describe('planBuffers', () => {
  const plan = {
    weightsBytes: 600 * MiB + 2,
    activationBytes: 100 * MiB,
    kvBytes: 4096 * 57_344,
    totalBytes: 0,
    contextWindow: 4096
  };

  it('splits each part into pieces of at most 256 MiB, in multiples of 4 bytes, covering every byte', () => {
    const chunks = planBuffers(plan, 1024 * MiB);
    expect(chunks.map((c) => [c.label, c.bytes])).toEqual([
      ['model weights', PREFLIGHT_CHUNK_BYTES],
      ['model weights', PREFLIGHT_CHUNK_BYTES],
      ['model weights', 88 * MiB + 4],
      ['activations', 100 * MiB],
      ['KV cache', 224 * MiB]
    ]);
  });

  it('never exceeds a smaller maxBufferSize', () => {
    const chunks = planBuffers(plan, 128 * MiB);
    expect(Math.max(...chunks.map((c) => c.bytes))).toBe(128 * MiB);
    const weights = chunks.filter((c) => c.label === 'model weights');
    expect(weights).toHaveLength(5);
    expect(weights.reduce((sum, c) => sum + c.bytes, 0)).toBe(600 * MiB + 4);
  });

  it('prints megabytes as people read them', () => {
    expect(formatMiB(5_900 * MiB)).toBe('5,900 MiB');
  });
});
