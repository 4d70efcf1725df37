import { defineConfig } from '@playwright/test';
import { BASE_URL, TEST_PORT } from './tests/e2e/browser';

/** `npm run chaos`: one long run with real faults that prints its figures. */
export default defineConfig({
  testDir: 'tests/chaos',
  outputDir: '.test-output/chaos',
  timeout: 900_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: 'list',
  use: { baseURL: BASE_URL, acceptDownloads: true },
  webServer: {
    command: 'node scripts/serve.mjs',
    url: BASE_URL,
    env: { PORT: String(TEST_PORT) },
    reuseExistingServer: !process.env.CI
  }
});
