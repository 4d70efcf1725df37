import type { EngineChoice } from '$lib/jobs/types';
import { SimulatedEngine } from './simulated';
import type { Engine } from './types';
import { WebLLMEngine } from './webllm';

export function createEngine(choice: EngineChoice): Engine {
  return choice.kind === 'simulated'
    ? new SimulatedEngine({
        tokenDelayMs: choice.tokenDelayMs,
        simMemoryMB: choice.simMemoryMB,
        hangAtItem: choice.simHangAtItem,
        echo: choice.simEcho === true
      })
    : new WebLLMEngine();
}
