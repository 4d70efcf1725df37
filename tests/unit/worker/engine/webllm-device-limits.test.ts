/**
 * patches/@mlc-ai+web-llm+0.2.79.patch: the device WebLLM requests asks for the workgroup
 * limits the model libraries' 256-wide kernels need, the smaller of 256 and what the adapter
 * offers. Run through WebLLM's own device request (tvmjs's detectGPUDevice, reached by
 * MLCEngine.getMaxStorageBufferBindingSize) against a fake adapter that records what it is asked.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MLCEngine } from '@mlc-ai/web-llm';

type Limits = Record<string, number>;

/** An adapter with these limits; `asked` gets the descriptor of every requestDevice. */
function fakeAdapter(limits: Limits, asked: GPUDeviceDescriptor[]) {
  return {
    limits,
    features: new Set<string>(),
    info: { vendor: '', architecture: '', device: '', description: '' },
    requestDevice(descriptor: GPUDeviceDescriptor) {
      asked.push(descriptor);
      return Promise.resolve({ limits: { ...limits, ...descriptor.requiredLimits } });
    }
  };
}

/** What WebLLM asks of an adapter with `limits`. */
async function requestedLimits(limits: Limits): Promise<Record<string, number>> {
  const asked: GPUDeviceDescriptor[] = [];
  vi.stubGlobal('navigator', {
    gpu: { requestAdapter: () => Promise.resolve(fakeAdapter(limits, asked)) }
  });
  await new MLCEngine().getMaxStorageBufferBindingSize();
  expect(asked).toHaveLength(1);
  return asked[0]!.requiredLimits as Record<string, number>;
}

/** The adapters of this machine's Chromium 156 (measured): SwiftShader (core) and lavapipe (compat). */
const SWIFTSHADER: Limits = {
  maxBufferSize: 1 << 30,
  maxStorageBufferBindingSize: 1 << 30,
  maxComputeWorkgroupStorageSize: 32768,
  maxStorageBuffersPerShaderStage: 10,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
  maxComputeWorkgroupSizeY: 256
};
const LAVAPIPE: Limits = {
  maxBufferSize: 2 ** 31,
  maxStorageBufferBindingSize: 1 << 27,
  maxComputeWorkgroupStorageSize: 32768,
  maxStorageBuffersPerShaderStage: 16,
  maxComputeInvocationsPerWorkgroup: 1024,
  maxComputeWorkgroupSizeX: 1024,
  maxComputeWorkgroupSizeY: 1024
};

beforeEach(() => {
  // WebLLM prints its fallbacks ("Requested maxBufferSize exceeds limit...") as it goes.
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('the patched WebLLM device request', () => {
  it('asks a compatibility-mode adapter for 256-wide workgroups (its default is 128)', async () => {
    const limits = await requestedLimits(LAVAPIPE);
    expect(limits).toMatchObject({
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
      maxComputeWorkgroupSizeY: 256,
      // WebLLM's own fallbacks are untouched: 128 MiB where 1 GiB is not offered.
      maxStorageBufferBindingSize: 1 << 27,
      maxBufferSize: 1 << 30
    });
  });

  it('asks a core adapter for what a core device has by default (256), so its device is unchanged', async () => {
    const limits = await requestedLimits(SWIFTSHADER);
    // WebGPU's core defaults: 256 invocations, 256 x 256 x 64 workgroup sizes.
    expect(limits).toMatchObject({
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
      maxComputeWorkgroupSizeY: 256
    });
    expect(Object.keys(limits).sort()).toEqual([
      'maxBufferSize',
      'maxComputeInvocationsPerWorkgroup',
      'maxComputeWorkgroupSizeX',
      'maxComputeWorkgroupSizeY',
      'maxComputeWorkgroupStorageSize',
      'maxStorageBufferBindingSize',
      'maxStorageBuffersPerShaderStage'
    ]);
  });

  it('never asks for more than the adapter offers', async () => {
    const limits = await requestedLimits({
      ...LAVAPIPE,
      maxComputeInvocationsPerWorkgroup: 192,
      maxComputeWorkgroupSizeX: 128,
      maxComputeWorkgroupSizeY: 64
    });
    expect(limits).toMatchObject({
      maxComputeInvocationsPerWorkgroup: 192,
      maxComputeWorkgroupSizeX: 128,
      maxComputeWorkgroupSizeY: 64
    });
  });
});
