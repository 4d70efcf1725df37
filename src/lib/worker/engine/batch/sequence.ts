/**
 * One sequence of a batch, after its prompt: the tokens it sampled, when it stops and what
 * text it has streamed. A port of WebLLM 0.2.79's `LLMChatPipeline.processNextToken` and
 * its streaming `_getChunk` (lib/index.js), so a batched answer stops, counts and streams
 * exactly as the same request on WebLLM's own path: stop tokens first, then stop strings
 * (cut at the last match), then `max_tokens`, then the context window; a delta waits while
 * the text ends in a broken multi-byte character.
 */

export type SequenceFinish = 'stop' | 'length';

export interface SequenceRules {
  /** The chat template's stop tokens (WebLLM: `conversation.getStopTokens()`). */
  stopTokens: readonly number[];
  /** The chat template's stop strings. */
  stopStrings: readonly string[];
  maxTokens: number;
  /** Prompt tokens; the sequence may grow to `window` tokens in all. */
  promptTokens: number;
  window: number;
}

const REPLACEMENT = '\uFFFD';

function trailingReplacements(text: string): number {
  let count = 0;
  for (let i = text.length - 1; i >= 0 && text[i] === REPLACEMENT; i--) count++;
  return count;
}

export class SequenceState {
  readonly outputIds: number[] = [];
  /** How often each answer token appeared, in first-seen order (penalties read it). */
  readonly appeared = new Map<number, number>();
  finish: SequenceFinish | null = null;
  #message = '';
  #sentLength = 0;
  /** Every token sampled, a stop token included (what the usage counts). */
  sampled = 0;

  constructor(
    readonly rules: SequenceRules,
    private readonly decode: (ids: Int32Array) => string
  ) {
    if (rules.maxTokens <= 0) throw new RangeError('max_tokens must be at least 1.');
  }

  /** The last token, which the next decode step feeds back. */
  get lastToken(): number {
    const last = this.outputIds.at(-1);
    if (last === undefined) throw new Error('The sequence has no token yet.');
    return last;
  }

  /** The tokens in the KV cache once the next step has run. */
  get filled(): number {
    return this.rules.promptTokens + this.outputIds.length;
  }

  /** Takes a sampled token; returns the text to stream now ('' while it waits). */
  accept(token: number): string {
    if (this.finish) throw new Error('The sequence has already finished.');
    this.sampled++;
    if (this.rules.stopTokens.includes(token)) this.finish = 'stop';
    else {
      this.outputIds.push(token);
      this.appeared.set(token, (this.appeared.get(token) ?? 0) + 1);
    }
    let message = this.decode(new Int32Array(this.outputIds));
    for (const stop of this.rules.stopStrings) {
      const at = message.lastIndexOf(stop);
      if (at !== -1) {
        message = message.substring(0, at);
        this.finish = 'stop';
        break;
      }
    }
    this.#message = message;
    if (this.outputIds.length >= this.rules.maxTokens) this.finish = 'length';
    // WebLLM's pipeline stops when its cache holds the window: the prompt and every token fed
    // back, which is every token sampled before this one (a stop token's predecessor too).
    if (this.rules.promptTokens + this.sampled - 1 >= this.rules.window) this.finish = 'length';
    return this.#delta();
  }

  #delta(): string {
    if (trailingReplacements(this.#message) % 4 !== 0) return '';
    const delta = this.#message.slice(this.#sentLength);
    this.#sentLength = this.#message.length;
    return delta;
  }
}
