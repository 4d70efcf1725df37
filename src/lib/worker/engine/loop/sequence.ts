/**
 * One sequence of the step loop, from the request that asks for it to the answer it settles
 * with: the one record every action reads and writes (as mlc-llm's `RequestModelState`).
 *
 * Its answer follows WebLLM 0.2.79's `LLMChatPipeline.processNextToken` and streaming
 * `_getChunk` (lib/index.js), so an answer stops, counts and streams exactly as WebLLM's own:
 * stop tokens first, then stop strings (cut at the last match), then `max_tokens`, then the
 * context window; a delta waits while the text ends in a broken multi-byte character.
 */
import type { EngineError } from '../errors';
import type { GrammarMatcher, Rng, SequenceSource } from './model';

export type SequenceFinish = 'stop' | 'length';

export interface LoopRequest extends SequenceSource {
  maxTokens: number;
  seed: number;
  temperature?: number;
  topP?: number;
  /** A JSON schema as a string: xgrammar holds the answer to it. */
  schema?: string;
  onText(delta: string): void;
}

export interface LoopAnswer {
  finishReason: SequenceFinish;
  promptTokens: number;
  /** Every token sampled, a stop token included. */
  completionTokens: number;
  /** Prompt tokens not read for it: a kept prefix's (0 where none was). */
  cachedTokens: number;
}

/** What the answer's rules need of the model. */
export interface AnswerRules {
  stopTokens: readonly number[];
  stopStrings: readonly string[];
  /** The sequence may grow to `window` tokens in all, prompt included. */
  window: number;
  detokenize(ids: Int32Array): string;
}

const REPLACEMENT = '\uFFFD';

function trailingReplacements(text: string): number {
  let count = 0;
  for (let i = text.length - 1; i >= 0 && text[i] === REPLACEMENT; i--) count++;
  return count;
}

export class Sequence {
  /** 'waiting' until admitted, 'live' while in a slot, 'settled' once its promise has settled. */
  status: 'waiting' | 'live' | 'settled' = 'waiting';
  /** Its KV slot while live. */
  slot = -1;
  /** Its slot holds a KV sequence (opened, or holding the kept prefix). */
  opened = false;
  /** The job's prefix when its prompt begins with it (read as a chunk of its own), else null. */
  prefix: readonly number[] | null = null;
  /** The prefix's length (0: none). */
  prefixTokens = 0;
  /** Prompt tokens its slot holds so far, read or kept. */
  cursor = 0;
  /** Answer tokens fed back into its slot (a decode each). */
  fedBack = 0;
  /** Prompt tokens its slot held already, kept from the sequence before: not read. */
  cachedTokens = 0;
  rng: Rng | null = null;
  matcher: GrammarMatcher | null = null;
  cancelled = false;
  /** Its own failure (a seed, a grammar, a sampling error): it alone settles with it. */
  failure: EngineError | null = null;
  readonly outputIds: number[] = [];
  /** How often each answer token appeared, in first-seen order (penalties read it). */
  readonly appeared = new Map<number, number>();
  finish: SequenceFinish | null = null;
  /** Every token sampled, a stop token included (what the usage counts). */
  sampled = 0;
  #message = '';
  #sentLength = 0;

  constructor(
    readonly request: LoopRequest,
    private readonly settle: {
      resolve(answer: LoopAnswer): void;
      reject(error: unknown): void;
    }
  ) {}

  get promptTokens(): number {
    return this.request.promptIds.length;
  }

  /** Still reading its prompt. */
  get reading(): boolean {
    return this.cursor < this.promptTokens;
  }

  /** Has a token to feed back in the next decode. */
  get decoding(): boolean {
    return (
      !this.cancelled && this.finish === null && this.failure === null && this.outputIds.length > 0
    );
  }

  /** The last token, which the next decode step feeds back. */
  get lastToken(): number {
    const last = this.outputIds.at(-1);
    if (last === undefined) throw new Error('The sequence has no token yet.');
    return last;
  }

  /** Done with the slot: finished, failed or cancelled. */
  get over(): boolean {
    return this.cancelled || this.finish !== null || this.failure !== null;
  }

  /** Takes a sampled token; returns the text to stream now ('' while it waits). */
  accept(token: number, rules: AnswerRules): string {
    if (this.finish) throw new Error('The sequence has already finished.');
    this.sampled++;
    if (rules.stopTokens.includes(token)) this.finish = 'stop';
    else {
      this.outputIds.push(token);
      this.appeared.set(token, (this.appeared.get(token) ?? 0) + 1);
    }
    let message = rules.detokenize(new Int32Array(this.outputIds));
    for (const stop of rules.stopStrings) {
      const at = message.lastIndexOf(stop);
      if (at !== -1) {
        message = message.substring(0, at);
        this.finish = 'stop';
        break;
      }
    }
    this.#message = message;
    if (this.outputIds.length >= this.request.maxTokens) this.finish = 'length';
    // WebLLM's pipeline stops when its cache holds the window: the prompt and every token fed
    // back, which is every token sampled before this one (a stop token's predecessor too).
    if (this.promptTokens + this.sampled - 1 >= rules.window) this.finish = 'length';
    return this.#delta();
  }

  #delta(): string {
    if (trailingReplacements(this.#message) % 4 !== 0) return '';
    const delta = this.#message.slice(this.#sentLength);
    this.#sentLength = this.#message.length;
    return delta;
  }

  /** Settles its promise: with its answer when it finished, else with its failure or `error`. */
  end(error?: unknown): void {
    if (this.status === 'settled') return;
    this.status = 'settled';
    this.matcher?.dispose();
    this.matcher = null;
    if (error !== undefined) this.settle.reject(error);
    else if (this.failure) this.settle.reject(this.failure);
    else if (this.finish)
      this.settle.resolve({
        finishReason: this.finish,
        promptTokens: this.promptTokens,
        completionTokens: this.sampled,
        cachedTokens: this.cachedTokens
      });
    else this.settle.reject(new DOMException('The request was cancelled.', 'AbortError'));
  }
}
