#!/usr/bin/env node
/**
 * `npm run bench:gpu`: batched decoding's tokens per second at 1, 2, 4 and 8 sequences at once
 * on this machine's GPU (bench/real-batch.spec.ts with LOCALBATCH_BENCH_GPU=1). The model comes
 * from WebLLM's hosts the first time (about 4-5 GB for Qwen2.5-7B) and stays in
 * .test-output/gpu-profile. docs/testing.md, "On your GPU".
 */
import { spawnSync } from 'node:child_process';

const run = spawnSync(
  'npx',
  ['playwright', 'test', '-c', 'playwright.bench.config.ts', 'real-batch'],
  { stdio: 'inherit', env: { ...process.env, LOCALBATCH_BENCH_GPU: '1' } }
);
process.exit(run.status ?? 1);
