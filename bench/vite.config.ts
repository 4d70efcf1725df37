/** Builds bench/bare-loop.ts (the benchmark's baselines) into one file, apart from the app. */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  resolve: { alias: { $lib: fileURLToPath(new URL('../src/lib', import.meta.url)) } },
  build: {
    outDir: fileURLToPath(new URL('../.test-output/bench-build', import.meta.url)),
    emptyOutDir: true,
    lib: {
      entry: fileURLToPath(new URL('bare-loop.ts', import.meta.url)),
      formats: ['es'],
      fileName: () => 'bare-loop.js'
    }
  }
});
