import type { EngineChoice } from './types';

/** Default per-token delay of the simulated engine, in ms. */
export const SIMULATED_TOKEN_DELAY_MS = 2;

/**
 * The engine a new job will use, from the page's URL: `?engine=simulated`
 * (with an optional `tokenDelayMs`) picks the simulated engine; anything else
 * the real model. Read only when a job is created: the choice is then saved
 * with the job.
 */
export function engineFromUrl(url: URL): EngineChoice {
  const params = url.searchParams;
  if (params.get('engine') === 'simulated') {
    const delay = Number(params.get('tokenDelayMs') ?? SIMULATED_TOKEN_DELAY_MS);
    return {
      kind: 'simulated',
      modelId: null,
      tokenDelayMs: Number.isFinite(delay) && delay >= 0 ? delay : SIMULATED_TOKEN_DELAY_MS
    };
  }
  return { kind: 'webllm', modelId: params.get('model'), tokenDelayMs: 0 };
}

export function describeEngine(choice: EngineChoice): string {
  return choice.kind === 'simulated'
    ? 'Simulated engine: a real WebGPU device, but the answers are placeholder text, not a model.'
    : `WebLLM on this GPU: ${choice.modelId ?? 'Qwen2.5-7B-Instruct, 4-bit (q4f16_1, or q4f32_1 where the GPU lacks shader-f16)'}.`;
}
