/// <reference types="@sveltejs/kit" />
/// <reference no-default-lib="true"/>
/// <reference lib="esnext" />
/// <reference lib="webworker" />
/**
 * The offline app: SvelteKit's own service worker (no plugin: `$service-worker`
 * lists exactly what the build produced, and the share target below needs a
 * hand-written fetch handler anyway).
 *
 * - Precaches the app shell, every built chunk (the runner worker and the 6 MB
 *   WebLLM chunk too) and the static files, in a cache named by the build
 *   version; an old version's cache is removed once no open page runs it.
 * - Serves the app from that cache first, so it opens with no network.
 *   Navigations get the shell (a single-page app: every route is index.html).
 * - Never caches anything else: model weights, wasm and configs belong to
 *   WebLLM's own caches, and other origins are not touched at all.
 * - A new version waits until the page says "Reload" (SKIP_WAITING), so a
 *   running job is never switched to new code under its feet.
 * - The share target (manifest `share_target`, POST multipart) is answered
 *   here: the shared file is parked in a cache and the import page picks it up.
 * - A job's notice, clicked, brings the job's tab forward or opens the job.
 */
import { build, files, version } from '$service-worker';
import { getSettings } from '$lib/store/settings';
import { mirrorOrigin } from '$lib/models/source';
import { pageWithPolicy, policyForModelSource, policyFromPage } from '$lib/pwa/csp';
import {
  SHARE_CACHE,
  SHARE_TARGET_PATH,
  SHARED_FILE_KEY,
  SHARED_QUERY,
  SHARED_TEXT_NAME
} from '$lib/pwa/share-target';
import { HELLO, SKIP_WAITING, type PageMessage } from '$lib/pwa/messages';
import { STORAGE } from '$lib/shared/storage-names';

const sw = self as unknown as ServiceWorkerGlobalScope;

const APP_CACHE_PREFIX = STORAGE.appCachePrefix;
const APP_CACHE = `${APP_CACHE_PREFIX}${version}`;
/** The single-page app's shell; sirv answers "/" with index.html. */
const SHELL = '/';
/** Written by scripts/precache-list.mjs: the chunks workers import, which `build` leaves out. */
const WORKER_CHUNKS = '/worker-chunks.json';

async function precacheList(): Promise<string[]> {
  const response = await fetch(WORKER_CHUNKS, { cache: 'no-store' });
  // Without it the runner worker's chunks (WebLLM's library) would be missing offline: fail the
  // install loudly rather than install an app that breaks without the network.
  if (!response.ok && !import.meta.env.DEV) {
    throw new Error(`${WORKER_CHUNKS} is missing (build with npm run build)`);
  }
  const chunks = response.ok ? ((await response.json()) as string[]) : [];
  return [...new Set([SHELL, ...build, ...files, ...chunks])];
}

sw.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(APP_CACHE);
      // `no-cache` requests: the HTTP cache must not hand an older shell to a new version.
      const urls = await precacheList();
      await cache.addAll(urls.map((url) => new Request(url, { cache: 'no-cache' })));
    })()
  );
});

/**
 * The version each open page runs (pages say so: HELLO). An old version's
 * cache is kept while a page may still run it: another tab that has not
 * reloaded loads its chunks (a route, the runner worker after a GPU loss)
 * from there, as the server may no longer have them.
 */
const pageVersions = new Map<string, string>();

async function removeUnusedVersions(): Promise<void> {
  const pages = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
  const inUse = new Set<string>([version]);
  for (const page of pages) {
    const pageVersion = pageVersions.get(page.id);
    if (pageVersion === undefined) return; // a page that has not said which: keep everything
    inUse.add(pageVersion);
  }
  for (const key of await caches.keys()) {
    if (key.startsWith(APP_CACHE_PREFIX) && !inUse.has(key.slice(APP_CACHE_PREFIX.length))) {
      await caches.delete(key);
    }
  }
}

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      await sw.clients.claim();
      await removeUnusedVersions();
    })()
  );
});

sw.addEventListener('message', (event) => {
  const message = event.data as PageMessage | null;
  if (message?.type === SKIP_WAITING) {
    event.waitUntil(sw.skipWaiting());
  } else if (message?.type === HELLO && event.source && 'id' in event.source) {
    pageVersions.set(event.source.id, message.version);
    event.waitUntil(removeUnusedVersions());
  }
});

