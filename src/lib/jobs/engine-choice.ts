import type { EngineChoice } from './types';

/** Default per-token delay of the simulated engine, in ms. */
export const SIMULATED_TOKEN_DELAY_MS = 2;

function numberParam(params: URLSearchParams, name: string): number | null {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return null;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * The engine a new job will use, from the page's URL: `?engine=simulated`
 * (with optional `tokenDelayMs`, `simMemoryMB`, `simHangAtItem`, `simEcho`) picks the simulated
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
      simEcho: params.get('simEcho') === '1'
    };
  }
  return {
    kind: 'webllm',
    modelId: params.get('model'),
    tokenDelayMs: 0,
    simMemoryMB: null,
    simHangAtItem: null
  };
}

export function describeEngine(choice: EngineChoice): string {
  if (choice.kind === 'simulated') {
    const cap =
      choice.simMemoryMB !== null ? ` It acts as a GPU with ${choice.simMemoryMB} MB.` : '';
    return `Simulated engine: a real WebGPU device, but the answers are placeholder text, not a model.${cap}`;
  }
  return `WebLLM on this GPU: ${choice.modelId ?? 'Qwen2.5-7B-Instruct, 4-bit (q4f16_1, or q4f32_1 where the GPU lacks shader-f16)'}.`;
}
