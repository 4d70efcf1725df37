/**
 * How tests start Chromium: Debian's chromium (Playwright cannot download its
 * own here) with WebGPU on a software adapter (SwiftShader, or Mesa's lavapipe where
 * LOCALBATCH_WEBGPU says so: scripts/webgpu-adapter.mjs), and every host but localhost
 * unresolvable, so no test can reach the network.
 */
import { existsSync } from 'node:fs';
import { WEBGPU_ADAPTER_ARGS, adapterFromEnv } from '../../scripts/webgpu-adapter.mjs';

export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

/** Every browser test's flags but the WebGPU adapter's. */
export const BASE_CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--no-default-browser-check',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  // Headless Chromium answers every save dialog (showSaveFilePicker) at once with the
  // AbortError of a user who closed it (measured). Without the picker, exports download,
  // as in browsers that have none; tests of the picker path hand the page one of their own.
  '--disable-blink-features=FileSystemAccessLocal'
];

/** The software WebGPU adapter of this run: SwiftShader unless LOCALBATCH_WEBGPU names another. */
const WEBGPU_ADAPTER = adapterFromEnv(process.env.LOCALBATCH_WEBGPU, 'swiftshader');

/**
 * How much longer than on lavapipe WebLLM's real runtime takes on this run's adapter: SwiftShader
 * decodes about eight times slower and reads prompts about twice (docs/testing.md). The real
 * tests' waits are guards against a hang, not speed checks, so they stretch by it.
 */
export const SLOWDOWN = WEBGPU_ADAPTER === 'swiftshader' ? 4 : 1;

export const CHROMIUM_ARGS = [...BASE_CHROMIUM_ARGS, ...WEBGPU_ADAPTER_ARGS[WEBGPU_ADAPTER]];

export const TEST_PORT = Number(process.env.TEST_PORT ?? 4317);
export const BASE_URL = `http://localhost:${TEST_PORT}`;
