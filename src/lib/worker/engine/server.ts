/**
 * An OpenAI-compatible server (vLLM, llama.cpp server, Ollama, LM Studio) as an
 * engine: `POST /chat/completions` with `stream: true` (read in server-stream.ts), many
 * requests in flight. Faults the server can recover from (429, 5xx, a dropped
 * connection, a first token that never comes) are tried again with exponential backoff
 * and jitter, honouring Retry-After (shared/backoff.ts); an item the server refuses fails
 * with the server's own words; a server that stays down stops the run as 'server-down'
 * (the page resumes it when the server answers). The API key is sent as a bearer token
 * and blanked out of every message.
 */
import type { ServerChoice } from '$lib/shared/engine-choice';
import { jsonSchemaFormat } from '$lib/shared/answer';
import { backoffMs, retryAfterMs, sleep, type Backoff } from '$lib/shared/backoff';
import { streamedChatFields, type GenerateRequest } from '$lib/shared/request';
import { EngineError } from './errors';
import { FirstTokenTimer, readChatStream, type ChatStream } from './server-stream';
import type {
  Engine,
  EngineInfo,
  GenerateResult,
  ItemContext,
  LoadPlan,
  LoadProgress
} from './types';

export interface RetryPolicy extends Backoff {
  /** Tries of one request before the server counts as down (or the item as failed). */
  tries: number;
}

/** 0.5, 1, 2, 4 and 8 s (each between half and all of it), or what Retry-After asks up to a minute. */
export const RETRY_POLICY: RetryPolicy = {
  tries: 6,
  firstMs: 500,
  maxMs: 20_000,
  jitter: 0.5,
  maxRetryAfterMs: 60_000
};

export interface ServerEngineOptions {
  /** The API key for this server, read from this browser's settings at load. */
  apiKey?: () => Promise<string | null>;
  fetch?: typeof fetch;
  retry?: RetryPolicy;
  random?: () => number;
  sleep?: typeof sleep;
}

/** What one try of a request came to, when it did not give an answer. */
type TryFailure =
  | { retry: true; reason: string; retryAfterMs: number | null }
  | { retry: false; error: EngineError };

/** The server's own words for an error body: OpenAI's {"error": {"message"}} or vLLM's {"message"}. */
export function serverErrorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as {
      error?: { message?: unknown } | string;
      message?: unknown;
    };
    const inner = typeof parsed.error === 'object' ? parsed.error?.message : parsed.error;
    const text = inner ?? parsed.message;
    if (typeof text === 'string' && text.trim()) return text.trim();
  } catch {
    // Not JSON: the text as it came.
  }
  return body.trim().slice(0, 500) || 'no error text';
}

function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

export class ServerEngine implements Engine {
  readonly concurrency: number;
  #choice: ServerChoice;
  #options: Required<Omit<ServerEngineOptions, 'apiKey'>> & Pick<ServerEngineOptions, 'apiKey'>;
  #key: string | null = null;
  #loaded = false;

