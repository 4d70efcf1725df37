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
 *   version; old versions' caches are removed when this one activates.
 * - Serves the app from that cache first, so it opens with no network.
 *   Navigations get the shell (a single-page app: every route is index.html).
 * - Never caches anything else: model weights, wasm and configs belong to
 *   WebLLM's own caches, and other origins are not touched at all.
 * - A new version waits until the page says "Reload" (SKIP_WAITING), so a
 *   running job is never switched to new code under its feet.
 * - The share target (manifest `share_target`, POST multipart) is answered
 *   here: the shared file is parked in a cache and the import page picks it up.
 */
import { build, files, version } from '$service-worker';
import { getSettings } from '$lib/jobs/store';
import { mirrorOrigins } from '$lib/models/source';
import { pageWithPolicy, policyFromPage, withConnectSources } from '$lib/pwa/csp';
import {
  SHARE_CACHE,
  SHARE_TARGET_PATH,
  SHARED_FILE_KEY,
  SHARED_QUERY
} from '$lib/pwa/share-target';

const sw = self as unknown as ServiceWorkerGlobalScope;

const APP_CACHE_PREFIX = 'localbatch-app-';
const APP_CACHE = `${APP_CACHE_PREFIX}${version}`;
/** The single-page app's shell; sirv answers "/" with index.html. */
const SHELL = '/';
/** Written by scripts/precache-list.mjs: the chunks workers import, which `build` leaves out. */
const WORKER_CHUNKS = '/worker-chunks.json';

async function precacheList(): Promise<string[]> {
  const response = await fetch(WORKER_CHUNKS, { cache: 'no-store' }).catch(() => null);
  const chunks = response?.ok ? ((await response.json()) as string[]) : [];
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

sw.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith(APP_CACHE_PREFIX) && key !== APP_CACHE) await caches.delete(key);
      }
      await sw.clients.claim();
    })()
  );
});

sw.addEventListener('message', (event) => {
  if ((event.data as { type?: string } | null)?.type === 'SKIP_WAITING') void sw.skipWaiting();
});

async function fromCache(request: Request | string): Promise<Response | undefined> {
  const cache = await caches.open(APP_CACHE);
  return cache.match(request);
}

/** This version's copy when it has one (only precached files are), else the network. */
async function cacheFirst(request: Request): Promise<Response> {
  const cached = await fromCache(new URL(request.url).pathname);
  if (cached) return cached;
  return fetch(request);
}

/** Origins the configured model source needs beyond the policy's own (a self-hosted mirror). */
async function extraOrigins(): Promise<string[]> {
  try {
    return mirrorOrigins(await getSettings());
  } catch {
    return [];
  }
}

/** The app shell for any navigation: from the cache (its CSP naming a mirror if one is set). */
async function shell(request: Request): Promise<Response> {
  const cached = await fromCache(SHELL);
  if (!cached) return fetch(request);
  const origins = await extraOrigins();
  if (!origins.length) return cached;
  const html = await cached.text();
  const policy = policyFromPage(html);
  const page = policy ? pageWithPolicy(html, withConnectSources(policy, origins)) : html;
  return new Response(page, { status: cached.status, headers: cached.headers });
}

/**
 * A worker script with the page's policy as a header: a worker follows its own
 * response's policy, and the runner worker is where the model files are fetched.
 */
async function workerScript(request: Request): Promise<Response> {
  const [response, page] = await Promise.all([cacheFirst(request), fromCache(SHELL)]);
  const policy = page ? policyFromPage(await page.text()) : null;
  if (!policy || !response.ok) return response;
  const headers = new Headers(response.headers);
  headers.set('Content-Security-Policy', withConnectSources(policy, await extraOrigins()));
  return new Response(response.body, { status: response.status, headers });
}

/** Parks the shared file and sends the page to the import flow. */
async function receiveShare(request: Request): Promise<Response> {
  const data = await request.formData();
  const file = [...data.values()].find((value): value is File => value instanceof File);
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
