/** The API the runner worker exposes to the page (through Comlink). Worker-side only. */
import { createEngine } from '$lib/engine';
import { EngineError } from '$lib/engine/errors';
import { stepDown } from '$lib/gpu/plan';
import { planJob } from '$lib/gpu/plan-job';
import { probeAdapter } from '$lib/gpu/probe';
import { estimatePromptTokens } from '$lib/gpu/tokens';
import type { Plan } from '$lib/gpu/types';
import { Runner, type RunEvent, type RunOutcome } from './runner';
import * as store from './store';
import type { JobMeta } from './types';

async function planOnThisMachine(job: JobMeta, windowCap: number | null): Promise<Plan> {
  const [probe, settings] = await Promise.all([probeAdapter(), store.getSettings()]);
  if (!probe.ok) throw new EngineError('no-webgpu', probe.reason);
  return planJob(probe.facts, job, settings, windowCap).plan;
}

export function createRunnerApi() {
  const runner = new Runner({
    store,
    // The model source is read at each load, so a mirror set on the Models page applies to the next run.
    createEngine: (choice) =>
      createEngine(choice, { modelMirror: async () => (await store.getSettings()).modelMirror }),
    now: () => Date.now(),
    plan: planOnThisMachine,
    promptTokens: (request) => estimatePromptTokens(request.messages),
    stepDown: (window) => stepDown(window),
    locks: globalThis.navigator?.locks
  });
  return {
    run(jobId: string, onEvent: (event: RunEvent) => void): Promise<RunOutcome> {
      return runner.run(jobId, onEvent);
    },
    pause(jobId: string): void {
      runner.pause(jobId);
    }
  };
}

export type RunnerApi = ReturnType<typeof createRunnerApi>;
