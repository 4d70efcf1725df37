// `npm run audit`: Lighthouse (the version pinned in package.json) against Debian's
// Chromium, on `/`, `/settings`, `/models`, `/results` and a job page, with the desktop form factor.
//
//   npm run audit                  build, serve on port 4393 (or a free one), audit
//   npm run audit -- --no-build    audit the build/ that is there
//   npm run audit -- --port 4400   serve on another port
//
// Lighthouse 12 has no installability audit (it dropped the PWA category), so
// "installable" is Chrome's own check, read from the same Chromium over the DevTools
// protocol: Page.getInstallabilityErrors (and Page.getAppManifest for the manifest's
// URL and parse errors). Exits non-zero when a page scores under 95 for accessibility
// or best practices, or is not installable. Every host but localhost is unresolvable
// in the browser, so the audit reaches nothing outside this machine.
// JSON and HTML reports go to .test-output/audit/.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import * as chromeLauncher from 'chrome-launcher';
import lighthouse from 'lighthouse';
import desktopConfig from 'lighthouse/core/config/desktop-config.js';
import { chromium } from '@playwright/test';

const MIN_SCORE = 95;
const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'
];
const OUT = '.test-output/audit';

// Chrome's installability error ids (chrome/browser/installable/installable_logging.cc),
// the ones a desktop page can meet; any other id is printed as it is.
const INSTALL_ERRORS = {
  'no-manifest': 'the page has no manifest <link>',
  'manifest-empty': 'the manifest could not be fetched, is empty, or could not be parsed',
  'manifest-parsing-or-network-error':
    'the manifest could not be fetched, is empty, or could not be parsed',
  'start-url-not-valid': 'the manifest start_url is not valid',
  'manifest-missing-name-or-short-name': 'the manifest has no name or short_name',
  'manifest-display-not-supported':
    'the manifest display must be standalone, fullscreen or minimal-ui',
  'manifest-display-override-not-supported':
    'the first supported display_override must be standalone, fullscreen or minimal-ui',
  'manifest-missing-suitable-icon':
    'the manifest has no suitable icon (PNG, SVG or WebP, sizes set, purpose "any")',
  'no-acceptable-icon': 'no icon is large enough in PNG, SVG or WebP with purpose "any"',
  'cannot-download-icon': 'a required icon could not be downloaded',
  'no-icon-available': 'the downloaded icon was empty or corrupt',
  'not-from-secure-origin': 'the page is not served from a secure origin',
  'not-in-main-frame': 'the page is not loaded in the main frame',
  'prefer-related-applications': 'the manifest sets prefer_related_applications: true',
  'already-installed': 'the app is already installed',
  'in-incognito': 'the page is in an incognito window'
};

const args = process.argv.slice(2);
const build = !args.includes('--no-build');
const portArg = args.indexOf('--port');
const wantedPort = portArg >= 0 ? Number(args[portArg + 1]) : 4393;

const started = Date.now();
const seconds = (t0) => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

