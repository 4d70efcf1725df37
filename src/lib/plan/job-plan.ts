/**
 * The memory plan of one job on this machine: the same inputs on the page
 * (the panel, "Check this GPU") and in the worker (before each run).
 */
import type { LocalChoice } from '$lib/shared/engine-choice';
import type { JobNeeds } from '$lib/shared/job';
import type { MachineSettings } from '$lib/shared/settings';
import { DEFAULT_FAMILY, MODELS, modelById } from './catalog';
import { planMemory } from './memory';
import type { AdapterFacts, Plan } from './types';

export interface JobPlanning {
  plan: Plan;
  /** Something the user should know about this plan beyond its reasons. */
  note: string | null;
}

/** What the plan assumes before a file is chosen: a 3,000-token prompt and a 512-token answer. */
export const TYPICAL_NEEDS: JobNeeds = {
  longestPromptTokens: 3000,
  maxAnswerTokens: 512,
  exact: false
};

const UNCAPPED_SIMULATION =
  'The simulated engine allocates no model memory (add simMemoryMB to the page address to make it act as a GPU of that size), so the GPU size is taken as unknown.';

export function planJob(
  facts: AdapterFacts,
  job: { needs: JobNeeds; engine: LocalChoice },
  settings: MachineSettings,
  windowCap: number | null
): JobPlanning {
  const chosen = job.engine.modelId ? modelById(job.engine.modelId) : undefined;
  const uncapped = job.engine.kind === 'simulated' && job.engine.simMemoryMB === null;
  const plan = planMemory({
    adapter: facts,
    models: MODELS,
    family: chosen?.family ?? DEFAULT_FAMILY,
    needs: job.needs,
    budget: {
      userMB: settings.gpuMemoryMB,
      ...(uncapped ? { unknownReason: UNCAPPED_SIMULATION } : {})
    },
    safetyMargin: settings.safetyMargin,
    ...(windowCap !== null ? { maxWindow: windowCap } : {})
  });
  const note =
    job.engine.kind === 'simulated'
      ? 'This job runs on the simulated engine: the plan is real, the answers are placeholder text.'
      : null;
  return { plan, note };
}
