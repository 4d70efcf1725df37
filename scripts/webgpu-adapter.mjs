// Which software WebGPU adapter the browser tests run on, and the Chromium flags for each.
//
// - swiftshader: Google's CPU Vulkan in Chromium, WebGPU in core mode (npm test, always).
// - lavapipe: Mesa's Vulkan CPU driver (Debian: mesa-vulkan-drivers), reached through Dawn's
//   OpenGL ES backend on ANGLE on Vulkan, in WebGPU compatibility mode. WebLLM's kernels run
//   about ten times faster there (docs/testing.md), so `npm run test:real` takes it when it is
//   installed. Its storage buffer bindings stop at 128 MiB.
//
// LOCALBATCH_WEBGPU=swiftshader|lavapipe forces one.
import { createServer } from 'node:http';

/** @typedef {'swiftshader' | 'lavapipe'} SoftwareAdapter */

/** @type {Record<SoftwareAdapter, string[]>} */
export const WEBGPU_ADAPTER_ARGS = {
  swiftshader: ['--use-webgpu-adapter=swiftshader'],
  // Chromium names an adapter (its description: "... llvmpipe ...") only with developer
  // features on; without them lavapipe's vendor, architecture and description are blank and the
  // plan cannot tell it is a software GPU (it says so).
  // Chromium's GPU blocklist marks llvmpipe: after a GPU-process crash the new GPU process
  // then runs SwiftShader (--use-angle=swiftshader-webgl), and a test of a kill would finish
  // ten times slower on another adapter (measured). --ignore-gpu-blocklist keeps lavapipe.
  lavapipe: [
    '--use-angle=vulkan',
    '--use-webgpu-adapter=opengles',
    '--force-webgpu-compat',
    '--enable-webgpu-developer-features',
    '--ignore-gpu-blocklist'
  ]
};

/**
 * The adapter LOCALBATCH_WEBGPU names, `fallback` when it names none.
 * @template {SoftwareAdapter | undefined} F
 * @param {string | undefined} value
 * @param {F} fallback
 * @returns {SoftwareAdapter | F}
 */
export function adapterFromEnv(value, fallback) {
  if (value === undefined || value === '') return fallback;
  if (value === 'swiftshader' || value === 'lavapipe') return value;
  throw new Error(`LOCALBATCH_WEBGPU is "${value}": it takes swiftshader or lavapipe.`);
}

/**
 * What Chromium offers with `adapter`'s flags: the adapter's description (Chromium shows it
 * with --enable-webgpu-developer-features only) and whether it is compatibility mode, or null
 * when it offers no adapter.
 * @param {string | undefined} executablePath
 * @param {SoftwareAdapter} adapter
 * @returns {Promise<{ description: string, compat: boolean } | null>}
 */
export async function probeAdapter(executablePath, adapter) {
  const { chromium } = await import('@playwright/test');
  const server = createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html' });
    response.end('<!doctype html><title>probe</title>');
  });
  await new Promise((done) => server.listen(0, '127.0.0.1', () => done(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const browser = await chromium.launch({
    executablePath,
    args: [
      '--enable-unsafe-webgpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--enable-webgpu-developer-features',
      ...WEBGPU_ADAPTER_ARGS[adapter]
    ]
  });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${port}/`);
    return await page.evaluate(async () => {
      const found = await navigator.gpu?.requestAdapter();
      if (!found) return null;
      return {
        description: found.info.description || found.info.architecture || found.info.vendor,
        compat: !found.features.has('core-features-and-limits')
      };
    });
  } finally {
    await browser.close();
    server.close();
  }
}

/** True when the description is Mesa's CPU rasteriser (llvmpipe, lavapipe's engine). */
export const isLavapipe = (/** @type {string} */ description) =>
  /llvmpipe|lavapipe/i.test(description);
