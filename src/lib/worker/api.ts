/**
 * The API the runner worker exposes to the page (through Comlink); the page
 * imports its type only. Builds the runner from the real store, engines and plan.
 */
import { probeAdapter } from '$lib/gpu/probe';
import { planJob } from '$lib/plan/job-plan';
import { readModelLibrary } from '$lib/models/model-library';
import { stepDown } from '$lib/plan/memory';
import { estimatePromptTokens } from '$lib/plan/tokens';
import type { Plan } from '$lib/plan/types';
import type { JobMeta } from '$lib/shared/job';
import {
  getInputs,
  getJob,
  getProgress,
  getResult,
  pauseRequested,
  readAhead,
  saveExactCounts,
  saveProgress,
  writeRun
} from '$lib/store/jobs';
import { getSettings } from '$lib/store/settings';
import { DEFAULT_FIRST_TOKEN_MS } from '$lib/shared/engine-choice';
import { createEngine } from './engine';
import { ServerEngine, type ServerEngineOptions } from './engine/server';
import { EngineError } from './engine/errors';
import { Runner, type RunEvent, type RunOutcome } from './runner';

async function planOnThisMachine(job: JobMeta, windowCap: number | null): Promise<Plan> {
  const { engine } = job;
  if (engine.kind === 'server') throw new Error('A server job has no memory plan on this machine.');
  const [probe, settings] = await Promise.all([probeAdapter(), getSettings()]);
  if (!probe.ok) throw new EngineError('no-webgpu', probe.reason);
  const input = { needs: job.needs, engine };
  const { plan } = planJob(probe.facts, input, settings, windowCap);
  // WebLLM's own figures, from the model library (fetched now, before the weights; kept
  // where WebLLM loads it from). The simulated engine has no library.
  const modelId = plan.ok ? plan.model.id : engine.modelId;
  if (engine.kind !== 'webllm' || !modelId) return plan;
  const read = await readModelLibrary(modelId, settings.modelMirror, { fetchMissing: true });
  if ('library' in read) return planJob(probe.facts, input, settings, windowCap, read.library).plan;
  return 'problem' in read ? { ...plan, reasons: [read.problem, ...plan.reasons] } : plan;
}

/** A server's API key, from this browser's settings (read at each load, never stored elsewhere). */
function serverOptions(baseUrl: string): ServerEngineOptions {
  return { apiKey: async () => (await getSettings()).serverKeys?.[baseUrl] ?? null };
}

/** How long a run's events gather before they go to the page. */
const EVENT_BATCH_MS = 40;

export type ServerModels =
  { ok: true; ids: string[]; name: string } | { ok: false; message: string };

export function createRunnerApi() {
  const runner = new Runner({
    store: {
      getJob,
      getProgress,
      saveProgress,
      getInputs,
      getResult,
      saveExactCounts,
      pauseRequested,
      readAhead,
      writeRun
    },
    // The model source is read at each load, so a mirror set on the Models page applies to the next run.
    createEngine: (choice) =>
      createEngine(choice, {
        webllm: { modelMirror: async () => (await getSettings()).modelMirror },
        server: serverOptions
      }),
    now: () => Date.now(),
    plan: planOnThisMachine,
    promptTokens: (request) => estimatePromptTokens(request.messages),
    stepDown: (window) => stepDown(window),
    locks: globalThis.navigator?.locks
  });
  return {
    /**
     * Runs the job; its events go to the page in batches (each call to the page is a
     * round trip of two messages: one a batch, not one an event).
     */
    async run(jobId: string, onEvents: (events: RunEvent[]) => void): Promise<RunOutcome> {
      let batch: RunEvent[] = [];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const send = () => {
        clearTimeout(timer);
        timer = undefined;
        if (batch.length) onEvents(batch);
        batch = [];
      };
      try {
        return await runner.run(jobId, (event) => {
          batch.push(event);
          timer ??= setTimeout(send, EVENT_BATCH_MS);
        });
      } finally {
        send();
      }
    },
    pause(jobId: string): void {
      runner.pause(jobId);
    },
    /** The models a server serves (GET /models), asked from here: the worker may reach servers. */
    async listModels(baseUrl: string): Promise<ServerModels> {
      const engine = new ServerEngine(
        {
          kind: 'server',
          baseUrl,
          model: '',
          concurrency: 1,
          firstTokenMs: DEFAULT_FIRST_TOKEN_MS
        },
        serverOptions(baseUrl)
      );
      try {
        const key = await serverOptions(baseUrl).apiKey?.();
        return { ok: true, ...(await engine.listModels(key ?? null)) };
      } catch (error) {
        return { ok: false, message: error instanceof Error ? error.message : String(error) };
      }
    }
  };
}

export type RunnerApi = ReturnType<typeof createRunnerApi>;
