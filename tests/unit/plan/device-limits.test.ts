import { describe, expect, it } from 'vitest';
import { WEBLLM_MIN_LIMITS, webllmDeviceLimits } from '$lib/plan/device-limits';
import { MiB, GiB, NVIDIA, MOBILE_256 } from './adapters';

describe('WebLLM device limits', () => {
  it('asks 1 GiB where offered, else 256 MiB buffers and 128 MiB bindings', () => {
    expect(webllmDeviceLimits(NVIDIA)).toEqual({
      maxBufferSize: GiB,
      maxStorageBufferBindingSize: GiB
    });
    expect(webllmDeviceLimits(MOBILE_256)).toEqual({
      maxBufferSize: 256 * MiB,
      maxStorageBufferBindingSize: 128 * MiB
    });
    expect(WEBLLM_MIN_LIMITS.maxComputeWorkgroupStorageSize).toBe(32768);
    expect(WEBLLM_MIN_LIMITS.maxStorageBuffersPerShaderStage).toBe(10);
  });
});
