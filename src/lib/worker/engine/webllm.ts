/**
 * The real engine: WebLLM's MLCEngine, run directly inside the runner worker
 * (so its errors arrive as real objects, not strings). WebLLM is imported
 * lazily, so the 6 MB library loads only when a job uses it.
 */
import type {
  ChatCompletionChunk,
  ChatCompletionRequestStreaming,
  CompletionUsage,
  MLCEngine
} from '@mlc-ai/web-llm';
import { countChatTokens, pipelineChatTemplate } from './chat-template';
import { EngineError, engineAdapter, hostOf, translateEngineError } from './errors';
import { preflight } from '$lib/gpu/preflight';
import { describeModelSource, WEBLLM_VERSION, withModelSource } from '$lib/models/source';
import { parseInitReport } from './load-progress';
import { BatchedModel } from './batch/batched';
import type { Xgrammar } from './batch/runtime';
import type { Engine, EngineInfo, GenerateResult, LoadPlan, LoadProgress } from './types';
import type { Usage } from '$lib/shared/job';
import { streamedChatFields, type GenerateRequest } from '$lib/shared/request';

/** After a failed fetch: which of these hosts cannot be reached at all? */
async function unreachableHosts(urls: string[]): Promise<string[]> {
  // By origin, so a mirror on http://127.0.0.1:port is asked where it is.
  const origins = [...new Set(urls.map((url) => new URL(url).origin))];
  const checks = await Promise.all(
    origins.map(async (origin) => {
      try {
        await fetch(`${origin}/`, { mode: 'no-cors', cache: 'no-store' });
        return null;
      } catch {
        return hostOf(origin);
      }
    })
  );
  return checks.filter((host): host is string => host !== null);
}

/**
 * A model library that is not WebAssembly (a mirror serving an error page, a
 * wrong or truncated file) fails in `WebAssembly.instantiate`: say which file,
 * from where, and that WebLLM keeps the bad copy until the model is deleted.
 */
function libraryError(error: unknown, modelLib: string, mirror: string | null): EngineError | null {
  const name = error instanceof Error ? error.name : '';
  if (name !== 'CompileError' && name !== 'LinkError') return null;
  const message = error instanceof Error ? error.message : String(error);
  const file = modelLib.split('/').pop() ?? modelLib;
  return new EngineError(
    'load-failed',
    `The model library ${file} from ${describeModelSource(mirror)} is not a WebAssembly program this browser can run (${message}). ` +
      (mirror
        ? `Check that the mirror serves WebLLM ${WEBLLM_VERSION}'s library at ${modelLib}, `
        : 'The download may have been damaged: ') +
      'delete the model on the Models page (the browser keeps the bad copy until then), then press Resume.'
  );
}

export interface WebLLMEngineOptions {
  /** The model mirror's base URL, read at each load; null: WebLLM's official hosts. */
  modelMirror?: () => Promise<string | null>;
}

/**
 * Exact prompt counts with the loaded model's tokenizer and chat template, which WebLLM
 * 0.2.79 keeps private (`MLCEngine.loadedModelIdToPipeline`, then the pipeline's
 * `tokenizer` and `config`). Read defensively: when the shape is not there, counts stay
 * estimates.
 */
export function pipelineTokenCounter(
  engine: unknown,
  model: string
): ((request: GenerateRequest) => number) | null {
  const pipelines = (engine as { loadedModelIdToPipeline?: unknown }).loadedModelIdToPipeline;
  if (!(pipelines instanceof Map)) return null;
  const pipeline = pipelines.get(model) as
    { tokenizer?: { encode(text: string): ArrayLike<number> } } | undefined;
  const tokenizer = pipeline?.tokenizer;
  const template = pipelineChatTemplate(pipeline);
  if (typeof tokenizer?.encode !== 'function' || !template) return null;
  return (request) => countChatTokens((text) => tokenizer.encode(text), template, request.messages);
}

/**
 * The request as WebLLM 0.2.79 takes it. A schema goes as `response_format: {type:
 * "json_object", schema: "<the schema as a string>"}` (its ResponseFormat type: `schema` is
 * a string and needs type "json_object"); xgrammar then constrains every token to it.
 */
export function webllmRequest(request: GenerateRequest): ChatCompletionRequestStreaming {
  return {
    ...streamedChatFields(request),
    ...(request.schema
      ? { response_format: { type: 'json_object', schema: JSON.stringify(request.schema) } }
      : {})
  };
}

/**
 * The usage of a generation as OpenAI and vLLM count it, from WebLLM 0.2.79's. Its
 * `completion_tokens` counts decode steps only: the first answer token, sampled at the end
 * of prefill, is counted nowhere (LLMChatPipeline.prefillStep adds to the prefill's
 * counter, only decodeStep to the decoding one), so `max_tokens: 2` reports 1 (measured on
 * the real runtime). Every sampled token counts here, a stop token included.
 */
export function webllmUsage(usage: CompletionUsage | undefined): Usage {
  const prompt = usage?.prompt_tokens ?? 0;
  const completion = usage ? usage.completion_tokens + 1 : 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: prompt + completion,
    prefill_tokens_per_s: usage?.extra?.prefill_tokens_per_s,
    decode_tokens_per_s: usage?.extra?.decode_tokens_per_s
  };
}

