import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [sveltekit()],
  worker: { format: 'es' },
  server: { fs: { allow: ['workers'] } },
  preview: { port: Number(process.env.PORT ?? 4173) },
  test: {
    // A guard against a hung test, not a speed check (speed is the bench's): the 100,000-item
    // tests take 1-7 s on a busy 2-core machine, past Vitest's default of 5 s.
    testTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          exclude: ['tests/unit/**/*.svelte.test.ts'],
          environment: 'node'
        }
      },
      {
        // Runes classes (`*.svelte.test.ts`) run as on the page: compiled for the client.
        extends: true,
        resolve: { conditions: ['browser'] },
        test: {
          name: 'runes',
          include: ['tests/unit/**/*.svelte.test.ts'],
          environment: './tests/unit/runes-environment.ts'
        }
      }
    ]
  }
});
