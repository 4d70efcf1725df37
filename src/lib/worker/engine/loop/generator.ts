/**
 * What an engine on the user's GPU (WebLLM, simulated) makes of the step loop: a request in,
 * its prompt laid out as the model lays it out, its answer and usage out. Usage counts every
 * token sampled, a stop token included (as OpenAI and vLLM count it); speeds are measured
 * over the loop's steps.
 */
import { EngineError, translateEngineError } from '../errors';
import type { GenerateResult, ItemContext, PromptPrefix } from '../types';
import type { GenerateRequest } from '$lib/shared/request';
import { StepLoop, type StepReport } from './loop';
import type { StepModel } from './model';

export class LoopGenerator {
  readonly #loop: StepLoop;
  readonly #model: StepModel;
  /** Recent steps, for the speeds a result reports. */
  #prefill = { tokens: 0, ms: 0 };
  #decode = { tokens: 0, ms: 0 };

  /** `prefix`: the job's shared prefix, and whether slots keep it (loop.ts). */
  constructor(model: StepModel, window: number, prefix: PromptPrefix = { tokens: 0, share: true }) {
    this.#model = model;
    this.#loop = new StepLoop(model, {
      window,
      prefixTokens: prefix.tokens,
      sharePrefix: prefix.share,
      onStep: (step) => this.#measure(step)
    });
  }

  /** The job's shared prefix, for the requests after (loop.ts). */
  usePrefix(prefix: PromptPrefix): void {
    this.#loop.usePrefix(prefix.tokens, prefix.share);
  }

  /** Sequences at once. */
  get sequences(): number {
    return this.#model.slots;
  }

  #measure(step: StepReport): void {
    // A step that prefills and decodes is counted as prefill: its time is mostly the prompt's.
    if (step.prefilledTokens > 0) {
      this.#prefill = {
        tokens: this.#prefill.tokens + step.prefilledTokens,
        ms: this.#prefill.ms + step.ms
      };
    } else if (step.decodedRows > 0) {
      this.#decode = {
        tokens: this.#decode.tokens + step.decodedRows,
        ms: this.#decode.ms + step.ms
      };
    }
  }

  /**
   * Each request's prompt ids, laid out once: the runner counts a request's tokens before it
   * sends it (unit.ts), and generate reads the same ids.
   */
  readonly #promptIds = new WeakMap<GenerateRequest, number[]>();

  #idsOf(request: GenerateRequest): number[] {
    let ids = this.#promptIds.get(request);
    if (!ids) {
      ids = this.#model.promptIds(request);
      this.#promptIds.set(request, ids);
    }
    return ids;
  }

  /** The token ids of a request's prompt, chat template included. */
  promptIds(request: GenerateRequest): readonly number[] {
    return this.#idsOf(request);
  }

  async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal,
    item?: ItemContext
  ): Promise<GenerateResult> {
    let text = '';
    try {
      const promptIds = this.#idsOf(request);
      const answer = await this.#loop.generate(
        {
          request,
          ...(item ? { item } : {}),
          promptIds,
          signal,
          maxTokens: request.max_tokens,
          seed: request.seed,
          temperature: request.temperature,
          topP: request.top_p,
          ...(request.schema ? { schema: JSON.stringify(request.schema) } : {}),
          onText: (delta) => {
            text += delta;
            onText(delta);
          }
        },
        signal
      );
      const perSecond = (figure: { tokens: number; ms: number }) =>
        figure.ms > 0 ? (figure.tokens * 1000) / figure.ms : undefined;
      return {
        text,
        finishReason: answer.finishReason,
        model: this.#model.name,
        usage: {
          prompt_tokens: answer.promptTokens,
          completion_tokens: answer.completionTokens,
          total_tokens: answer.promptTokens + answer.completionTokens,
          ...(answer.cachedTokens > 0
            ? { prompt_tokens_details: { cached_tokens: answer.cachedTokens } }
            : {}),
          prefill_tokens_per_s: perSecond(this.#prefill),
          decode_tokens_per_s: perSecond(this.#decode)
        }
      };
    } catch (error) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      throw translateEngineError(error, { phase: 'generate', model: this.#model.name });
    }
  }

  close(): Promise<void> {
    return this.#loop.close();
  }
}
