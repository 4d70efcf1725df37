import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [sveltekit()],
  worker: { format: 'es' },
  server: { fs: { allow: ['workers'] } },
  preview: { port: Number(process.env.PORT ?? 4173) },
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node',
    // A guard against a hung test, not a speed check (speed is the bench's): the 100,000-item
    // tests take 1-7 s on a busy 2-core machine, past Vitest's default of 5 s.
    testTimeout: 60_000
  }
});
