import { sveltekit } from '@sveltejs/kit/vite';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  plugins: [sveltekit()],
  worker: { format: 'es' },
  server: { fs: { allow: ['workers'] } },
  preview: { port: Number(process.env.PORT ?? 4173) },
  test: {
    include: ['tests/unit/**/*.test.ts'],
    environment: 'node'
  }
});
