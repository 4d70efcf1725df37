/**
 * The step loop: every job on the user's GPU goes through it, one sequence at a time
 * included (a batch of one), on WebLLM's runtime or the simulated model (model.ts). As
 * mlc-llm's serve engine, it runs actions over one record per sequence, step after step
 * (continuous batching): retire what was cancelled, admit waiting requests to free slots
 * (one that keeps the job's prefix where their prompts begin with it: actions/prefix.ts),
 * prefill one chunk of the oldest sequence still reading its prompt, decode one token for
 * every sequence that has one to feed back, sample each row, retire what finished. A
 * sequence that stops frees its slot at once for the next request.
 *
 * A failed step fails every sequence with one typed error (actions/recover.ts), and the loop
 * takes no more: the engine loads again, as after any lost device.
 */
import { EngineError } from '../errors';
import { admit } from './actions/admit';
import { decode } from './actions/decode';
import { prefill } from './actions/prefill';
import { checkDevice, failAll, stepFailure } from './actions/recover';
import { retire } from './actions/retire';
import { setPrefix } from './actions/prefix';
import type { StepModel } from './model';
import { Sequence, type LoopAnswer, type LoopRequest } from './sequence';
import { loopState, type LoopState } from './state';

/** What a step did, for the engine's speed figures. */
export interface StepReport {
  prefilledTokens: number;
  decodedRows: number;
  ms: number;
}

export interface StepLoopOptions {
  /** The most tokens one sequence holds, prompt and answer (the job's window). */
  window: number;
  /**
   * Tokens every prompt begins with (the job's shared prefix): read as a chunk of their own, and
   * kept in each slot for the next prompt where `sharePrefix` (the default) and the model can
   * (actions/prefix.ts).
   */
  prefixTokens?: number;
  sharePrefix?: boolean;
  onStep?: (report: StepReport) => void;
}

/** How long close() lets a step under way end (a lost device's ends within a second). */
const CLOSE_WAIT_MS = 5_000;

export class StepLoop {
  readonly #state: LoopState;
  readonly #options: StepLoopOptions;
  /** Why the loop takes no more requests, once a step failed or it closed. */
  #broken: EngineError | null = null;
  #driving = false;
  /** The loop stepping while there is work (close waits for its step). */
  #driven: Promise<void> = Promise.resolve();

  constructor(model: StepModel, options: StepLoopOptions) {
    this.#state = loopState(model, options.window, options.prefixTokens, options.sharePrefix);
    this.#options = options;
  }

  /**
   * The job's shared prefix for the requests queued after: its tokens (0: none), and whether
   * slots keep it (actions/prefix.ts). A slot keeping another is freed.
   */
  usePrefix(tokens: number, share: boolean): void {
    setPrefix(this.#state, tokens, share);
  }

  /** Sequences running or waiting. */
  get size(): number {
    return this.#state.live.length + this.#state.waiting.length;
  }

  /**
   * Queues a request; the promise settles when its sequence stops (or fails). `signal`
   * cancels it at once; it leaves its slot before the next step.
   */
  generate(request: LoopRequest, signal?: AbortSignal): Promise<LoopAnswer> {
    if (this.#broken) return Promise.reject(this.#broken);
    const prompt = request.promptIds.length;
    if (prompt === 0)
      return Promise.reject(new EngineError('generation-failed', 'The prompt has no tokens.'));
    const { window } = this.#options;
    if (prompt >= window)
      return Promise.reject(
        new EngineError(
          'context-exceeded',
          `The prompt is longer than the model's context window (number of prompt tokens: ${prompt}; context window size: ${window}).`
        )
      );
    return new Promise<LoopAnswer>((resolve, reject) => {
      const cancel = () => {
        sequence.cancelled = true;
        sequence.end(new DOMException('The request was cancelled.', 'AbortError'));
      };
      const sequence = new Sequence(request, {
        resolve: (answer) => (signal?.removeEventListener('abort', cancel), resolve(answer)),
        reject: (error) => (signal?.removeEventListener('abort', cancel), reject(error))
      });
      if (signal?.aborted) return cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      this.#state.waiting.push(sequence);
      if (!this.#driving) {
        this.#driving = true;
        this.#driven = this.#drive();
      }
    });
  }

  /** Steps while there is work; `#driving` turns false in the same turn the loop sees none. */
  async #drive(): Promise<void> {
    try {
      while (this.#broken === null && this.size > 0) {
        try {
          await this.#step();
        } catch (error) {
          this.#fail(await stepFailure(this.#state, error));
        }
      }
    } finally {
      this.#driving = false;
    }
  }

  async #step(): Promise<void> {
    const state = this.#state;
    const started = performance.now();
    checkDevice(state);
    retire(state);
    await admit(state);
    const prefilledTokens = await prefill(state);
    const decodedRows = await decode(state);
    // A row's error from a device lost meanwhile (its tokenizer freed, say) is the step's.
    checkDevice(state);
    retire(state);
    this.#options.onStep?.({ prefilledTokens, decodedRows, ms: performance.now() - started });
  }

  #fail(error: EngineError): void {
    this.#broken ??= error;
    failAll(this.#state, error);
  }

  /**
   * Fails what is left, lets a step under way end, then frees what the model holds for the
   * loop (the model itself stays loaded).
   */
  async close(): Promise<void> {
    this.#fail(new EngineError('device-lost', 'The model was unloaded while it ran.'));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#driven,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))
    ]);
    clearTimeout(timer);
    this.#state.model.dispose();
  }
}
