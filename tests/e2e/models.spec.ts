/**
 * The Models page against a fake mirror served by the test itself (see
 * fake-mirror.ts): the model source setting and its checks, a download with
 * progress that continues after a reload and after a lost connection from the
 * last finished shard, delete, the quota warning, and a WebLLM job whose
 * load goes to the mirror. No real model host is ever contacted (every host
 * but localhost and 127.0.0.1 is unresolvable, see browser.ts).
 */
import { expect, test, type Page } from '@playwright/test';
import { BASE_URL } from './browser';
import { SHARDS, shardPath, startFakeMirror, type FakeMirror } from './fake-mirror';
import { batchFile, createJob, setGpuMemory, setMirror } from './helpers';
import { launch, newProfile, removeProfile } from './processes';
import { MODELS } from '../../src/lib/plan/catalog';

const SMALL = 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC';
const SMALL_LABEL = 'Qwen2.5-0.5B-Instruct (4-bit, f16)';
/** The catalog's size of its weights, as the page rounds it. */
const SMALL_MB = Math.round(
  (MODELS.find((model) => model.id === SMALL)?.weightsBytes ?? 0) / 2 ** 20
).toLocaleString('en');
/** What the memory plan picks on SwiftShader (no shader-f16) with 16 GB: the 7B in f32. */
const JOB_MODEL = 'Qwen2.5-7B-Instruct-q4f32_1-MLC';
const JOB_MODEL_LABEL = 'Qwen2.5-7B-Instruct (4-bit, f32)';
const JOB_LIB = '/libs/v0_2_48/Qwen2-7B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm';

let mirror: FakeMirror | null = null;
test.afterEach(async () => {
  await mirror?.close().catch(() => undefined);
  mirror = null;
});

function modelItem(page: Page, label: string) {
  return page.getByRole('listitem', { name: label, exact: true });
}

/** Shard URLs of a model in WebLLM's model cache, as paths. */
async function cachedShards(page: Page, modelId: string): Promise<string[]> {
  const urls = await page.evaluate(async () => {
    const cache = await caches.open('webllm/model');
    return (await cache.keys()).map((request) => request.url);
  });
  return urls
    .map((url) => new URL(url).pathname)
    .filter((path) => path.startsWith(`/${modelId}/`) && path.includes('params_shard_'))
    .sort();
}

const allShards = (modelId: string) =>
  Array.from({ length: SHARDS }, (_, i) => shardPath(modelId, i)).sort();

test('the model source: a bad URL or mirror gets a clear error; a good one is saved and shown', async ({
  page
}) => {
  mirror = await startFakeMirror();
  await page.goto('/models');
  await expect(page.getByRole('heading', { name: 'Models', level: 1 })).toBeVisible();
  await expect(page.getByTestId('model-source')).toHaveText(
    'Model source: huggingface.co (official)'
  );
  const input = page.getByLabel('Mirror base URL');
  const save = page.getByRole('button', { name: 'Check and save mirror' });
  const error = page.getByRole('alert');

  await input.fill('mirror.lan/models');
  await save.click();
  await expect(error).toContainText('"mirror.lan/models" is not a URL');
  await expect(input).toHaveAttribute('aria-invalid', 'true');

  await input.fill('http://mirror.lan/models/');
  await save.click();
  await expect(error).toContainText(
    'http:// is allowed only for localhost and 127.0.0.1 (not mirror.lan)'
  );

  // Nothing listens on 4349 (mirrors take the lowest free port of 4340-4349).
  await input.fill('http://127.0.0.1:4349/');
  await save.click();
  await expect(error).toContainText('Not saved: http://127.0.0.1:4349 could not be reached', {
    timeout: 30_000
  });
  await expect(error).toContainText('Access-Control-Allow-Origin');

  // The mirror is there, but not at this path.
  await input.fill(`${mirror.url}wrong`);
  await save.click();
  await expect(error).toContainText(
    `answered 404 Not Found for ${mirror.url}wrong/Qwen2.5-7B-Instruct-q4f16_1-MLC/resolve/main/mlc-chat-config.json`
  );
  await expect(error).toContainText(`${mirror.url}wrong/<model id>/resolve/main/`);
  await expect(page.getByTestId('model-source')).toHaveText(
    'Model source: huggingface.co (official)'
  );

  await input.fill(mirror.url.replace(/\/$/, ''));
  await save.click();
  await expect(page.getByTestId('mirror-saved')).toHaveText(
    'Saved. The mirror holds all 8 models.'
  );
  await expect(page.getByRole('alert')).toHaveCount(0);
  await expect(page.getByTestId('model-source')).toHaveText(`Model source: mirror ${mirror.url}`);
  await page.reload();
  await expect(page.getByTestId('model-source')).toHaveText(`Model source: mirror ${mirror.url}`);

  await page.getByRole('button', { name: 'Use the official hosts' }).click();
  await expect(page.getByTestId('model-source')).toHaveText(
    'Model source: huggingface.co (official)'
  );
});

