/**
 * The API the runner worker exposes to the page (through Comlink); the page
 * imports its type only. Builds the runner from the real store, engines and plan.
 */
import { probeAdapter } from '$lib/gpu/probe';
import { planJob } from '$lib/plan/job-plan';
import { stepDown } from '$lib/plan/memory';
import { estimatePromptTokens } from '$lib/plan/tokens';
import type { Plan } from '$lib/plan/types';
import type { JobMeta } from '$lib/shared/job';
import {
  appendLog,
  commitResults,
  getInput,
  getInputs,
  getJob,
  getProgress,
  getResult,
  recordAttempt,
  recordFailure,
  saveExactCounts,
  saveProgress
} from '$lib/store/jobs';
import { getSettings } from '$lib/store/settings';
import { createEngine } from './engine';
import { EngineError } from './engine/errors';
import { Runner, type RunEvent, type RunOutcome } from './runner';

async function planOnThisMachine(job: JobMeta, windowCap: number | null): Promise<Plan> {
  const [probe, settings] = await Promise.all([probeAdapter(), getSettings()]);
  if (!probe.ok) throw new EngineError('no-webgpu', probe.reason);
  return planJob(probe.facts, job, settings, windowCap).plan;
}

export function createRunnerApi() {
  const runner = new Runner({
    store: {
      getJob,
      getProgress,
      saveProgress,
      getInput,
      getInputs,
      getResult,
      saveExactCounts,
      recordAttempt,
      recordFailure,
      commitResults,
      appendLog
    },
    // The model source is read at each load, so a mirror set on the Models page applies to the next run.
    createEngine: (choice) =>
      createEngine(choice, { modelMirror: async () => (await getSettings()).modelMirror }),
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
