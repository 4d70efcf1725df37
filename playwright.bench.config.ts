import { defineConfig } from '@playwright/test';
import { BASE_URL, CHROMIUM_ARGS, CHROMIUM_PATH, TEST_PORT } from './tests/e2e/browser';

/** `npm run bench`: one browser session that measures and prints LocalBatch's figures. */
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
  webServer: {
    command: 'node scripts/serve.mjs',
    url: BASE_URL,
    env: { PORT: String(TEST_PORT) },
    reuseExistingServer: !process.env.CI
  }
});
