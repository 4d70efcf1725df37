// Benchmark: does a job of 100,000 items resume as fast as a job of 10, and as fast with
// 1,000 scattered items already finished (imported from a results file) as with none?
// Builds nothing: run `npm run build` first (`npm run bench:resume` does).
// In one browser, side by side, for each job it measures
//   open:   navigation to the job page until the progress bar shows the count
//   resume: click on Resume until the next item is committed
// and prints the median of several rounds.
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

const PORT = Number(process.env.BENCH_PORT ?? 4391);
const BASE = `http://localhost:${PORT}`;
const CASES = [
  { size: 10, scattered: 0 },
  { size: 100_000, scattered: 0 },
  { size: 100_000, scattered: 1000 }
];
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const executablePath =
  process.env.CHROMIUM_PATH ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);

function batch(count) {
  const lines = [];
  for (let i = 1; i <= count; i++) {
    lines.push(
      JSON.stringify({ custom_id: `q-${i}`, prompt: `Question ${i}: what is ${i} + ${i}?` })
    );
  }
  return {
    name: `bench-${count}.jsonl`,
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

/** A results file answering `count` items spread over the job (every 97th from the 50th). */
function scatteredResults(count) {
  const lines = [];
  for (let i = 0; i < count; i++) {
    const n = 50 + i * 97;
    lines.push(
      JSON.stringify({
        id: `batch_req_x_${n}`,
        custom_id: `q-${n}`,
        response: {
          status_code: 200,
          request_id: `x-${n}`,
          body: {
            object: 'chat.completion',
            model: 'bench',
            choices: [
              {
                index: 0,
                message: { role: 'assistant', content: `answer ${n}` },
                finish_reason: 'stop'
              }
            ],
            usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 }
          }
        },
        error: null
      })
    );
  }
  return {
    name: 'scattered.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const server = spawn(process.execPath, ['scripts/serve.mjs'], {
  env: { ...process.env, PORT: String(PORT) },
  stdio: 'ignore'
});
try {
  for (let i = 0; i < 50; i++) {
    if (
      await fetch(BASE).then(
        (r) => r.ok,
        () => false
      )
    )
      break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const browser = await chromium.launch({
    executablePath,
    args: ['--enable-unsafe-webgpu', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost']
  });
  const page = await browser.newPage();
  const rows = [];
  for (const { size, scattered } of CASES) {
    const importStart = Date.now();
    await page.goto(`${BASE}/?engine=simulated&tokenDelayMs=5`);
    await page.getByLabel('Prompt file').setInputFiles(batch(size));
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await page.waitForURL(/\/jobs\//, { timeout: 300_000 });
    const importMs = Date.now() - importStart;
    const jobUrl = page.url();
    if (scattered) {
      await page
        .getByLabel('Import results into this job')
        .setInputFiles(scatteredResults(scattered));
      await page
        .getByTestId('import-report')
        .filter({ hasText: `Imported ${scattered.toLocaleString('en')} results` })
        .waitFor({ timeout: 120_000 });
    }
    await page.getByRole('button', { name: /^(Start|Resume)$/ }).click();
    const opens = [];
    const resumes = [];
    for (let round = 0; round < ROUNDS; round++) {
      const bar = page.getByRole('progressbar', { name: 'Job progress' });
      await page.waitForFunction(
        () =>
          Number(document.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow')) > 0
      );
      await page.getByRole('button', { name: 'Pause', exact: true }).click();
      await page.getByRole('status').filter({ hasText: 'Paused' }).waitFor();

      const t0 = Date.now();
      await page.goto(jobUrl);
      await page.getByRole('button', { name: 'Resume', exact: true }).waitFor();
      const before = Number(await bar.getAttribute('aria-valuenow'));
      opens.push(Date.now() - t0);

      // Timed inside the page: click Resume, resolve on the next commit.
      resumes.push(
        await page.evaluate(
          (before) =>
            new Promise((resolve) => {
              const bar = document.querySelector('[role=progressbar]');
              const button = [...document.querySelectorAll('button')].find(
                (b) => b.textContent?.trim() === 'Resume'
              );
              const start = performance.now();
              new MutationObserver((_, observer) => {
                if (Number(bar.getAttribute('aria-valuenow')) > before) {
                  observer.disconnect();
                  resolve(performance.now() - start);
                }
              }).observe(bar, { attributes: true });
              button.click();
            }),
          before
        )
      );
    }
    rows.push({ size, scattered, importMs, openMs: median(opens), resumeMs: median(resumes) });
  }
  await browser.close();

  console.log(`\nResume benchmark (simulated engine, median of ${ROUNDS} rounds, one browser)`);
  console.log('items     finished before  import+store  open job page  Resume -> next commit');
  for (const r of rows) {
    console.log(
      `${String(r.size).padEnd(9)} ${String(r.scattered).padStart(15)}  ${`${r.importMs} ms`.padStart(12)}  ${`${r.openMs} ms`.padStart(13)}  ${`${r.resumeMs.toFixed(1)} ms`.padStart(21)}`
    );
  }
  const [small, large, scattered] = rows;
  console.log(
    `\nResume ratio 100,000 / 10 items: ${(large.resumeMs / small.resumeMs).toFixed(2)}x`
  );
  console.log(
    `Resume ratio 100,000 items with 1,000 scattered finished / with none: ${(scattered.resumeMs / large.resumeMs).toFixed(2)}x`
  );
} finally {
  server.kill();
}