export class WebLLMEngine implements Engine {
  #engine: MLCEngine | null = null;
  /** With more than one sequence at once: the batched path (batch/batched.ts). */
  #batched: BatchedModel | null = null;
  #model = '';
  #counter: ((request: GenerateRequest) => number) | null = null;
  #modelMirror: () => Promise<string | null>;

  constructor(options: WebLLMEngineOptions = {}) {
    this.#modelMirror = options.modelMirror ?? (() => Promise.resolve(null));
  }

  /** Sequences at once: 1 runs WebLLM's own path, one request at a time. */
  get concurrency(): number {
    return this.#batched?.sequences ?? 1;
  }

  async load(
    plan: LoadPlan | null,
    onProgress: (progress: LoadProgress) => void
  ): Promise<EngineInfo> {
    if (!plan) throw new EngineError('load-failed', 'A model on this GPU needs a memory plan.');
    const adapter = await engineAdapter();
    const model = plan.modelId;
    this.#model = model;
    const webllm = await import('@mlc-ai/web-llm');
    const mirror = await this.#modelMirror();
    // The same URLs the Models page downloads to, so its downloads are found here.
    const appConfig = withModelSource(webllm.prebuiltAppConfig, mirror);
    const record = appConfig.model_list.find((m) => m.model_id === model);
    if (!record) throw new EngineError('load-failed', `WebLLM does not know the model ${model}.`);
    // Prove the plan on this device before a download of several GB.
    const cached = await webllm.hasModelInCache(model, appConfig).catch(() => false);
    if (!cached) {
      onProgress({
        phase: 'gpu',
        text: 'Checking that the memory plan fits this GPU before the download',
        fraction: 0,
        loadedMB: null,
        totalMB: null,
        mbPerSecond: null,
        etaSeconds: null
      });
      const check = await preflight(adapter, plan, { simMemoryMB: null });
      if (!check.fits) throw new EngineError('does-not-fit', check.message);
    }
    const engine = new webllm.MLCEngine({
      appConfig,
      initProgressCallback: (report) => onProgress(parseInitReport(report))
    });
    try {
      await engine.reload(model, { context_window_size: plan.contextWindow });
    } catch (error) {
      // eslint-disable-next-line no-restricted-syntax -- the load failed already: that error is thrown below, not the cleanup's
      await engine.unload().catch(() => undefined);
      const badLibrary = libraryError(error, record.model_lib, mirror);
      if (badLibrary) throw badLibrary;
      const isFetch = error instanceof TypeError;
      const unreachable = isFetch ? await unreachableHosts([record.model, record.model_lib]) : [];
      throw translateEngineError(error, { phase: 'load', model, unreachable });
    }
    this.#engine = engine;
    this.#counter = pipelineTokenCounter(engine, model);
    if (plan.sequences > 1) {
      try {
        this.#batched = new BatchedModel(engine, model, {
          sequences: plan.sequences,
          window: plan.contextWindow,
          xgrammar: webllm.xgrammarModule.exports as Xgrammar
        });
      } catch (error) {
        await this.unload();
        throw translateEngineError(error, { phase: 'load', model });
      }
    }
    const info = adapter.info;
    return {
      model,
      placeholder: false,
      adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ')
    };
  }

  async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ): Promise<GenerateResult> {
    const engine = this.#engine;
    if (!engine) throw new EngineError('device-lost', 'The model is not loaded.');
    if (this.#batched) return this.#generateBatched(this.#batched, request, onText, signal);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the generation being stopped ends with its own error, which generate() throws
    const onAbort = () => void engine.interruptGenerate();
    signal.addEventListener('abort', onAbort);
    try {
      const stream = await engine.chat.completions.create(webllmRequest(request));
      let text = '';
      let finishReason: 'stop' | 'length' = 'stop';
      let last: ChatCompletionChunk | null = null;
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const delta = choice?.delta?.content ?? '';
        if (delta) {
          text += delta;
          onText(delta);
        }
        if (choice?.finish_reason === 'length') finishReason = 'length';
        last = chunk;
      }
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      return { text, finishReason, model: this.#model, usage: webllmUsage(last?.usage) };
    } catch (error) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      throw translateEngineError(error, { phase: 'generate', model: this.#model });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async #generateBatched(
    batched: BatchedModel,
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ): Promise<GenerateResult> {
    try {
      return await batched.generate(request, onText, signal);
    } catch (error) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      throw translateEngineError(error, { phase: 'generate', model: this.#model });
    }
  }

  tokenCounter(): ((request: GenerateRequest) => number) | null {
    return this.#engine ? this.#counter : null;
  }

  async unload(): Promise<void> {
    const engine = this.#engine;
    this.#engine = null;
    this.#counter = null;
    const batched = this.#batched;
    this.#batched = null;
    await batched?.close();
    // eslint-disable-next-line no-restricted-syntax -- an engine that lost its device cannot unload cleanly; it is dropped all the same
    await engine?.unload().catch(() => undefined);
  }
}
