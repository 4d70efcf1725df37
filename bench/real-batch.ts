/**
 * The batched path's decode speed on WebLLM's real runtime (scripts/bench-real.mjs loads
 * this page): the model loaded as the app loads it, one BatchPipeline of 8 sequences over
 * the same short prompts, and decode steps timed at 8, 4, 2 and 1 sequences (after every
 * prompt is in, sequences are cancelled to step down, so each size decodes the same
 * prompts' continuations). Tokens per second at b sequences = b x steps / their time.
 */
import { MLCEngine, prebuiltAppConfig, xgrammarModule } from '@mlc-ai/web-llm';
import { withModelSource } from '$lib/models/source';
import { BatchPipeline, type StepReport } from '$lib/worker/engine/batch/pipeline';
import { pipelineRuntime, type Xgrammar } from '$lib/worker/engine/batch/runtime';

export interface RealBatchOptions {
  modelId: string;
  /** A mirror's base URL, or null: WebLLM's official hosts. */
  mirror: string | null;
  /** Decode steps timed at each size. */
  steps: number;
  sizes: number[];
}

export interface RealBatchFigures {
  modelId: string;
  adapter: string;
  loadSeconds: number;
  /** Per size: decode steps timed, their total ms, tokens per second. */
  sizes: { sequences: number; steps: number; ms: number; tokensPerSecond: number }[];
}

const say = (text: string) => console.log(`[bench-real] ${text}`);

export async function measure(options: RealBatchOptions): Promise<RealBatchFigures> {
  const sizes = [...options.sizes].sort((a, b) => b - a);
  const largest = sizes[0] ?? 1;
  const appConfig = withModelSource(prebuiltAppConfig, options.mirror);
  const started = performance.now();
  const engine = new MLCEngine({ appConfig });
  await engine.reload(options.modelId, { context_window_size: 1024 });
  const loadSeconds = (performance.now() - started) / 1000;
  say(`loaded ${options.modelId} in ${loadSeconds.toFixed(1)} s`);
  const adapter = await navigator.gpu.requestAdapter();
  const info = adapter?.info;

  const timed = new Map<number, { steps: number; ms: number }>();
  const controllers = Array.from({ length: largest }, () => new AbortController());
  let live = largest;
  let settle: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const onStep = (step: StepReport) => {
    if (step.prefilledTokens > 0 || step.decodedRows !== live) return;
    const figure = timed.get(live) ?? { steps: 0, ms: 0 };
    figure.steps++;
    figure.ms += step.ms;
    timed.set(live, figure);
    say(`${live} sequences: step of ${step.ms.toFixed(0)} ms`);
    if (figure.steps < options.steps) return;
    const next = sizes[sizes.indexOf(live) + 1];
    if (next === undefined) {
      controllers.forEach((controller) => controller.abort());
      settle();
      return;
    }
    // Cancelled sequences leave before the next step: it decodes `next` rows.
    controllers.slice(next, live).forEach((controller) => controller.abort());
    live = next;
  };
  const batch = new BatchPipeline(pipelineRuntime(engine, options.modelId), {
    sequences: largest,
    window: 1024,
    xgrammar: xgrammarModule.exports as Xgrammar,
    onStep
  });
  // Short prompts of two tokens each, long answers: every size decodes the same sequences.
  controllers.forEach((controller, i) => {
    batch
      .generate(
        {
          promptIds: [9707 + i * 13, 11 + i],
          maxTokens: 900,
          seed: 1,
          temperature: 0,
          topP: 1,
          onText: () => undefined
        },
        controller.signal
      )
      .catch(() => undefined);
  });
  await finished;
  await batch.close();
  await engine.unload();
  return {
    modelId: options.modelId,
    adapter: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' '),
    loadSeconds,
    sizes: sizes.map((sequences) => {
      const figure = timed.get(sequences) ?? { steps: 0, ms: 0 };
      return {
        sequences,
        ...figure,
        tokensPerSecond: figure.ms > 0 ? (sequences * figure.steps * 1000) / figure.ms : 0
      };
    })
  };
}

(globalThis as { realBatch?: typeof measure }).realBatch = measure;