test('a download shows its progress, continues after a reload from the last finished shard, and can be deleted', async ({
  page
}) => {
  mirror = await startFakeMirror();
  await setMirror(page, mirror.url);
  const item = modelItem(page, SMALL_LABEL);
  await expect(item.getByTestId('cached-state')).toHaveText('Not downloaded');

  // Three shards arrive, then the mirror stops answering: the download stalls at a known shard.
  mirror.holdAfter(3);
  await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).click();
  const bar = item.getByRole('progressbar', { name: 'Download progress' });
  await expect(bar).toBeVisible();
  const text = item.getByTestId('progress-text');
  await expect(text).toHaveText(
    /^\d+\.\d of 2\.0 MiB \(\d+%\) · (measuring speed|\d+\.\d MiB\/s) · (time left unknown|about .+ left) · \d of 8 shards$/
  );
  await expect(text).toContainText('3 of 8 shards', { timeout: 30_000 });
  await expect(text).toContainText('0.8 of 2.0 MiB (37%)');
  await expect(item.getByTestId('cached-state')).toHaveText('Partly downloaded: 3 of 8 shards');
  expect(Number(await bar.getAttribute('value'))).toBeCloseTo(3 / 8, 2);
  await expect(page.getByRole('button', { name: `Stop downloading ${SMALL_LABEL}` })).toBeVisible();
  const finished = mirror.completedShards().sort();
  expect(finished).toHaveLength(3);
  expect(await cachedShards(page, SMALL)).toEqual(finished);

  // Reload mid-way. The page continues the download by itself, asking only for what is missing.
  mirror.release();
  mirror.clearLog();
  await page.reload();
  await expect(item.getByTestId('cached-state')).toHaveText('Downloaded', { timeout: 30_000 });
  const missing = allShards(SMALL).filter((path) => !finished.includes(path));
  expect(mirror.requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual(
    missing.map((path) => `GET ${path}`)
  );
  expect(await cachedShards(page, SMALL)).toEqual(allShards(SMALL));
  await expect(item).toContainText(`${SMALL} · 2 MiB`);
  await expect(bar).toHaveCount(0);
  await expect(item.getByRole('button', { name: `Download ${SMALL_LABEL}` })).toHaveCount(0);

  // Complete: a second visit downloads nothing.
  mirror.clearLog();
  await page.reload();
  await expect(item.getByTestId('cached-state')).toHaveText('Downloaded');
  expect(mirror.requests).toEqual([]);

  page.once('dialog', (dialog) => {
    expect(dialog.message()).toContain(`Delete ${SMALL_LABEL} (2 MiB) from this browser?`);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the dialog is answered while the click that opened it is awaited
    void dialog.accept();
  });
  await item.getByRole('button', { name: `Delete ${SMALL_LABEL}`, exact: true }).click();
  await expect(item.getByTestId('cached-state')).toHaveText('Not downloaded');
  expect(await cachedShards(page, SMALL)).toEqual([]);
  const left = await page.evaluate(async (modelId) => {
    const keys: string[] = [];
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      keys.push(...(await cache.keys()).map((r) => r.url).filter((url) => url.includes(modelId)));
    }
    return keys;
  }, SMALL);
  expect(left).toEqual([]);
  await expect(item.getByRole('button', { name: `Delete ${SMALL_LABEL}` })).toHaveCount(0);
});

