import { describe, expect, it } from 'vitest';
import { adapterKind, describeKind } from '$lib/plan/adapter-kind';
import type { AdapterFacts } from '$lib/plan/types';

function facts(named: Partial<AdapterFacts>): AdapterFacts {
  return {
    vendor: '',
    architecture: '',
    description: '',
    isFallbackAdapter: false,
    features: [],
    limits: {
      maxBufferSize: 1 << 30,
      maxStorageBufferBindingSize: 1 << 30,
      maxComputeWorkgroupStorageSize: 32768,
      maxComputeInvocationsPerWorkgroup: 256,
      maxComputeWorkgroupSizeX: 256,
      maxStorageBuffersPerShaderStage: 10
    },
    deviceMemoryGB: 8,
    ...named
  };
}

describe('adapterKind', () => {
  const cases: [string, Partial<AdapterFacts>, string][] = [
    // Chromium 156 here, measured.
    [
      'SwiftShader (Chromium marks it a fallback)',
      { vendor: 'google', architecture: 'swiftshader', isFallbackAdapter: true },
      'software GPU (SwiftShader, on the CPU)'
    ],
    [
      'SwiftShader by its name alone',
      { description: 'SwiftShader Device (Subzero)' },
      'software GPU (SwiftShader, on the CPU)'
    ],
    [
      'lavapipe: not a fallback, llvmpipe in its description',
      {
        description:
          'ANGLE (Mesa, Vulkan 1.3.230 (llvmpipe (LLVM 15.0.6 256 bits) (0x00000000)), llvmpipe-0.0.1)'
      },
      "software GPU (Mesa's llvmpipe, on the CPU)"
    ],
    ['lavapipe by name', { description: 'lavapipe' }, "software GPU (Mesa's llvmpipe, on the CPU)"],
    [
      'WARP on Windows',
      { vendor: 'microsoft', description: 'Microsoft Basic Render Driver' },
      "software GPU (Microsoft's WARP, on the CPU)"
    ],
    [
      'a fallback adapter with no name',
      { isFallbackAdapter: true },
      'software GPU (a fallback adapter, on the CPU)'
    ],
    ['lavapipe without developer features: nothing named', {}, 'a GPU the browser does not name'],
    ['NVIDIA', { vendor: 'nvidia', architecture: 'ampere' }, 'discrete GPU'],
    ['Apple', { vendor: 'apple', architecture: 'metal-3' }, 'integrated GPU'],
    ['Intel integrated', { vendor: 'intel', architecture: 'gen-12lp' }, 'integrated GPU'],
    ['Intel Arc', { vendor: 'intel', architecture: 'xe-hpg' }, 'discrete GPU'],
    [
      'an AMD APU by its description',
      { vendor: 'amd', description: 'AMD Radeon(TM) Graphics (integrated)' },
      'integrated GPU'
    ]
  ];
  for (const [name, named, words] of cases) {
    it(name, () => {
      expect(describeKind(adapterKind(facts(named)))).toBe(words);
    });
  }
});
