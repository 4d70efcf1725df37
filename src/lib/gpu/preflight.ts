/**
 * Preflight: prove a memory plan on the real device before a 4+ GB download.
 * Allocates the planned buffers (weights in chunks no larger than
 * maxBufferSize, activations, KV cache) inside error scopes, touches each,
 * frees them all, and says whether the plan fits, with the numbers.
 */
import { allocatorFor, type Allocation } from './allocator';
import { MIB, formatCount, formatMiB } from '$lib/shared/figures';
import type { PlannedMemory } from '$lib/plan/types';

export interface PreflightResult {
  fits: boolean;
  plannedBytes: number;
  allocatedBytes: number;
  /** The part that did not fit, or null. */
  failedAt: string | null;
  /** One or two sentences for the user, with the numbers. */
  message: string;
  ms: number;
}

export type PreflightPlan = Pick<
  PlannedMemory,
  'weightsBytes' | 'activationBytes' | 'kvBytes' | 'totalBytes' | 'contextWindow'
>;

/**
 * Pieces no larger than this: WebLLM uploads weights tensor by tensor (the
 * largest about 260 MB), and drivers refuse single allocations far below the
 * total they can hold (SwiftShader: a 256 MiB buffer works, a 1 GiB one is
 * out of memory although maxBufferSize is 1 GiB; measured).
 */
export const PREFLIGHT_CHUNK_BYTES = 256 * MIB;

/** The buffers of a plan, split so that no piece is larger than `maxBufferSize`. */
export function planBuffers(
  plan: PreflightPlan,
  maxBufferSize: number
): { label: string; bytes: number }[] {
  const limit = Math.min(maxBufferSize, PREFLIGHT_CHUNK_BYTES);
  const parts = [
    { label: 'model weights', bytes: plan.weightsBytes },
    { label: 'activations', bytes: plan.activationBytes },
    { label: 'KV cache', bytes: plan.kvBytes }
  ];
  const chunks: { label: string; bytes: number }[] = [];
  for (const part of parts) {
    let left = part.bytes;
    while (left > 0) {
      // Buffer sizes must be multiples of 4 bytes.
      const bytes = Math.min(left, Math.floor(limit / 4) * 4);
      chunks.push({ label: part.label, bytes: Math.ceil(bytes / 4) * 4 });
      left -= bytes;
    }
  }
  return chunks;
}

export async function preflight(
  adapter: GPUAdapter,
  plan: PreflightPlan,
  options: { simMemoryMB: number | null }
): Promise<PreflightResult> {
  const started = performance.now();
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize
    }
  });
  let lost = false;
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
  void device.lost.then(() => (lost = true));
  const allocator = allocatorFor(device, options.simMemoryMB);
  const held: Allocation[] = [];
  let failedAt: string | null = null;
  let allocatedBytes = 0;
  try {
    for (const chunk of planBuffers(plan, device.limits.maxBufferSize)) {
      const allocation = lost ? null : await allocator.allocate(chunk.bytes, chunk.label);
      if (!allocation) {
        failedAt = chunk.label;
        break;
      }
      held.push(allocation);
      // Touch the buffer, so a driver that allocates lazily must really provide it.
      device.queue.writeBuffer(allocation.buffer, 0, new Uint32Array([1]));
    }
    if (!failedAt) await Promise.race([device.queue.onSubmittedWorkDone(), device.lost]);
    if (lost && !failedAt) failedAt = 'device itself (it was lost during the check)';
    allocatedBytes = allocator.used;
  } finally {
    for (const allocation of held) allocator.release(allocation);
    device.destroy();
  }
  const fits = failedAt === null;
  const detail = `weights ${formatMiB(plan.weightsBytes)}, activations ${formatMiB(plan.activationBytes)}, KV cache ${formatMiB(plan.kvBytes)} for ${formatCount(plan.contextWindow)} tokens`;
  const message = fits
    ? `Fits: this GPU gave all ${formatMiB(plan.totalBytes)} the plan needs (${detail}), and it was freed again.`
    : `Does not fit: this GPU refused the ${failedAt} after ${formatMiB(allocatedBytes)} of the ${formatMiB(plan.totalBytes)} the plan needs (${detail}). Set a smaller GPU memory figure or a lower max tokens, choose a smaller model, or close other tabs that use the GPU.`;
  return {
    fits,
    plannedBytes: plan.totalBytes,
    allocatedBytes,
    failedAt,
    message,
    ms: performance.now() - started
  };
}
