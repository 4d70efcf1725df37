/**
 * The memory plan of one job on this machine: the same inputs on the page
 * (the panel, "Check this GPU") and in the worker (before each run).
 */
import type { EngineChoice, JobMeta, MachineSettings } from '$lib/jobs/types';
import { DEFAULT_FAMILY, MODELS, modelById } from './models';
import { planMemory } from './plan';
import type { AdapterFacts, Plan } from './types';

export interface JobPlanning {
  plan: Plan;
  /** Something the user should know about this plan beyond its reasons. */
  note: string | null;
}

const UNCAPPED_SIMULATION =
  'The simulated engine allocates no model memory (add simMemoryMB to the page address to make it act as a GPU of that size), so the GPU size is taken as unknown.';

export function planJob(
  facts: AdapterFacts,
  job: Pick<JobMeta, 'needs'> & { engine: EngineChoice },
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
