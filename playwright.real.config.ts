import { defineConfig } from '@playwright/test';
import { BASE_URL, TEST_PORT } from './tests/e2e/browser';

/**
 * `npm run test:real` (scripts/test-real.mjs): the real WebLLM runtime on the test kit
 * (tests/real/kit-mirror.ts). One worker, one browser for the whole file: a model load
 * costs about 30 s and a token about 16 s on SwiftShader.
 */
export default defineConfig({
  testDir: 'tests/real',
  outputDir: '.test-output/real',
  timeout: 600_000,
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
    reuseExistingServer: !process.env.CI
  }
});
