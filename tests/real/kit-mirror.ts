/**
 * The real-runtime tests' model mirror: serves the kit folder (scripts/real-kit/kit.mjs) on
 * 127.0.0.1 in the Models page's mirror layout, so the app reaches the kit model through its
 * own Model source setting and WebLLM loads it as it would from Hugging Face and GitHub.
 * (127.0.0.1, not localhost: WebLLM does not cache a wasm whose URL has "localhost".)
 *
 * Files stream from disk (the shards are 300 MB together); every request is logged.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, resolve, sep } from 'node:path';
import {
  DEFAULT_KIT_FOLDER,
  KIT_MODEL_ID,
  STAMP_FILE,
  ensureRealKit,
  findKitLibrary
} from '../../scripts/real-kit/kit.mjs';

export { KIT_MODEL_ID, STAMP_FILE };

const CONTENT_TYPES: Record<string, string> = {
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream'
};

export interface KitMirror {
  /** The base URL to enter as the model source, with a trailing slash. */
  url: string;
  port: number;
  requests: { method: string; path: string; status: number }[];
  close(): Promise<void>;
}

/**
 * The kit made (or found up to date) for this run, or why the real-runtime tests are skipped
 * (one line: LOCALBATCH_TEST_LIBS unset, or the library missing from it). For a Playwright
 * globalSetup (one process: two making the kit at once would write over each other's files);
 * generation takes a few seconds, a call that finds the kit up to date well under one.
 */
export function prepareRealKit(
  out: string = DEFAULT_KIT_FOLDER
): { folder: string; skipped?: undefined } | { folder?: undefined; skipped: string } {
  const found = findKitLibrary();
  if (found.problem !== undefined) return { skipped: found.problem };
  return { folder: ensureRealKit({ library: found.library, out }).folder };
}

/** Serves `folder` on 127.0.0.1 (any free port unless one is given) until close(). */
export async function startKitMirror(
  folder: string = DEFAULT_KIT_FOLDER,
  port = 0
): Promise<KitMirror> {
  const root = resolve(folder);
  const requests: KitMirror['requests'] = [];

  function handle(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? 'GET';
    const path = pathOf(req.url);
    const answer = (status: number, headers: Record<string, string | number> = {}) => {
      requests.push({ method, path: path ?? String(req.url), status });
      res.writeHead(status, {
        'Access-Control-Allow-Origin': '*',
        'Cache-Control': 'no-store',
        ...headers
      });
    };
    if (method === 'OPTIONS') {
      answer(204, {
        'Access-Control-Allow-Methods': 'GET, HEAD',
        'Access-Control-Allow-Headers': '*'
      });
      res.end();
      return;
    }
    const file = resolve(root, '.' + (path ?? ''));
    const size = path !== null && file.startsWith(root + sep) ? fileSize(file) : null;
    if (size === null || (method !== 'GET' && method !== 'HEAD')) {
      answer(size === null ? 404 : 405, { 'Content-Type': 'text/plain' });
      res.end(size === null ? 'Not found' : 'Method not allowed');
      return;
    }
    answer(200, {
      'Content-Type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': size
    });
    if (method === 'HEAD') res.end();
    else
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
  }

  const server = createServer(handle);
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => done());
  });
  const address = server.address();
  if (address === null || typeof address === 'string')
    throw new Error('The kit mirror has no port.');
  return {
    url: `http://127.0.0.1:${address.port}/`,
    port: address.port,
    requests,
    close: () => {
      const closed = new Promise<void>((done) => server.close(() => done()));
      server.closeAllConnections();
      return closed;
    }
  };
}

/** The request's path, or null when it is not a well-formed URL path. */
function pathOf(url = '/'): string | null {
  try {
    return decodeURIComponent(new URL(url, 'http://mirror').pathname);
  } catch {
    return null;
  }
}

function fileSize(file: string): number | null {
  try {
    const stat = statSync(file);
    return stat.isFile() ? stat.size : null;
  } catch {
    return null;
  }
}
