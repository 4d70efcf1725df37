import { defineConfig } from '@playwright/test';
import { BASE_URL, CHROMIUM_ARGS, CHROMIUM_PATH, TEST_PORT } from './tests/e2e/browser';

export default defineConfig({
  testDir: 'tests/e2e',
  outputDir: '.test-output/e2e',
  timeout: 120_000,
  expect: { timeout: 15_000 },
  workers: 2,
  retries: 0,
  // scripts/test.mjs asks for a JSON report too, to print the closing counts.
  reporter: process.env.PW_JSON_REPORT
    ? [['list'], ['json', { outputFile: process.env.PW_JSON_REPORT }]]
    : 'list',
  use: {
    baseURL: BASE_URL,
    acceptDownloads: true,
    launchOptions: { executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS },
    trace: 'retain-on-failure'
  },
  // Tests tagged @alone time the page: `npm test` runs them after the others (scripts/test.mjs),
  // with the machine to themselves.
  projects: [
    { name: 'browser', grepInvert: /@alone/ },
    { name: 'alone', grep: /@alone/ }
  ],
  webServer: {
    command: 'node scripts/serve.mjs',
    url: BASE_URL,
    env: { PORT: String(TEST_PORT) },
    reuseExistingServer: !process.env.CI
  }
});
