// A single-page app: IndexedDB and WebGPU exist only in the browser.
export const ssr = false;
export const prerender = false;
