import { describe, expect, it } from 'vitest';
import {
  WEBGPU_ADAPTER_ARGS,
  adapterFromEnv,
  isLavapipe
} from '../../../scripts/webgpu-adapter.mjs';

describe('the software adapter of a browser test run', () => {
  it('LOCALBATCH_WEBGPU names one, or the caller’s default stands', () => {
    expect(adapterFromEnv('lavapipe', 'swiftshader')).toBe('lavapipe');
    expect(adapterFromEnv('swiftshader', undefined)).toBe('swiftshader');
    expect(adapterFromEnv(undefined, 'swiftshader')).toBe('swiftshader');
    expect(adapterFromEnv('', undefined)).toBeUndefined();
    expect(() => adapterFromEnv('vulkan', 'swiftshader')).toThrow(
      'LOCALBATCH_WEBGPU is "vulkan": it takes swiftshader or lavapipe.'
    );
  });

  it('lavapipe: compatibility mode on OpenGL ES over ANGLE on Vulkan, named, kept after a GPU crash', () => {
    expect(WEBGPU_ADAPTER_ARGS.lavapipe).toEqual([
      '--use-angle=vulkan',
      '--use-webgpu-adapter=opengles',
      '--force-webgpu-compat',
      '--enable-webgpu-developer-features',
      '--ignore-gpu-blocklist'
    ]);
    expect(WEBGPU_ADAPTER_ARGS.swiftshader).toEqual(['--use-webgpu-adapter=swiftshader']);
  });

  it('knows llvmpipe by the description Chromium gives it', () => {
    expect(
      isLavapipe(
        'ANGLE (Mesa, Vulkan 1.3.230 (llvmpipe (LLVM 15.0.6 256 bits) (0x00000000)), llvmpipe-0.0.1)'
      )
    ).toBe(true);
    expect(isLavapipe('SwiftShader Device (Subzero)')).toBe(false);
  });
});