test('by keyboard: Download and Stop are one control that keeps focus; the live region says what happened', async ({
  page
}) => {
  mirror = await startFakeMirror();
  await setMirror(page, mirror.url);
  const item = modelItem(page, SMALL_LABEL);
  const announcer = page.getByTestId('download-announcer');
  await expect(announcer).toHaveAttribute('aria-live', 'polite');
  mirror.holdAfter(2);
  await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).focus();
  await page.keyboard.press('Enter');
  const stop = item.getByRole('button', { name: `Stop downloading ${SMALL_LABEL}`, exact: true });
  await expect(stop).toBeFocused();
  await expect(announcer).toHaveText(`Downloading ${SMALL_LABEL}.`);
  await expect(item.getByTestId('progress-text')).toContainText('2 of 8 shards', {
    timeout: 30_000
  });
  // The figures change several times a second: they are not in a live region.
  await expect(item.getByTestId('progress-text')).not.toHaveAttribute('aria-live');
  await expect(announcer).toHaveText(`${SMALL_LABEL}: 25% downloaded.`);
  await page.keyboard.press('Enter');
  await expect(announcer).toHaveText(`The download of ${SMALL_LABEL} was stopped.`);
  await expect(item.getByTestId('cached-state')).toHaveText('Partly downloaded: 2 of 8 shards');
  await expect(
    item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true })
  ).toBeFocused();
  await expect(item.getByRole('alert')).toHaveCount(0);
});

test('a lost connection: the download retries, and continues from the last finished shard when the mirror is back', async ({
  page
}) => {
  mirror = await startFakeMirror();
  await setMirror(page, mirror.url);
  const item = modelItem(page, SMALL_LABEL);
  // Four shards at most before the connection goes: on a busy machine all eight could
  // otherwise finish between the poll and the kill.
  mirror.holdAfter(4);
  await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).click();
  await expect.poll(() => mirror?.completedShards().length, { timeout: 30_000 }).toBeGreaterThan(1);

  await mirror.kill();
  const text = item.getByTestId('progress-text');
  await expect(text).toContainText(
    `Connection lost: The connection to 127.0.0.1:${mirror.port} was lost`
  );
  await expect(text).toContainText('the finished shards are kept');
  const kept = await cachedShards(page, SMALL);
  expect(kept.length).toBeGreaterThan(1);
  expect(kept.length).toBeLessThan(SHARDS);
  await expect(item.getByTestId('cached-state')).toHaveText(
    `Partly downloaded: ${kept.length} of ${SHARDS} shards`
  );

  mirror.clearLog();
  mirror.release();
  await mirror.restart();
  await expect(item.getByTestId('cached-state')).toHaveText('Downloaded', { timeout: 60_000 });
  const fetched = mirror.shardRequests(SMALL).sort();
  expect(fetched).toEqual(allShards(SMALL).filter((path) => !kept.includes(path)));
  expect(mirror.requests.filter((r) => !r.path.includes('params_shard_'))).toEqual([]);
});

/**
 * Chromium 156 reports `estimate().quota` as usage + 10 GiB whatever the real quota
 * (its StaticStorageQuota feature, against fingerprinting; measured: an overridden quota of
 * 1 MB still showed as 10 GiB), so this test runs a browser of its own with that feature off,
 * where the override shows through as it would on a nearly full disk.
 */
test('before a download, a warning when the free quota is below the model size', async () => {
  mirror = await startFakeMirror();
  const profile = await newProfile();
  try {
    const context = await launch(profile, ['--disable-features=StaticStorageQuota']);
    const page = context.pages()[0] ?? (await context.newPage());
    await setMirror(page, mirror.url);
    const cdp = await context.newCDPSession(page);
    const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage ?? 0);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: BASE_URL, quotaSize: usage + 3e6 });
    await page.reload();
    await expect(page.getByTestId('models-storage')).toContainText(/; 3 MiB free\.$/);
    const item = modelItem(page, SMALL_LABEL);
    mirror.clearLog();
    await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).click();
    const warning = item.getByRole('alert');
    await expect(warning).toContainText(
      `Not enough free storage for ${SMALL_LABEL}: it needs about ${SMALL_MB} MiB more, and this site may store only 3 MiB more.`
    );
    await expect(item.getByRole('progressbar')).toHaveCount(0);
    await warning.getByRole('button', { name: 'Cancel' }).click();
    await expect(item.getByRole('alert')).toHaveCount(0);
    await expect(item.getByTestId('cached-state')).toHaveText('Not downloaded');
    expect(mirror.requests).toEqual([]);

    // Downloaded anyway, the test mirror's 2 MB copy does not fit in 1 MB: the download stops,
    // says why, keeps what it stored, and finishes once there is room.
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: BASE_URL, quotaSize: usage + 1e6 });
    await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).click();
    await item.getByRole('button', { name: `Download anyway ${SMALL_LABEL}` }).click();
    const stopped = item.getByRole('alert');
    await expect(stopped).toContainText('the storage quota is used up', { timeout: 30_000 });
    await expect(stopped).toContainText('finished shards of 8 are kept; free some space');
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: BASE_URL });
    await page.reload();
    await item.getByRole('button', { name: `Download ${SMALL_LABEL}`, exact: true }).click();
    await expect(item.getByTestId('cached-state')).toHaveText('Downloaded', { timeout: 30_000 });
    await context.close();
  } finally {
    await removeProfile(profile);
  }
});

