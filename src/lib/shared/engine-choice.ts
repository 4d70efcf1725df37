/**
 * Which engine a job runs on, saved with the job at creation so a job resumes
 * on the engine it was made for. No DOM: read by the page and the worker.
 */

export type EngineChoice = WebLLMChoice | SimulatedChoice;

/** The real model on this GPU. */
interface WebLLMChoice {
  kind: 'webllm';
  /** WebLLM model id; null lets the plan pick the variant by adapter features. */
  modelId: string | null;
}

/** A real WebGPU device and placeholder text, with fault knobs for tests. */
interface SimulatedChoice {
  kind: 'simulated';
  /** Plan as for this WebLLM model; null: the default family. */
  modelId: string | null;
  /** Delay per token in ms. */
  tokenDelayMs: number;
  /** Behave like a GPU with this many MB (a fault knob for tests); null: no cap. */
  simMemoryMB: number | null;
  /** Hang on the first attempt at this item index (a fault knob for tests). */
  simHangAtItem: number | null;
  /** Each answer quotes the prompt (to test that output is shown as text). */
  simEcho?: boolean;
  /** A JSON answer is cut short the first time the engine answers every Nth item (to test unparsed answers). */
  simBreakEvery?: number | null;
  /** Items the simulated engine runs at once (to test several in flight); 1 when absent. */
  simConcurrency?: number;
  /** This item index crashes the GPU whenever it runs (a fault knob for tests). */
  simPoisonItem?: number | null;
}

/** Default per-token delay of the simulated engine, in ms. */
const SIMULATED_TOKEN_DELAY_MS = 2;

function numberParam(params: URLSearchParams, name: string): number | null {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return null;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * The engine a new job will use, from the page's URL: `?engine=simulated`
 * (with optional `tokenDelayMs`, `simMemoryMB`, `simHangAtItem`, `simEcho`, `simBreakEvery`,
 * `simConcurrency`, `simPoisonItem`) picks the simulated
 * engine; anything else the real model (`model=<WebLLM id>` picks one). Read
 * only when a job is created: the choice is then saved with the job.
 */
export function engineFromUrl(url: URL): EngineChoice {
  const params = url.searchParams;
  if (params.get('engine') === 'simulated') {
    return {
      kind: 'simulated',
      modelId: params.get('model'),
      tokenDelayMs: numberParam(params, 'tokenDelayMs') ?? SIMULATED_TOKEN_DELAY_MS,
      simMemoryMB: numberParam(params, 'simMemoryMB'),
      simHangAtItem: numberParam(params, 'simHangAtItem'),
      simEcho: params.get('simEcho') === '1',
      simBreakEvery: numberParam(params, 'simBreakEvery'),
      simConcurrency: numberParam(params, 'simConcurrency') ?? 1,
      simPoisonItem: numberParam(params, 'simPoisonItem')
    };
  }
  return { kind: 'webllm', modelId: params.get('model') };
}

/** The GPU memory cap the simulated engine acts under, or null (none, or the real GPU). */
export function simulatedMemoryMB(choice: EngineChoice): number | null {
  return choice.kind === 'simulated' ? choice.simMemoryMB : null;
}

export function describeEngine(choice: EngineChoice): string {
  if (choice.kind === 'simulated') {
    const cap =
      choice.simMemoryMB !== null ? ` It acts as a GPU with ${choice.simMemoryMB} MiB.` : '';
    return `Simulated engine: a real WebGPU device, but the answers are placeholder text, not a model.${cap}`;
  }
  return `WebLLM on this GPU: ${choice.modelId ?? 'Qwen2.5-7B-Instruct, 4-bit (q4f16_1, or q4f32_1 where the GPU lacks shader-f16)'}.`;
}