  constructor(choice: ServerChoice, options: ServerEngineOptions = {}) {
    this.#choice = choice;
    this.concurrency = Math.max(1, Math.floor(choice.concurrency));
    this.#options = {
      fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)),
      retry: options.retry ?? RETRY_POLICY,
      random: options.random ?? Math.random,
      sleep: options.sleep ?? sleep,
      apiKey: options.apiKey
    };
  }

  get #host(): string {
    try {
      return new URL(this.#choice.baseUrl).host;
    } catch {
      return this.#choice.baseUrl;
    }
  }

  /** The text with the API key blanked out: server messages may quote it. */
  #scrub(text: string): string {
    return this.#key ? text.replaceAll(this.#key, '[API key]') : text;
  }

  #headers(json: boolean): HeadersInit {
    return {
      ...(json ? { 'Content-Type': 'application/json' } : {}),
      ...(this.#key ? { Authorization: `Bearer ${this.#key}` } : {})
    };
  }

  #down(why: string): EngineError {
    return new EngineError(
      'server-down',
      this.#scrub(`The server at ${this.#host} does not answer (${why}).`),
      [this.#host]
    );
  }

  /** A server needs no memory plan on this machine. */
  async load(
    _plan: LoadPlan | null,
    onProgress: (progress: LoadProgress) => void
  ): Promise<EngineInfo> {
    onProgress({
      phase: 'gpu',
      text: `Asking the server at ${this.#host} for its models`,
      fraction: 0,
      loadedMB: null,
      totalMB: null,
      mbPerSecond: null,
      etaSeconds: null
    });
    const models = await this.listModels((await this.#options.apiKey?.()) ?? null);
    if (!models.ids.includes(this.#choice.model)) {
      throw new EngineError(
        'load-failed',
        `The server at ${this.#host} has no model "${this.#choice.model}"; it serves ${models.ids.map((id) => `"${id}"`).join(', ') || 'no model'}. Create the job again with one of those.`
      );
    }
    this.#loaded = true;
    onProgress({
      phase: 'ready',
      text: `Connected to ${models.name} at ${this.#host}`,
      fraction: 1,
      loadedMB: null,
      totalMB: null,
      mbPerSecond: null,
      etaSeconds: null
    });
    return {
      model: this.#choice.model,
      placeholder: false,
      adapter: `${models.name} at ${this.#host}`
    };
  }

  /** The models the server serves (GET /models), and what it calls itself. */
  async listModels(key: string | null): Promise<{ ids: string[]; name: string }> {
    this.#key = key;
    let response: Response;
    try {
      response = await this.#options.fetch(`${this.#choice.baseUrl}/models`, {
        headers: this.#headers(false)
      });
    } catch (error) {
      throw this.#down(
        `${error instanceof Error ? error.message : String(error)}; check that it runs, that its address is right, and that it allows this site (CORS)`
      );
    }
    const body = await response.text().catch(() => '');
    if (response.status === 401 || response.status === 403) {
      throw new EngineError(
        'load-failed',
        this.#scrub(
          `The server at ${this.#host} refused the API key (HTTP ${response.status}: ${serverErrorText(body)}). Enter the right key, then press Resume.`
        )
      );
    }
    if (!response.ok) throw this.#down(`HTTP ${response.status}: ${serverErrorText(body)}`);
    let data: unknown;
    try {
      data = JSON.parse(body);
    } catch {
      throw new EngineError(
        'load-failed',
        `The server at ${this.#host} answered GET /models with something that is not JSON: is ${this.#choice.baseUrl} its OpenAI API (usually ending in /v1)?`
      );
    }
    const list = (data as { data?: { id?: unknown; owned_by?: unknown }[] }).data ?? [];
    const ids = list.map((m) => m.id).filter((id): id is string => typeof id === 'string');
    const owner = list.map((m) => m.owned_by).find((o): o is string => typeof o === 'string');
    return { ids, name: owner === 'vllm' ? 'vLLM' : owner ? `${owner} server` : 'server' };
  }

  #body(request: GenerateRequest): string {
    return JSON.stringify({
      model: this.#choice.model,
      ...streamedChatFields(request),
      ...(request.schema ? { response_format: jsonSchemaFormat(request.schema) } : {})
    });
  }

  async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal,
    item?: ItemContext
  ): Promise<GenerateResult> {
    if (!this.#loaded) throw new EngineError('device-lost', 'The server engine is not loaded.');
    const { retry, random, sleep } = this.#options;
    let last = '';
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      const outcome = await this.#try(request, onText, signal);
      if ('text' in outcome) return outcome;
      if (!outcome.retry) throw outcome.error;
      last = outcome.reason;
      if (attempt >= retry.tries) throw this.#down(`${retry.tries} tries; the last: ${last}`);
      const waitMs = backoffMs(retry, attempt - 1, { retryAfterMs: outcome.retryAfterMs, random });
      item?.onRetry?.({ reason: this.#scrub(last), waitMs, attempt: attempt + 1 });
      try {
        await sleep(waitMs, { signal });
      } catch (error) {
        if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
        throw error;
      }
    }
  }

  /** One try: the answer, or what came instead. */
  async #try(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ): Promise<GenerateResult | TryFailure> {
    const timer = new FirstTokenTimer(this.#choice.firstTokenMs, signal);
    try {
      let response: Response;
      try {
        response = await this.#options.fetch(`${this.#choice.baseUrl}/chat/completions`, {
          method: 'POST',
          headers: this.#headers(true),
          body: this.#body(request),
          signal: timer.signal
        });
      } catch (error) {
        return this.#dropped(error, signal, timer.stalled);
      }
      if (!response.ok) return this.#refused(response);
      if (!response.body) {
        return { retry: true, reason: 'the response had no body', retryAfterMs: null };
      }
      let stream: ChatStream;
      try {
        stream = await readChatStream(response.body, onText, timer);
      } catch (error) {
        return this.#dropped(error, signal, timer.stalled);
      }
      if (stream.error !== null) {
        const error = new EngineError(
          'generation-failed',
          this.#scrub(`The server failed this item: ${serverErrorText(stream.error)}`)
        );
        return { retry: false, error };
      }
      if (!stream.done) {
        return {
          retry: true,
          reason: 'the connection closed before the answer ended',
          retryAfterMs: null
        };
      }
      return {
        text: stream.text,
        finishReason: stream.finishReason,
        model: stream.model ?? this.#choice.model,
        usage: stream.usage ?? { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 }
      };
    } finally {
      timer.stop();
    }
  }

  /** An answer other than 200: tried again (429, 5xx), a refused key, or a refused item. */
  async #refused(response: Response): Promise<TryFailure> {
    const text = this.#scrub(serverErrorText(await response.text().catch(() => '')));
    const status = response.status;
    if (status === 429 || status >= 500) {
      return {
        retry: true,
        reason: `HTTP ${status}: ${text}`,
        retryAfterMs: retryAfterMs(response.headers.get('Retry-After'))
      };
    }
    if (status === 401 || status === 403) {
      return {
        retry: false,
        error: new EngineError(
          'load-failed',
          `The server at ${this.#host} refused the API key (HTTP ${status}: ${text}). Enter the right key, then press Resume.`
        )
      };
    }
    return {
      retry: false,
      error: new EngineError(
        'generation-failed',
        `The server refused this item (HTTP ${status}): ${text}`
      )
    };
  }

  #dropped(error: unknown, signal: AbortSignal, timedOut: boolean): TryFailure {
    if (signal.aborted) return { retry: false, error: new EngineError('cancelled', 'Stopped.') };
    if (timedOut) {
      return {
        retry: true,
        reason: `no first token within ${Math.round(this.#choice.firstTokenMs / 1000)} s`,
        retryAfterMs: null
      };
    }
    const why = isAbort(error)
      ? 'the request was cut'
      : error instanceof Error
        ? error.message
        : String(error);
    return {
      retry: true,
      reason: `the connection dropped (${this.#scrub(why)})`,
      retryAfterMs: null
    };
  }

  tokenizer(): null {
    return null;
  }

  async unload(): Promise<void> {
    this.#loaded = false;
  }
}
