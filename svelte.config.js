import adapter from '@sveltejs/adapter-static';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/**
 * The model files' hosts: WebLLM fetches weights and configs from Hugging Face
 * (which redirects large files to its CDN and Xet storage under hf.co) and the
 * compiled model libraries (wasm) from GitHub. Nothing else leaves the page.
 * A self-hosted mirror set on the Models page is added by the service worker
 * (see src/service-worker.ts), which serves the page.
 */
export const MODEL_HOSTS = [
  'https://huggingface.co',
  'https://*.huggingface.co',
  'https://*.hf.co',
  'https://raw.githubusercontent.com'
];

/**
 * SvelteKit's route announcer (a visually hidden live region it adds to every
 * page) carries an inline style attribute. Rather than allow inline styles,
 * the policy allows that one attribute by its hash, read from SvelteKit's
 * source so an upgrade cannot silently break it.
 */
function announcerStyleHash() {
  const require = createRequire(import.meta.url);
  const root = require.resolve('@sveltejs/kit/package.json').replace(/package\.json$/, '');
  const source = readFileSync(`${root}src/core/sync/write_root.js`, 'utf8');
  const style = /id="svelte-announcer"[^>]*?style="([^"]+)"/.exec(source)?.[1];
  if (!style) throw new Error("svelte.config.js: SvelteKit's route announcer style was not found");
  return `sha256-${createHash('sha256').update(style).digest('base64')}`;
}

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: every route renders in the browser, and unknown paths
    // (such as /jobs/<id>) fall back to index.html.
    adapter: adapter({ fallback: 'index.html', strict: true }),
    alias: { $workers: 'workers' },
    // Registered by src/lib/pwa/app-update.svelte.ts, which also offers updates.
    serviceWorker: { register: false },
    // A strict policy as a <meta> tag in the page (a static site sets no headers); SvelteKit adds
    // the hash of its own inline start-up script. No inline script or eval; wasm may compile
    // (WebLLM's runtime is WebAssembly).
    csp: {
      mode: 'hash',
      directives: {
        'default-src': ['self'],
        'script-src': ['self', 'wasm-unsafe-eval'],
        'style-src': ['self'],
        'style-src-attr': ['unsafe-hashes', announcerStyleHash()],
        'img-src': ['self', 'data:', 'blob:'],
        'font-src': ['self'],
        'connect-src': ['self', ...MODEL_HOSTS],
        'worker-src': ['self'],
        'manifest-src': ['self'],
        'object-src': ['none'],
        'base-uri': ['self'],
        'form-action': ['self'],
        'frame-src': ['none']
      }
    }
  }
};

export default config;
