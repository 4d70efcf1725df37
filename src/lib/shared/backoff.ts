/**
 * How long to wait before trying again, for everything that talks to a server: the model
 * downloader, the server engine and the page asking a down server again. One schedule
 * (doubling from a first wait up to a ceiling, with a share of each wait left to chance),
 * a server's own Retry-After, and one abortable sleep.
 */

export interface Backoff {
  /** The wait before the first retry; each next one doubles. */
  firstMs: number;
  /** No wait is longer. */
  maxMs: number;
  /**
   * The share of each wait left to chance, 0 to 1: 0 waits exactly, 0.5 between half and
   * all of it. Many clients failed by the same fault then do not all come back at once.
   */
  jitter: number;
  /** The longest Retry-After honoured; `maxMs` when not given. */
  maxRetryAfterMs?: number;
}

/**
 * The wait before retry `retry` (0 is the first), or what the server asked for in
 * Retry-After (capped). `random` returns [0, 1), as Math.random does.
 */
export function backoffMs(
  backoff: Backoff,
  retry: number,
  {
    retryAfterMs = null,
    random = Math.random
  }: { retryAfterMs?: number | null; random?: () => number } = {}
): number {
  if (retryAfterMs !== null)
    return Math.min(retryAfterMs, backoff.maxRetryAfterMs ?? backoff.maxMs);
  const ceiling = Math.min(backoff.maxMs, backoff.firstMs * 2 ** retry);
  const fixed = ceiling * (1 - backoff.jitter);
  return Math.round(fixed + random() * (ceiling - fixed));
}

/** Retry-After as milliseconds from `now`: seconds, or an HTTP date; null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  const text = header?.trim();
  if (!text) return null;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  // Every HTTP date names its day or month; Date.parse would also read "-1" or "12" as a date.
  if (!/[a-z]/i.test(text)) return null;
  const date = Date.parse(text);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

export interface SleepOptions {
  signal?: AbortSignal;
  /** An event of the global scope that ends the wait early (resolved), such as 'online'. */
  wakeOn?: string;
}

/**
 * Waits `ms`. On abort it rejects at once with the signal's reason, as fetch does (an
 * AbortError DOMException unless whoever aborted gave another); a signal aborted
 * already rejects without waiting. Callers turn that into their own "stopped".
 */
export function sleep(ms: number, { signal, wakeOn }: SleepOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const end = () => {
      clearTimeout(timer);
      if (wakeOn) globalThis.removeEventListener?.(wakeOn, wake);
      signal?.removeEventListener('abort', abort);
    };
    const wake = () => {
      end();
      resolve();
    };
    const abort = () => {
      end();
      reject(signal?.reason);
    };
    const timer = setTimeout(wake, ms);
    if (wakeOn) globalThis.addEventListener?.(wakeOn, wake);
    signal?.addEventListener('abort', abort, { once: true });
  });
}
