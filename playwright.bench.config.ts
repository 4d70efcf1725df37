import { defineConfig } from '@playwright/test';
import { BASE_URL, CHROMIUM_ARGS, CHROMIUM_PATH, TEST_PORT } from './tests/e2e/browser';

/**
 * `npm run bench`: one browser session that measures and prints LocalBatch's figures, then
 * the real runtime's batched decoding where the model libraries are given (bench/real-batch.spec.ts).
 */
export default defineConfig({
  testDir: 'bench',
  outputDir: '.test-output/bench',
  timeout: 1_800_000,
  expect: { timeout: 30_000 },
  workers: 1,
  retries: 0,
  reporter: 'list',
  use: {
    baseURL: BASE_URL,
    acceptDownloads: true,
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS }
  },
  // bench:gpu measures WebLLM alone (bench/real-batch.spec.ts): no app server.
  webServer: process.env.LOCALBATCH_BENCH_GPU
    ? undefined
    : {
        command: 'node scripts/serve.mjs',
        url: BASE_URL,
        env: { PORT: String(TEST_PORT) },
        reuseExistingServer: !process.env.CI
      }
});
