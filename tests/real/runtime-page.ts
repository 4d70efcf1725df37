/**
 * The real-runtime page (bench/real-batch.ts, built by bench/vite.real.config.ts into
 * .test-output/bench-real-build/): WebLLM's runtime with no app around it, served on 127.0.0.1
 * by the test or bench that loads it, until it closes.
 */
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { GenerateRequest } from '../../src/lib/shared/request';

const BUILD = new URL('../../.test-output/bench-real-build/', import.meta.url).pathname;

/** An answer as the tests compare it, with its decode speed. */
export interface RuntimeAnswer {
  text: string;
  finish: string;
  prompt: number;
  /** Every token sampled, a stop token included. */
  completion: number;
  decodeTokensPerSecond: number | null;
}

/** An answer read with a kept prefix: the prompt tokens it did not read. */
export interface SharedAnswer extends RuntimeAnswer {
  cached: number;
}

/** What the page's `chatAnswers` and `batchOfOne` take. */
export interface ChatOptions {
  modelId: string;
  mirror: string | null;
  requests: GenerateRequest[];
}

export interface RuntimePage {
  url: string;
  close(): Promise<void>;
}

export async function serveRuntimePage(): Promise<RuntimePage> {
  const html =
    '<!doctype html><meta charset="utf-8"><script type="module" src="/real-batch.js"></script>';
  const script = await readFile(join(BUILD, 'real-batch.js')).catch(() => {
    throw new Error(
      `The real-runtime page is not built (${BUILD}): vite build -c bench/vite.real.config.ts (npm run test:real builds it).`
    );
  });
  const server = createServer((req, res) => {
    if (req.url === '/') return res.writeHead(200, { 'Content-Type': 'text/html' }).end(html);
    if (req.url === '/real-batch.js')
      return res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script);
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`,
    close: () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      return closed;
    }
  };
}