test("with a mirror set, a WebLLM job's load goes to the mirror and fails clearly at the fake library; downloaded first, it asks the mirror for nothing", async ({
  page
}) => {
  mirror = await startFakeMirror();
  const elsewhere: string[] = [];
  page.context().on('request', (request) => {
    const url = new URL(request.url());
    if (url.hostname !== 'localhost' && url.hostname !== '127.0.0.1') elsewhere.push(request.url());
  });
  await page.goto('/settings');
  await setGpuMemory(page, 16_000);
  await setMirror(page, mirror.url);

  await createJob(page, batchFile(5, 'mirror.jsonl'), '');
  await expect(page.getByTestId('job-model-source')).toContainText(
    `Model source: mirror ${mirror.url}`
  );
  mirror.clearLog();
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  const alert = page.getByRole('alert').filter({ hasText: 'The job stopped' });
  await expect(alert).toContainText(
    `The model library Qwen2-7B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm from mirror ${mirror.url} is not a WebAssembly program this browser can run`,
    { timeout: 90_000 }
  );
  await expect(alert).toContainText(`Check that the mirror serves WebLLM 0.2.79's library at`);
  await expect(alert).toContainText('Nothing was lost: 0 of 5 results are saved.');
  // The plan reads the library first (its own figures, before the weights) and keeps it where
  // WebLLM looks: WebLLM then asks only for the chat config.
  const asked = mirror.requests.map((r) => `${r.method} ${r.path}`);
  expect(asked).toEqual([`GET ${JOB_LIB}`, `GET /${JOB_MODEL}/resolve/main/mlc-chat-config.json`]);
  const jobUrl = page.url();

  // Those two files are stored (the library by the plan, the chat config by WebLLM); the Models page sees them as a start and fetches the rest.
  await page.goto('/models');
  const item = modelItem(page, JOB_MODEL_LABEL);
  await expect(item.getByTestId('cached-state')).toHaveText('Partly downloaded');
  mirror.clearLog();
  await item.getByRole('button', { name: `Download ${JOB_MODEL_LABEL}`, exact: true }).click();
  await expect(item.getByTestId('cached-state')).toHaveText('Downloaded', { timeout: 60_000 });
  expect(mirror.requests.some((r) => r.path.endsWith('mlc-chat-config.json'))).toBe(false);
  expect(mirror.requests.some((r) => r.path === JOB_LIB)).toBe(false);

  // Now WebLLM finds what it reads in the cache: the mirror is not asked for anything.
  mirror.clearLog();
  await page.goto(jobUrl);
  await page.getByRole('button', { name: 'Resume', exact: true }).click();
  await expect(alert).toContainText('is not a WebAssembly program this browser can run', {
    timeout: 90_000
  });
  expect(mirror.requests).toEqual([]);
  expect(elsewhere).toEqual([]);
});

test('the Models page says whether the browser keeps the storage persistently', async ({
  page
}) => {
  await page.goto('/models');
  expect(await page.evaluate(() => navigator.storage.persisted())).toBe(false);
  await expect(page.getByTestId('persistence')).toHaveText(
    /^Persistent storage: not granted\. The browser may clear the models/
  );

  // A real profile (incognito never persists), where the site has earned it, as Chrome grants it
  // to installed apps and bookmarked sites.
  const profile = await newProfile();
  const context = await launch(profile);
  try {
    const granted = context.pages()[0] ?? (await context.newPage());
    await granted.goto('/models');
    const cdp = await context.newCDPSession(granted);
    await cdp.send('Browser.grantPermissions', {
      origin: new URL(granted.url()).origin,
      permissions: ['durableStorage']
    });
    expect(await granted.evaluate(() => navigator.storage.persist())).toBe(true);
    await granted.reload();
    await expect(granted.getByTestId('persistence')).toHaveText(
      /^Persistent storage: granted\. The browser keeps the models/
    );
  } finally {
    await context.close();
    await removeProfile(profile);
  }
});
