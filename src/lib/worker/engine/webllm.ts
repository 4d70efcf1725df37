/**
 * The real engine: WebLLM's runtime, loaded by its MLCEngine directly inside the runner
 * worker (so its errors arrive as real objects, not strings), and run by the step loop
 * (loop/): every job, one sequence at a time included, through the loop over the model
 * WebLLM loaded (loop/webllm-model.ts). WebLLM is imported lazily, so the 6 MB library
 * loads only when a job uses it.
 */
import { EngineError, engineAdapter, hostOf, translateEngineError } from './errors';
import { preflight } from '$lib/gpu/preflight';
import { KV_PAGE_TOKENS } from '$lib/plan/kv-cache';
import { describeModelSource, WEBLLM_VERSION, withModelSource } from '$lib/models/source';
import { parseInitReport } from './load-progress';
import { LoopGenerator } from './loop/generator';
import { webllmModel, type Xgrammar } from './loop/webllm-model';
import type {
  Engine,
  EngineInfo,
  GenerateResult,
  LoadPlan,
  LoadProgress,
  PromptPrefix
} from './types';
import type { GenerateRequest } from '$lib/shared/request';

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

export class WebLLMEngine implements Engine {
  /** The loaded model's MLCEngine (it owns the weights and kernels; the loop runs them). */
  #engine: { unload(): Promise<void> } | null = null;
  #loop: LoopGenerator | null = null;
  #modelMirror: () => Promise<string | null>;

  constructor(options: WebLLMEngineOptions = {}) {
    this.#modelMirror = options.modelMirror ?? (() => Promise.resolve(null));
  }

  /** Sequences at once: the loop's slots. */
  get concurrency(): number {
    return this.#loop?.sequences ?? 1;
  }

  async load(
    plan: LoadPlan | null,
    onProgress: (progress: LoadProgress) => void
  ): Promise<EngineInfo> {
    if (!plan) throw new EngineError('load-failed', 'A model on this GPU needs a memory plan.');
    const adapter = await engineAdapter();
    const model = plan.modelId;
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
      // WebLLM makes a KV cache for its own chat, unused: of one page, which the loop frees.
      await engine.reload(model, { context_window_size: KV_PAGE_TOKENS });
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
    try {
      const stepModel = webllmModel(engine, model, {
        sequences: plan.sequences,
        window: plan.contextWindow,
        xgrammar: webllm.xgrammarModule.exports as Xgrammar
      });
      this.#loop = new LoopGenerator(stepModel, plan.contextWindow);
    } catch (error) {
      await this.unload();
      throw translateEngineError(error, { phase: 'load', model });
    }
    const info = adapter.info;
    return {
      model,
      placeholder: false,
      adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ')
    };
  }

  generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ): Promise<GenerateResult> {
    const loop = this.#loop;
    if (!loop) return Promise.reject(new EngineError('device-lost', 'The model is not loaded.'));
    return loop.generate(request, onText, signal);
  }

  tokenizer(): ((request: GenerateRequest) => readonly number[]) | null {
    const loop = this.#loop;
    return loop ? (request) => loop.promptIds(request) : null;
  }

  usePrefix(prefix: PromptPrefix): void {
    this.#loop?.usePrefix(prefix);
  }

  async unload(): Promise<void> {
    const engine = this.#engine;
    this.#engine = null;
    const loop = this.#loop;
    this.#loop = null;
    await loop?.close();
    // eslint-disable-next-line no-restricted-syntax -- an engine that lost its device cannot unload cleanly; it is dropped all the same
    await engine?.unload().catch(() => undefined);
  }
}
