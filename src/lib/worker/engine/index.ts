import type { EngineChoice } from '$lib/shared/engine-choice';
import { SimulatedEngine } from './simulated';
import type { Engine } from './types';
import { WebLLMEngine, type WebLLMEngineOptions } from './webllm';

export function createEngine(choice: EngineChoice, webllm: WebLLMEngineOptions = {}): Engine {
  return choice.kind === 'simulated'
    ? new SimulatedEngine({
        tokenDelayMs: choice.tokenDelayMs,
        simMemoryMB: choice.simMemoryMB,
        hangAtItem: choice.simHangAtItem,
        echo: choice.simEcho === true,
        breakEvery: choice.simBreakEvery ?? null,
        concurrency: choice.simConcurrency ?? 1,
        poisonItem: choice.simPoisonItem ?? null
      })
    : new WebLLMEngine(webllm);
}
