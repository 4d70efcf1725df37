import { defineConfig } from '@playwright/test';
import { BASE_URL, SLOWDOWN, TEST_PORT } from './tests/e2e/browser';

/**
 * `npm run test:real` (scripts/test-real.mjs): the real WebLLM runtime on the test kit
 * (tests/real/kit-mirror.ts), on lavapipe or SwiftShader (LOCALBATCH_WEBGPU). One worker: the
 * tests share its browser and downloaded model (tests/real/kit-fixture.ts); a token costs about
 * 4.5 s on lavapipe here and 35 s on SwiftShader.
 */
export default defineConfig({
  testDir: 'tests/real',
  outputDir: '.test-output/real',
  timeout: 600_000 * SLOWDOWN,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: process.env.PW_JSON_REPORT
    ? [['list'], ['json', { outputFile: process.env.PW_JSON_REPORT }]]
    : 'list',
  use: { baseURL: BASE_URL, acceptDownloads: true, trace: 'retain-on-failure' },
  webServer: {
    command: 'node scripts/serve.mjs',
    url: BASE_URL,
    env: { PORT: String(TEST_PORT) },
    // test:real builds first: a server left from before would serve the old build's file list.
    reuseExistingServer: false
  }
});
