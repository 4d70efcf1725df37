/** Adapters as browsers report them, for the plan's tests. */
import type { AdapterFacts } from '$lib/plan/types';

const KiB = 1024;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export function adapter(
  facts: Partial<Omit<AdapterFacts, 'limits'>>,
  limits: Partial<AdapterFacts['limits']> = {}
): AdapterFacts {
  return {
    vendor: 'nvidia',
    architecture: 'ampere',
    description: '',
    isFallbackAdapter: false,
    features: ['shader-f16', 'subgroups'],
    deviceMemoryGB: 8,
    ...facts,
    limits: {
      maxBufferSize: 2 * GiB,
      maxStorageBufferBindingSize: 2 * GiB,
      maxComputeWorkgroupStorageSize: 32 * KiB,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
      maxStorageBuffersPerShaderStage: 10,
      ...limits
    }
  };
}

export const SWIFTSHADER = adapter(
  {
    vendor: 'google',
    architecture: 'swiftshader',
    description: 'SwiftShader Device (Subzero)',
    isFallbackAdapter: true,
    features: []
  },
  { maxBufferSize: GiB, maxStorageBufferBindingSize: GiB }
);
export const NVIDIA = adapter({ vendor: 'nvidia', architecture: 'ampere', deviceMemoryGB: 8 });
export const NVIDIA_NO_F16 = adapter({ vendor: 'nvidia', architecture: 'pascal', features: [] });
export const AMD = adapter({ vendor: 'amd', architecture: 'rdna-3' });
export const APPLE = adapter({ vendor: 'apple', architecture: 'metal-3', deviceMemoryGB: 8 });
export const INTEL = adapter({ vendor: 'intel', architecture: 'gen-12lp', deviceMemoryGB: 8 });
export const INTEL_ARC = adapter({ vendor: 'intel', architecture: 'xe-hpg', deviceMemoryGB: 8 });
export const MOBILE_256 = adapter(
  { vendor: 'qualcomm', architecture: 'adreno-7xx', deviceMemoryGB: 8 },
  { maxBufferSize: 256 * MiB, maxStorageBufferBindingSize: 256 * MiB }
);
export const MOBILE_BUFFER_512 = adapter(
  { vendor: 'arm', architecture: 'valhall', deviceMemoryGB: 8 },
  { maxBufferSize: 512 * MiB, maxStorageBufferBindingSize: GiB }
);
/**
 * Mesa's lavapipe as Chromium 156 offers it (measured: ANGLE on Vulkan, Dawn's OpenGL ES
 * backend, compatibility mode): no vendor or architecture, not a fallback, 128 MiB bindings.
 * Chromium shows the description only with --enable-webgpu-developer-features.
 */
const LAVAPIPE_LIMITS = {
  maxBufferSize: 2 * GiB,
  maxStorageBufferBindingSize: 128 * MiB,
  maxStorageBuffersPerShaderStage: 16
};
const LAVAPIPE_FEATURES = [
  'dual-source-blending',
  'float32-blendable',
  'texture-component-swizzle',
  'texture-compression-bc',
  'texture-compression-etc2'
];
export const LAVAPIPE = adapter(
  {
    vendor: '',
    architecture: '',
    description:
      'ANGLE (Mesa, Vulkan 1.3.230 (llvmpipe (LLVM 15.0.6 256 bits) (0x00000000)), llvmpipe-0.0.1)',
    features: LAVAPIPE_FEATURES
  },
  LAVAPIPE_LIMITS
);
export const LAVAPIPE_UNNAMED = adapter(
  { vendor: '', architecture: '', description: '', features: LAVAPIPE_FEATURES },
  LAVAPIPE_LIMITS
);
export const SMALL_WORKGROUP = adapter({}, { maxComputeWorkgroupStorageSize: 16 * KiB });
export const FEW_BUFFERS = adapter({}, { maxStorageBuffersPerShaderStage: 8 });
