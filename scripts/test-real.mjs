// `npm run test:real`: the real-runtime browser tests (tests/real/), WebLLM's own runtime
// running a real Qwen2 model library on this machine's WebGPU. The library comes from the
// tester ($LOCALBATCH_TEST_LIBS, see scripts/real-kit/kit.mjs); without it this says why in
// one line and exits 0. Builds the app first unless LOCALBATCH_BUILT=1 (CI, after npm test).
// Prints each test's time and the wall time.
//
// `--record` (npm run test:real:record) runs only the one-at-a-time tests (@baseline, and the
// @recorder ones, which run only then) and writes what they saw to
// tests/fixtures/real-answers.json, the answers every other test compares against
// (tests/real/recorded.ts).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { ensureRealKit, findKitLibrary } from './real-kit/kit.mjs';
import { adapterFromEnv, isLavapipe, probeAdapter } from './webgpu-adapter.mjs';

/**
 * lavapipe where Chromium offers it, SwiftShader otherwise; LOCALBATCH_WEBGPU forces one (a
 * forced lavapipe that is not there fails the run). The line says which, and why.
 * @returns {Promise<{ adapter: 'swiftshader' | 'lavapipe', line: string }>}
 */
async function chooseAdapter() {
  const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  let forced;
  try {
    forced = adapterFromEnv(process.env.LOCALBATCH_WEBGPU, undefined);
  } catch (error) {
    console.log(`test:real: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  }
  if (forced === 'swiftshader') {
    return { adapter: forced, line: 'WebGPU: SwiftShader (LOCALBATCH_WEBGPU=swiftshader)' };
  }
  let probeFailed = '';
  const lavapipe = await probeAdapter(chromium, 'lavapipe').catch(
    (/** @type {unknown} */ error) => {
      probeFailed = error instanceof Error ? error.message.split('\n')[0] : String(error);
      return null;
    }
  );
  if (lavapipe && isLavapipe(lavapipe.description)) {
    const why = forced ? 'LOCALBATCH_WEBGPU=lavapipe' : 'installed';
    return {
      adapter: 'lavapipe',
      line: `WebGPU: lavapipe (${why}; ${lavapipe.description}, ${lavapipe.compat ? 'compatibility' : 'core'} mode)`
    };
  }
  const missing = `Chromium offers no lavapipe adapter (${lavapipe ? `it offers "${lavapipe.description}"` : probeFailed ? `the probe failed: ${probeFailed}` : 'none'}); Debian's package is mesa-vulkan-drivers`;
  if (forced) {
    console.log(`test:real: LOCALBATCH_WEBGPU=lavapipe, but ${missing}.`);
    process.exit(1);
  }
  return {
    adapter: 'swiftshader',
    line: `WebGPU: SwiftShader (${missing}: about ten times slower)`
  };
}

const started = Date.now();
const found = findKitLibrary();
if (found.problem !== undefined) {
  console.log(`test:real skipped: ${found.problem}`);
  process.exit(0);
}

const webgpu = await chooseAdapter();
console.log(webgpu.line);
const kit = ensureRealKit({ library: found.library });
console.log(`Test kit ${kit.modelId}: ${kit.made ? 'made' : 'up to date'} in ${kit.folder}`);

function run(command, args, env = {}) {
  console.log(`\n=== ${command} ${args.join(' ')}`);
  return (
    spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } }).status === 0
  );
}

if (process.env.LOCALBATCH_BUILT !== '1' && !run('npm', ['run', 'build'])) process.exit(1);
// The real-runtime page (bench/real-batch.ts): WebLLM's own chat.completions, with no app around it.
if (!run('npx', ['vite', 'build', '-c', 'bench/vite.real.config.ts', '--logLevel', 'warn']))
  process.exit(1);

const out = '.test-output';
mkdirSync(out, { recursive: true });
const report = `${out}/real.json`;
// Mesa keeps compiled shaders under the home folder: a fresh folder each run times a fresh machine.
const shaderCache = `${out}/mesa-shader-cache`;
rmSync(shaderCache, { recursive: true, force: true });
const recording = process.argv.includes('--record');
const ok = run(
  'npx',
  [
    'playwright',
    'test',
    '-c',
    'playwright.real.config.ts',
    // @recorder tests make a recording only (an unshared baseline too slow for every run).
    ...(recording ? ['--grep', '@baseline|@recorder'] : ['--grep-invert', '@recorder']),
    // Anything else is Playwright's: `npm run test:real -- tests/real/prefix.spec.ts`.
    ...process.argv.slice(2).filter((arg) => arg !== '--record')
  ],
  {
    PW_JSON_REPORT: report,
    LOCALBATCH_RECORD_ANSWERS: recording ? '1' : '0',
    LOCALBATCH_WEBGPU: webgpu.adapter,
    MESA_SHADER_CACHE_DIR: resolve(shaderCache)
  }
);

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
console.log(
  `\ntest:real wall time on ${webgpu.adapter}: ${((Date.now() - started) / 1000).toFixed(0)}s`
);
console.log(counts);
process.exit(ok ? 0 : 1);
