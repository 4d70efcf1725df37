// `npm test`: type checks and formatting, unit tests, a production build, then
// the browser tests. Prints one closing line with the counts and the wall time.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';

const started = Date.now();
const out = '.test-output';
mkdirSync(out, { recursive: true });

function step(label, command, args, env = {}) {
  console.log(`\n=== ${label}: ${command} ${args.join(' ')}`);
  const t0 = Date.now();
  const run = spawnSync(command, args, { stdio: 'inherit', env: { ...process.env, ...env } });
  console.log(
    `=== ${label}: ${run.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)}s`
  );
  return run.status === 0;
}

let passed = 0;
let failed = 0;
let skipped = 0;

const checked = step('check', 'npm', ['run', 'check']);
if (!checked) failed++;

const unitJson = `${out}/unit.json`;
step('unit', 'npx', [
  'vitest',
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${unitJson}`
]);
try {
  const unit = JSON.parse(readFileSync(unitJson, 'utf8'));
  passed += unit.numPassedTests;
  failed += unit.numFailedTests;
  skipped += unit.numPendingTests + (unit.numTodoTests ?? 0);
  console.log(`unit tests: ${unit.numPassedTests} passed, ${unit.numFailedTests} failed`);
} catch {
  console.log('unit tests: no report (the run failed before testing)');
  failed++;
}

const built = step('build', 'npm', ['run', 'build']);
if (!built) failed++;

// The browser tests, then those that time the page (@alone) with nothing running beside them.
for (const project of built ? ['browser', 'alone'] : []) {
  const e2eJson = `${out}/e2e-${project}.json`;
  // On SwiftShader, named: installing Mesa's lavapipe (for `npm run test:real`) changes nothing here.
  step(project, 'npx', ['playwright', 'test', '--project', project], {
    PW_JSON_REPORT: e2eJson,
    LOCALBATCH_WEBGPU: 'swiftshader'
  });
  try {
    const e2e = JSON.parse(readFileSync(e2eJson, 'utf8'));
    const { expected = 0, unexpected = 0, flaky = 0, skipped: skip = 0 } = e2e.stats ?? {};
    passed += expected;
    failed += unexpected + flaky;
    skipped += skip;
    console.log(`${project} tests: ${expected} passed, ${unexpected + flaky} failed`);
    if (e2e.errors?.length) failed += e2e.errors.length;
  } catch {
    console.log(`${project} tests: no report (the run failed before testing)`);
    failed++;
  }
}

const seconds = ((Date.now() - started) / 1000).toFixed(0);
console.log(`\nnpm test wall time: ${seconds}s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
