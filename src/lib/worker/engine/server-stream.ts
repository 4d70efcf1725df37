/**
 * Reading a server's streamed chat completion: the server-sent events of
 * `POST /chat/completions` with `stream: true` (eventsource-parser), as OpenAI and vLLM
 * send them (text deltas, a finish reason, a usage chunk, `data: [DONE]`), and the timer
 * that cuts a request whose first token does not come in time.
 */
import { createParser } from 'eventsource-parser';
import type { FinishReason, Usage } from '$lib/shared/job';

/**
 * Cuts a request when no token came within `ms` of its start, so a stalled server is tried
 * again instead of waited for. Its `signal` aborts on the stall or when `outer` aborts: give
 * it to fetch, then to `readChatStream`.
 */
export class FirstTokenTimer {
  #controller = new AbortController();
  #outer: AbortSignal;
  #timer: ReturnType<typeof setTimeout>;
  #tokenCame = false;
  #stalled = false;
  readonly #abort = () => this.#controller.abort(this.#outer.reason);

  constructor(ms: number, outer: AbortSignal) {
    this.#outer = outer;
    this.#timer = setTimeout(() => {
      if (this.#tokenCame) return;
      this.#stalled = !outer.aborted;
      this.#controller.abort();
    }, ms);
    if (outer.aborted) this.#abort();
    else outer.addEventListener('abort', this.#abort, { once: true });
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** The first token did not come in time (and the request was not stopped from outside). */
  get stalled(): boolean {
    return this.#stalled;
  }

  tokenCame(): void {
    this.#tokenCame = true;
  }

  /** Ends the watch; call it once the request is over. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#outer.removeEventListener('abort', this.#abort);
  }
}

/** What a stream came to. */
export interface ChatStream {
  text: string;
  finishReason: FinishReason;
  /** The model the server named, if it named one. */
  model: string | null;
  /** The usage chunk (`stream_options.include_usage`), if one came. */
  usage: Usage | null;
  /** The server's error event, as it sent it (JSON text), if one came. */
  error: string | null;
  /** `data: [DONE]` came: the answer is whole. */
  done: boolean;
}

interface Chunk {
  error?: { message?: string } | string;
  model?: string;
  choices?: { delta?: { content?: string | null }; finish_reason?: string | null }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
}

/**
 * Reads a chat completion stream to its end, handing each piece of text to `onText` as it
 * comes. Rejects when the body fails (a dropped connection) or the timer's signal aborts
 * (a stall or a stop): `timer.stalled` and the caller's signal tell which.
 */
export async function readChatStream(
  body: ReadableStream<BufferSource>,
  onText: (delta: string) => void,
  timer: FirstTokenTimer
): Promise<ChatStream> {
  const stream: ChatStream = {
    text: '',
    finishReason: 'stop',
    model: null,
    usage: null,
    error: null,
    done: false
  };
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === '[DONE]') {
        stream.done = true;
        return;
      }
      let chunk: Chunk;
      try {
        chunk = JSON.parse(event.data) as Chunk;
      } catch {
        return;
      }
      if (chunk.error) {
        stream.error = JSON.stringify(chunk);
        return;
      }
      if (typeof chunk.model === 'string') stream.model = chunk.model;
      const choice = chunk.choices?.[0];
      const delta = choice?.delta?.content ?? '';
      if (delta) {
        timer.tokenCame();
        stream.text += delta;
        onText(delta);
      }
      if (choice?.finish_reason === 'length') stream.finishReason = 'length';
      if (chunk.usage) {
        const prompt = chunk.usage.prompt_tokens ?? 0;
        const completion = chunk.usage.completion_tokens ?? 0;
        stream.usage = {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: chunk.usage.total_tokens ?? prompt + completion
        };
      }
    }
  });
  // The pipe fails with the signal's reason when it aborts, whatever the body does.
  const reader = body.pipeThrough(new TextDecoderStream(), { signal: timer.signal }).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return stream;
    parser.feed(value);
  }
}