/** The wanted port if it is free on localhost, else one the system picks. */
function freePort(port) {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => {
      const any = createServer();
      any.listen(0, 'localhost', () => {
        const address = any.address();
        any.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    probe.listen(port, 'localhost', () => probe.close(() => resolve(port)));
  });
}

async function waitForServer(url, server) {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error('scripts/serve.mjs exited');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer within 15 s`);
}

/** Chrome's own installability check on `url`, in the browser on `port`. */
async function installability(port, url) {
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  try {
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = await context.newPage();
    try {
      await page.goto(url, { waitUntil: 'load' });
      const cdp = await context.newCDPSession(page);
      const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
      const manifest = await cdp.send('Page.getAppManifest', {});
      const reasons = installabilityErrors.map((e) => {
        const detail = e.errorArguments.map((a) => `${a.name} ${a.value}`).join(', ');
        const text = INSTALL_ERRORS[e.errorId] ?? e.errorId;
        return `${text} [${e.errorId}${detail ? `: ${detail}` : ''}]`;
      });
      for (const e of manifest.errors) {
        if (e.critical) reasons.push(`manifest error: ${e.message}`);
      }
      return { installable: reasons.length === 0, reasons, manifestUrl: manifest.url };
    } finally {
      await page.close();
    }
  } finally {
    await browser.close();
  }
}

/**
 * Creates a small job on the simulated engine through the page and runs it to the end,
 * so the jobs list, the job page and its results have something to show. Returns the
 * job page's path.
 */
async function createJob(port, base) {
  const browser = await chromium.connectOverCDP(`http://127.0.0.1:${port}`);
  try {
    const context = browser.contexts()[0] ?? (await browser.newContext());
    const page = await context.newPage();
    try {
      await page.goto(`${base}/?engine=simulated&tokenDelayMs=0`);
      await page.getByLabel('Prompt file').setInputFiles({
        name: 'audit.txt',
        mimeType: 'text/plain',
        buffer: Buffer.from('Say hello\nName three colours\nCount to five\n')
      });
      await page.getByRole('button', { name: 'Create job', exact: true }).click();
      await page.waitForURL(/\/jobs\//, { timeout: 15_000 });
      await page.getByRole('button', { name: 'Start', exact: true }).click();
      await page
        .getByRole('status')
        .filter({ hasText: /^Completed$/ })
        .waitFor({ timeout: 60_000 });
      return new URL(page.url()).pathname;
    } finally {
      await page.close();
    }
  } finally {
    await browser.close();
  }
}

const score = (lhr, id) => {
  const s = lhr.categories[id]?.score;
  return typeof s === 'number' ? Math.round(s * 100) : null;
};

/** Audits of a category that did not pass, as "id: title (details)". */
function findings(lhr, id) {
  const out = [];
  for (const ref of lhr.categories[id]?.auditRefs ?? []) {
    const audit = lhr.audits[ref.id];
    if (!audit || (ref.weight === 0 && audit.scoreDisplayMode !== 'error')) continue;
    if (audit.scoreDisplayMode === 'error') out.push(`${ref.id}: error: ${audit.errorMessage}`);
    else if (audit.score !== null && audit.score < 1) {
      const items = audit.details?.items ?? [];
      const nodes = items
        .map((i) => i.node?.snippet ?? i.source?.url ?? i.description ?? '')
        .filter(Boolean)
        .slice(0, 3);
      out.push(`${ref.id}: ${audit.title}${nodes.length ? ` — ${nodes.join(' | ')}` : ''}`);
    }
  }
  return out;
}

let server;
let chrome;
let exitCode = 1;
try {
  if (build) {
    const t0 = Date.now();
    process.stdout.write('Building (npm run build)… ');
    const run = spawnSync('npm', ['run', 'build'], { encoding: 'utf8' });
    if (run.status !== 0) {
      console.log('FAILED');
      console.log(run.stdout, run.stderr);
      throw new Error('npm run build failed');
    }
    console.log(`ok in ${seconds(t0)}`);
  }

  const port = await freePort(wantedPort);
  const base = `http://localhost:${port}`;
  server = spawn(process.execPath, ['scripts/serve.mjs'], {
    env: { ...process.env, PORT: String(port), HOST: 'localhost' },
    stdio: ['ignore', 'ignore', 'inherit']
  });
  await waitForServer(base, server);
  console.log(`Serving build/ on ${base}`);

  chrome = await chromeLauncher.launch({ chromePath: CHROMIUM_PATH, chromeFlags: CHROMIUM_FLAGS });
  const version = await (await fetch(`http://127.0.0.1:${chrome.port}/json/version`)).json();
  mkdirSync(OUT, { recursive: true });

  let t0 = Date.now();
  process.stdout.write('Creating and running a 3-item job (simulated engine)… ');
  const jobPath = await createJob(chrome.port, base);
  console.log(`${jobPath} in ${seconds(t0)}`);

  const pages = [
    { name: 'home', label: '/', path: '/' },
    { name: 'settings', label: '/settings', path: '/settings' },
    { name: 'models', label: '/models', path: '/models' },
    { name: 'results', label: '/results', path: '/results' },
    { name: 'job', label: '/jobs/[id]', path: jobPath }
  ];
  const rows = [];
  let lighthouseVersion = '?';
  for (const p of pages) {
    t0 = Date.now();
    process.stdout.write(`Lighthouse on ${p.path}… `);
    const result = await lighthouse(
      base + p.path,
      {
        port: chrome.port,
        output: ['json', 'html'],
        logLevel: 'error',
        onlyCategories: ['accessibility', 'best-practices', 'performance'],
        // Keeps the job made above in IndexedDB (the profile is a fresh temporary one).
        disableStorageReset: true
      },
      desktopConfig
    );
    if (!result) throw new Error(`Lighthouse returned nothing for ${p.path}`);
    const { lhr, report } = result;
    lighthouseVersion = lhr.lighthouseVersion;
    if (lhr.runtimeError) throw new Error(`Lighthouse on ${p.path}: ${lhr.runtimeError.message}`);
    const [json = '', html = ''] = Array.isArray(report) ? report : [report];
    writeFileSync(`${OUT}/${p.name}.report.json`, json);
    writeFileSync(`${OUT}/${p.name}.report.html`, html);
    const install = await installability(chrome.port, base + p.path);
    console.log(`done in ${seconds(t0)}`);
    rows.push({
      page: p.label,
      accessibility: score(lhr, 'accessibility'),
      bestPractices: score(lhr, 'best-practices'),
      performance: score(lhr, 'performance'),
      install,
      findings: [...findings(lhr, 'accessibility'), ...findings(lhr, 'best-practices')],
      warnings: lhr.runWarnings
    });
  }

  const show = (n) => (n === null ? 'error' : String(n));
  const table = [
    ['page', 'accessibility', 'best practices', 'performance*', 'installable**'],
    ...rows.map((r) => [
      r.page,
      show(r.accessibility),
      show(r.bestPractices),
      show(r.performance),
      r.install.installable ? 'yes' : 'no'
    ])
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((row) => row[i].length)));
  console.log('');
  console.log(
    `Lighthouse ${lighthouseVersion}, desktop form factor (simulated throttling), against ${version.Browser} (${CHROMIUM_PATH})`
  );
  for (const row of table) {
    console.log(
      row
        .map((c, i) => c.padEnd(widths[i]))
        .join('  ')
        .trimEnd()
    );
  }
  console.log('*  performance is informational (SwiftShader, no GPU, 2 cores); not a gate.');
  console.log(
    "** installable is Chrome's own check (DevTools protocol Page.getInstallabilityErrors on the same Chromium); Lighthouse 12 has no installability audit."
  );

  const failures = [];
  for (const r of rows) {
    if (!r.install.installable) {
      const manifest = r.install.manifestUrl ? ` (manifest ${r.install.manifestUrl})` : '';
      console.log(`\n${r.page}: not installable${manifest}: ${r.install.reasons.join('; ')}`);
      failures.push(`${r.page} is not installable`);
    }
    if (r.findings.length) {
      console.log(`\n${r.page}: accessibility / best-practices findings:`);
      for (const f of r.findings) console.log(`  - ${f}`);
    }
    for (const w of r.warnings) console.log(`\n${r.page}: Lighthouse warning: ${w}`);
    if (r.accessibility === null || r.accessibility < MIN_SCORE)
      failures.push(`${r.page}: accessibility ${show(r.accessibility)} < ${MIN_SCORE}`);
    if (r.bestPractices === null || r.bestPractices < MIN_SCORE)
      failures.push(`${r.page}: best practices ${show(r.bestPractices)} < ${MIN_SCORE}`);
  }
  console.log(`\nReports: ${OUT}/*.report.{json,html}. Took ${seconds(started)}.`);
  if (failures.length) {
    console.log(`AUDIT FAILED: ${failures.join('; ')}`);
  } else {
    console.log('AUDIT PASSED');
    exitCode = 0;
  }
} catch (e) {
  console.error(`\naudit: ${e instanceof Error ? e.stack : e}`);
} finally {
  if (chrome) await chrome.kill();
  if (server) server.kill();
}
process.exit(exitCode);
