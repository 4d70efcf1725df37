/** The fake mirror (tests/e2e/fake-mirror.ts) behind a fetch, for the model source and downloader tests. */
import { fakeMirrorFiles } from '../../e2e/fake-mirror';

export const MIRROR = 'https://mirror.test/mlc/';
export const MODEL = 'Qwen2.5-0.5B-Instruct-q4f16_1-MLC';

/** A fetch that serves the fake mirror at MIRROR, counting requests. */
export function mirrorFetch(files = fakeMirrorFiles(3, 1000)) {
  const log: string[] = [];
  let failAfter = Infinity;
  let failures = Infinity;
  const fetchFn = async (input: string, init?: RequestInit): Promise<Response> => {
    if (init?.signal?.aborted) throw new DOMException('Aborted', 'AbortError');
    const url = new URL(input);
    if (url.origin !== new URL(MIRROR).origin) throw new TypeError('Failed to fetch');
    if (failAfter-- <= 0 && failures-- > 0) throw new TypeError('Failed to fetch');
    const path = url.pathname.slice(new URL(MIRROR).pathname.length - 1);
    log.push(`${init?.method ?? 'GET'} ${path}`);
    const body = files.get(path);
    if (!body) return new Response('Not found', { status: 404, statusText: 'Not Found' });
    return new Response(init?.method === 'HEAD' ? null : body.slice(), { status: 200 });
  };
  return {
    fetch: fetchFn,
    log,
    files,
    /** After `n` requests the connection drops, for `times` requests (default: for good). */
    failAfter: (n: number, times = Infinity) => {
      failAfter = n;
      failures = times;
    }
  };
}
