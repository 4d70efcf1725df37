/**
 * What the device WebLLM makes will bind: the limits WebLLM demands and gets, and whether each
 * buffer the kernels bind (the largest weight, the largest scratch buffer, one layer's KV array)
 * fits in one binding. Pure.
 */
import { GIB, KIB, MIB, formatCount, formatMiB } from '$lib/shared/figures';
import { KV_PAGE_TOKENS, kvTokens, roundDownToWindow } from './kv-cache';
import { kvBytesPerToken } from './catalog';
import type { AdapterFacts, ModelSpec } from './types';

/**
 * What WebLLM 0.2.79's `detectGPUDevice` demands (tvmjs in lib/index.js). It asks
 * for `preferred` and, if the adapter offers less, for `accepted`; below that it
 * throws. Note: the device then has exactly what was asked, so an adapter with
 * a 256 MB binding limit gets a 128 MB one.
 */
export const WEBLLM_MIN_LIMITS = {
  maxBufferSize: { preferred: GIB, accepted: 256 * MIB },
  maxStorageBufferBindingSize: { preferred: GIB, accepted: 128 * MIB },
  maxComputeWorkgroupStorageSize: 32 * KIB,
  maxStorageBuffersPerShaderStage: 10
} as const;

function sizeOf(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return formatMiB(bytes);
  if (bytes >= KIB && bytes % KIB === 0)
    return `${formatCount(bytes)} bytes (${formatCount(bytes / KIB)} KiB)`;
  return `${formatCount(bytes)} bytes`;
}

/** The sentence for the first minimum limit WebLLM would reject, or null. */
export function limitProblem(adapter: AdapterFacts): string | null {
  const l = adapter.limits;
  const min = WEBLLM_MIN_LIMITS;
  const checks: [keyof AdapterFacts['limits'], number][] = [
    ['maxBufferSize', min.maxBufferSize.accepted],
    ['maxStorageBufferBindingSize', min.maxStorageBufferBindingSize.accepted],
    ['maxComputeWorkgroupStorageSize', min.maxComputeWorkgroupStorageSize],
    ['maxStorageBuffersPerShaderStage', min.maxStorageBuffersPerShaderStage]
  ];
  for (const [name, needed] of checks) {
    const value = l[name];
    if (value < needed) {
      const show = name === 'maxStorageBuffersPerShaderStage' ? formatCount : sizeOf;
      return `This GPU's ${name} is ${show(value)}, but WebLLM needs at least ${show(needed)}, so no model can run on it.`;
    }
  }
  return null;
}

/** The limits the device WebLLM creates will have (it asks for 1 GB, else the accepted minimum). */
export function webllmDeviceLimits(adapter: AdapterFacts): {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
} {
  const pick = (offered: number, want: { preferred: number; accepted: number }) =>
    offered >= want.preferred ? want.preferred : want.accepted;
  return {
    maxBufferSize: pick(adapter.limits.maxBufferSize, WEBLLM_MIN_LIMITS.maxBufferSize),
    maxStorageBufferBindingSize: pick(
      adapter.limits.maxStorageBufferBindingSize,
      WEBLLM_MIN_LIMITS.maxStorageBufferBindingSize
    )
  };
}

/**
 * Why a buffer the kernels bind cannot be one buffer on this device, or null: the model's
 * largest weight tensor, or the largest scratch buffer of the functions it runs (with several
 * sequences at once, the batch functions').
 */
export function tensorProblem(
  model: ModelSpec,
  adapter: AdapterFacts,
  sequences = 1
): string | null {
  const device = webllmDeviceLimits(adapter);
  const scratch = sequences > 1 ? model.largestScratch.batch : model.largestScratch.single;
  const buffers: [string, number][] = [
    ['largest weight tensor', model.largestTensorBytes],
    [
      sequences > 1
        ? 'largest scratch buffer with several sequences at once (a prefill chunk through its widest layer, or the batch functions’ logits)'
        : 'largest scratch buffer (a prefill chunk through its widest layer)',
      scratch
    ]
  ];
  for (const [what, bytes] of buffers) {
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
      const limit = device[name];
      if (bytes > limit) {
        const asked =
          limit < adapter.limits[name]
            ? ` (WebLLM asks for ${formatMiB(WEBLLM_MIN_LIMITS[name].preferred)} only where the GPU offers it; this one offers ${formatMiB(adapter.limits[name])}, so it gets ${formatMiB(limit)})`
            : '';
        return `${model.family}'s ${what} is ${formatMiB(bytes)} (${formatCount(bytes)} bytes), more than the ${formatMiB(limit)} ${name} of this GPU${asked}.`;
      }
    }
  }
  return null;
}

/**
 * Bytes of one layer's KV array: the runtime's paged cache keeps each layer's keys and values
 * for every page in one buffer ([pages, 2, KV heads, 16, head dim]).
 */
export function kvLayerBytes(model: ModelSpec, window: number, sequences: number): number {
  return kvTokens(window, sequences) * (kvBytesPerToken(model) / model.layers);
}

/**
 * The largest buffer the kernels bind on the device WebLLM makes (the storage binding limit, or
 * the buffer size limit where that is smaller), and what it leaves a layer's KV array: the
 * largest window for `sequences`, and the most sequences for a window.
 */
export function kvBinding(model: ModelSpec, adapter: AdapterFacts) {
  const device = webllmDeviceLimits(adapter);
  const limit: keyof typeof device =
    device.maxStorageBufferBindingSize <= device.maxBufferSize
      ? 'maxStorageBufferBindingSize'
      : 'maxBufferSize';
  const bytes = device[limit];
  const tokens = Math.floor(bytes / (kvBytesPerToken(model) / model.layers)) - KV_PAGE_TOKENS;
  return {
    limit,
    bytes,
    cap: (sequences: number) => roundDownToWindow(tokens / sequences),
    sequencesAt: (window: number) => Math.floor(tokens / window)
  };
}
