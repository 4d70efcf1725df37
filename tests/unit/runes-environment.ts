/**
 * Node, with modules compiled as for the browser: Svelte's client build, where
 * `$state`, `$derived` and `$effect` in a `.svelte.ts` class run as on the page.
 */
import type { Environment } from 'vitest/environments';

export default {
  name: 'runes',
  viteEnvironment: 'client',
  setup: () => ({ teardown: () => {} })
} satisfies Environment;
