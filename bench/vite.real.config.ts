/** Builds bench/real-batch.ts (WebLLM and the step loop, for bench/real-batch.spec.ts) into one file. */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  resolve: { alias: { $lib: fileURLToPath(new URL('../src/lib', import.meta.url)) } },
  build: {
    outDir: fileURLToPath(new URL('../.test-output/bench-real-build', import.meta.url)),
    emptyOutDir: true,
    lib: {
      entry: fileURLToPath(new URL('real-batch.ts', import.meta.url)),
      formats: ['es'],
      fileName: () => 'real-batch.js'
    },
    rollupOptions: { output: { codeSplitting: false } }
  }
});
