import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
  preprocess: vitePreprocess(),
  kit: {
    // A single-page app: every route renders in the browser, and unknown paths
    // (such as /jobs/<id>) fall back to index.html.
    adapter: adapter({ fallback: 'index.html', strict: true }),
    alias: { $workers: 'workers' }
  }
};

export default config;
