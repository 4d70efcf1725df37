/**
 * The WebLLM engine's batched path: with more than one sequence at once, the loaded
 * model's requests go through a BatchPipeline (pipeline.ts) instead of WebLLM's
 * `chat.completions`, which runs one request per model at a time. Prompts are laid out
 * as WebLLM lays them out (chat-template.ts), usage is counted as the single path counts
 * it (every sampled token), and speeds are measured over the batch's steps.
 */
import { pipelineChatTemplate, promptTokenIds, type ChatTemplate } from '../chat-template';
import type { GenerateResult } from '../types';
import type { GenerateRequest } from '$lib/shared/request';
import { BatchPipeline, type StepReport } from './pipeline';
import { pipelineRuntime, type Xgrammar } from './runtime';

export class BatchedModel {
  readonly #pipeline: BatchPipeline;
  readonly #encode: (text: string) => ArrayLike<number>;
  readonly #template: ChatTemplate;
  readonly #model: string;
  /** Sequences at once. */
  readonly sequences: number;
  /** Recent steps, for the speeds a result reports. */
  #prefill = { tokens: 0, ms: 0 };
  #decode = { tokens: 0, ms: 0 };

  constructor(
    engine: unknown,
    model: string,
    options: { sequences: number; window: number; xgrammar: Xgrammar }
  ) {
    const runtime = pipelineRuntime(engine, model);
    const template = pipelineChatTemplate(runtime.pipeline);
    if (!template) throw new Error(`WebLLM's pipeline for ${model} has no chat template.`);
    this.#template = template;
    const tokenizer = runtime.pipeline.tokenizer;
    this.#encode = (text) => tokenizer.encode(text);
    this.#model = model;
    this.sequences = options.sequences;
    this.#pipeline = new BatchPipeline(runtime, {
      ...options,
      onStep: (step) => this.#measure(step)
    });
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

  async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ): Promise<GenerateResult> {
    const promptIds = promptTokenIds(this.#encode, this.#template, request.messages);
    let text = '';
    const answer = await this.#pipeline.generate(
      {
        promptIds,
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
      model: this.#model,
      usage: {
        prompt_tokens: answer.promptTokens,
        completion_tokens: answer.completionTokens,
        total_tokens: answer.promptTokens + answer.completionTokens,
        prefill_tokens_per_s: perSecond(this.#prefill),
        decode_tokens_per_s: perSecond(this.#decode)
      }
    };
  }

  close(): Promise<void> {
    return this.#pipeline.close();
  }
}
