/**
 * How tests start Chromium: Debian's chromium (Playwright cannot download its
 * own here) with WebGPU on (SwiftShader), and every host but localhost
 * unresolvable, so no test can reach the network.
 */
import { existsSync } from 'node:fs';

export const CHROMIUM_PATH =
  process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

export const CHROMIUM_ARGS = [
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

export const TEST_PORT = Number(process.env.TEST_PORT ?? 4317);
export const BASE_URL = `http://localhost:${TEST_PORT}`;