// A job's notice (page/job-notice.ts) clicked: the tab showing the job comes forward, else the
// job opens in a new window.
sw.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = (event.notification.data as { url?: unknown } | null)?.url;
  if (typeof url !== 'string' || new URL(url).origin !== sw.location.origin) return;
  event.waitUntil(
    (async () => {
      const windows = await sw.clients.matchAll({ type: 'window', includeUncontrolled: true });
      const showing = windows.find((client) => client.url === url);
      if (showing) await showing.focus();
      else await sw.clients.openWindow(url);
    })()
  );
});

/** A file of the app: this version's copy, else an older version's (a page still running it). */
async function fromCache(path: string): Promise<Response | undefined> {
  const current = await (await caches.open(APP_CACHE)).match(path);
  if (current) return current;
  for (const key of await caches.keys()) {
    if (!key.startsWith(APP_CACHE_PREFIX) || key === APP_CACHE) continue;
    const older = await (await caches.open(key)).match(path);
    if (older) return older;
  }
  return undefined;
}

/** The cached copy when there is one (only the app's own files are cached), else the network. */
async function cacheFirst(request: Request): Promise<Response> {
  const cached = await fromCache(new URL(request.url).pathname);
  if (cached) return cached;
  return fetch(request);
}

/** The page's policy with the model source the user set (a mirror instead of the official hosts). */
async function policyFor(html: string): Promise<string | null> {
  const policy = policyFromPage(html);
  if (!policy) return null;
  try {
    const settings = await getSettings();
    return policyForModelSource(policy, {
      mirror: mirrorOrigin(settings.modelMirror),
      pending: mirrorOrigin(settings.modelMirrorPending),
      servers: (settings.servers ?? []).flatMap((server) => mirrorOrigin(server) ?? [])
    });
  } catch {
    return policy;
  }
}

/** The app shell for any navigation, from the cache, its CSP naming the model source in use. */
async function shell(request: Request): Promise<Response> {
  const cached = await (await caches.open(APP_CACHE)).match(SHELL);
  if (!cached) return fetch(request);
  const html = await cached.text();
  const policy = await policyFor(html);
  const page = policy ? pageWithPolicy(html, policy) : html;
  return new Response(page, { status: cached.status, headers: cached.headers });
}

/**
 * A worker script with the page's policy as a header: a worker follows its own
 * response's policy, and the runner worker is where the model files are fetched.
 */
async function workerScript(request: Request): Promise<Response> {
  const [response, page] = await Promise.all([cacheFirst(request), fromCache(SHELL)]);
  const policy = page ? await policyFor(await page.text()) : null;
  if (!policy || !response.ok) return response;
  const headers = new Headers(response.headers);
  headers.set('Content-Security-Policy', policy);
  return new Response(response.body, { status: response.status, headers });
}

/** Parks the shared file (or shared text, as a text file) and sends the page to the import flow. */
async function receiveShare(request: Request): Promise<Response> {
  const data = await request.formData();
  // A form's empty file field sends a nameless, empty file: that is no file.
  let file =
    [...data.values()].find(
      (value): value is File => value instanceof File && (value.name !== '' || value.size > 0)
    ) ?? null;
  const text = [data.get('text'), data.get('title')].find(
    (value): value is string => typeof value === 'string' && value.trim() !== ''
  );
  if (!file && text) file = new File([text], SHARED_TEXT_NAME, { type: 'text/plain' });
  const cache = await caches.open(SHARE_CACHE);
  if (file) {
    await cache.put(
      SHARED_FILE_KEY,
      new Response(file, {
        headers: {
          'Content-Type': file.type || 'application/octet-stream',
          'X-File-Name': encodeURIComponent(file.name)
        }
      })
    );
  }
  return Response.redirect(`/?${SHARED_QUERY}=${file ? '1' : '0'}`, 303);
}

sw.addEventListener('fetch', (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (url.origin !== sw.location.origin) return; // model hosts, mirrors: never touched
  if (request.method === 'POST' && url.pathname === SHARE_TARGET_PATH) {
    event.respondWith(receiveShare(request));
    return;
  }
  if (request.method !== 'GET') return;
  if (request.mode === 'navigate') {
    event.respondWith(shell(request));
    return;
  }
  event.respondWith(request.destination === 'worker' ? workerScript(request) : cacheFirst(request));
});
