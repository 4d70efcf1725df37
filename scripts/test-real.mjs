// `npm run test:real`: the real-runtime browser tests (tests/real/), WebLLM's own runtime
// running a real Qwen2 model library on this machine's WebGPU. The library comes from the
// tester ($LOCALBATCH_TEST_LIBS, see scripts/real-kit/kit.mjs); without it this says why in
// one line and exits 0. Builds the app first unless LOCALBATCH_BUILT=1 (CI, after npm test).
// Prints each test's time and the wall time.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { ensureRealKit, findKitLibrary } from './real-kit/kit.mjs';

const started = Date.now();
const found = findKitLibrary();
if (found.problem !== undefined) {
  console.log(`test:real skipped: ${found.problem}`);
  process.exit(0);
}
const kit = ensureRealKit({ library: found.library });
console.log(`Test kit ${kit.modelId}: ${kit.made ? 'made' : 'up to date'} in ${kit.folder}`);

function run(command, args, env = {}) {
  console.log(`\n=== ${command} ${args.join(' ')}`);
  return (
    spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status === 0
  );
}

if (process.env.LOCALBATCH_BUILT !== '1' && !run('npm', ['run', 'build'])) process.exit(1);

const out = '.test-output';
mkdirSync(out, { recursive: true });
const report = `${out}/real.json`;
const ok = run('npx', ['playwright', 'test', '-c', 'playwright.real.config.ts'], {
  PW_JSON_REPORT: report
});

let counts = 'no report (the run failed before testing)';
try {
  const json = JSON.parse(readFileSync(report, 'utf8'));
  const lines = [];
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests) {
        const last = t.results.at(-1);
        lines.push(
          `${(last ? last.duration / 1000 : 0).toFixed(1).padStart(7)} s  ${last?.status ?? 'not run'}  ${spec.title}`
        );
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of json.suites ?? []) walk(suite);
  console.log(`\nreal-runtime tests, each:\n${lines.join('\n')}`);
  const { expected = 0, unexpected = 0, flaky = 0, skipped = 0 } = json.stats ?? {};
  counts = `${expected} passed, ${unexpected + flaky} failed${skipped ? `, ${skipped} skipped` : ''}`;
} catch {
  // the count line says so
}
console.log(`\ntest:real wall time: ${((Date.now() - started) / 1000).toFixed(0)}s`);
console.log(counts);
process.exit(ok ? 0 : 1);
