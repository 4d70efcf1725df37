/**
 * Reads what WebGPU reports about this machine: limits, features, adapter
 * info, and navigator.deviceMemory. Works on the page and in the worker.
 */
import type { AdapterFacts } from '$lib/plan/types';

export type ProbeResult =
  { ok: true; facts: AdapterFacts; adapter: GPUAdapter } | { ok: false; reason: string };

function adapterFacts(adapter: GPUAdapter, deviceMemoryGB: number | null): AdapterFacts {
  const { limits, info } = adapter;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    description: info.description,
    isFallbackAdapter: Boolean(
      (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
      (adapter as GPUAdapter & { isFallbackAdapter?: boolean }).isFallbackAdapter
    ),
    features: [...adapter.features].sort(),
    limits: {
      maxBufferSize: limits.maxBufferSize,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage
    },
    deviceMemoryGB
  };
}

/**
 * requestAdapter, asked again a few times: right after a GPU-process crash
 * the browser answers null until its new GPU process is up.
 */
async function requestAdapter(gpu: GPU, tries = 5, delayMs = 600): Promise<GPUAdapter | null> {
  for (let attempt = 1; ; attempt++) {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter || attempt >= tries) return adapter;
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

export async function probeAdapter(): Promise<ProbeResult> {
  const nav = globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined;
  if (!nav?.gpu) {
    return {
      ok: false,
      reason:
        'This browser does not offer WebGPU. Use Chrome or Edge 113+ (or Chrome on Linux with WebGPU enabled) on a secure page.'
    };
  }
  const adapter = await requestAdapter(nav.gpu);
  if (!adapter) {
    return {
      ok: false,
      reason:
        'The browser gave no WebGPU adapter: the GPU may be blocked (after a GPU crash Chrome blocks WebGPU until the page reloads) or unsupported.'
    };
  }
  return { ok: true, facts: adapterFacts(adapter, nav.deviceMemory ?? null), adapter };
}

/** There is no adapter; the message says why (the engines turn it into EngineError('no-webgpu')). */
export class NoAdapterError extends Error {
  override readonly name = 'NoAdapterError';
}

/** An adapter, or NoAdapterError that says why there is none. */
export async function requireAdapter(): Promise<GPUAdapter> {
  const probe = await probeAdapter();
  if (!probe.ok) throw new NoAdapterError(probe.reason);
  return probe.adapter;
}
