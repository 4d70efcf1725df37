/**
 * The real engine: WebLLM's MLCEngine, run directly inside the runner worker
 * (so its errors arrive as real objects, not strings). WebLLM is imported
 * lazily, so the 6 MB library loads only when a job uses it.
 */
import type { ChatCompletionChunk, MLCEngine } from '@mlc-ai/web-llm';
import { requireAdapter } from '$lib/gpu/probe';
import { EngineError, hostOf, translateEngineError } from './errors';
import { preflight } from '$lib/gpu/preflight';
import { parseInitReport } from './load-progress';
import type {
  Engine,
  EngineInfo,
  GenerateRequest,
  GenerateResult,
  LoadPlan,
  LoadProgress
} from './types';

/** After a failed fetch: which of these hosts cannot be reached at all? */
async function unreachableHosts(urls: string[]): Promise<string[]> {
  const hosts = [...new Set(urls.map(hostOf))];
  const checks = await Promise.all(
    hosts.map(async (host) => {
      try {
        await fetch(`https://${host}/`, { mode: 'no-cors', cache: 'no-store' });
        return null;
      } catch {
        return host;
      }
    })
  );
  return checks.filter((host): host is string => host !== null);
}

export class WebLLMEngine implements Engine {
  #engine: MLCEngine | null = null;
  #model = '';

  async load(plan: LoadPlan, onProgress: (progress: LoadProgress) => void): Promise<EngineInfo> {
    const adapter = await requireAdapter();
    const model = plan.modelId;
    this.#model = model;
    const webllm = await import('@mlc-ai/web-llm');
    const record = webllm.prebuiltAppConfig.model_list.find((m) => m.model_id === model);
    if (!record) throw new EngineError('load-failed', `WebLLM does not know the model ${model}.`);
    // Prove the plan on this device before a download of several GB.
    const cached = await webllm.hasModelInCache(model).catch(() => false);
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
      initProgressCallback: (report) => onProgress(parseInitReport(report))
    });
    try {
      await engine.reload(model, { context_window_size: plan.contextWindow });
    } catch (error) {
      await engine.unload().catch(() => undefined);
      const isFetch = error instanceof TypeError;
      const unreachable = isFetch ? await unreachableHosts([record.model, record.model_lib]) : [];
      throw translateEngineError(error, { phase: 'load', model, unreachable });
    }
    this.#engine = engine;
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
    const onAbort = () => void engine.interruptGenerate();
    signal.addEventListener('abort', onAbort);
    try {
      const stream = await engine.chat.completions.create({
        messages: request.messages,
        temperature: request.temperature,
        top_p: request.top_p,
        max_tokens: request.max_tokens,
        seed: request.seed,
        stream: true,
        stream_options: { include_usage: true }
      });
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
      const usage = last?.usage;
      const extra = usage?.extra;
      return {
        text,
        finishReason,
        model: this.#model,
        usage: {
          prompt_tokens: usage?.prompt_tokens ?? 0,
          completion_tokens: usage?.completion_tokens ?? 0,
          total_tokens: usage?.total_tokens ?? 0,
          prefill_tokens_per_s: extra?.prefill_tokens_per_s,
          decode_tokens_per_s: extra?.decode_tokens_per_s
        }
      };
    } catch (error) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      throw translateEngineError(error, { phase: 'generate', model: this.#model });
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  async unload(): Promise<void> {
    const engine = this.#engine;
    this.#engine = null;
    await engine?.unload().catch(() => undefined);
  }
}
