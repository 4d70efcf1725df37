import type { EngineChoice } from '$lib/shared/engine-choice';
import { ServerEngine, type ServerEngineOptions } from './server';
import { SimulatedEngine } from './simulated';
import type { Engine } from './types';
import { WebLLMEngine, type WebLLMEngineOptions } from './webllm';

export interface EngineSettings {
  webllm?: WebLLMEngineOptions;
  server?: (baseUrl: string) => ServerEngineOptions;
}

export function createEngine(choice: EngineChoice, settings: EngineSettings = {}): Engine {
  switch (choice.kind) {
    case 'simulated':
      return new SimulatedEngine({
        tokenDelayMs: choice.tokenDelayMs,
        simMemoryMB: choice.simMemoryMB,
        hangAtItem: choice.simHangAtItem,
        echo: choice.simEcho === true,
        breakEvery: choice.simBreakEvery ?? null,
        poisonItem: choice.simPoisonItem ?? null,
        holdAt: choice.simHoldAt ?? [],
        itemDelayMs: choice.simItemDelayMs ?? 0,
        gpuPassPerItem: choice.simGpuPassPerItem === true
      });
    case 'server':
      return new ServerEngine(choice, settings.server?.(choice.baseUrl));
    default:
      return new WebLLMEngine(settings.webllm);
  }
}
