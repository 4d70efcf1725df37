import { describe, expect, it } from 'vitest';
import { planJob } from '$lib/plan/job-plan';
import { SWIFTSHADER } from './adapters';
import { engineFromUrl, type LocalChoice } from '$lib/shared/engine-choice';
import type { MachineSettings } from '$lib/shared/settings';

/** SwiftShader as Chromium reports it here: 8 GB of RAM said, no memory of its own. */
const swiftshader = SWIFTSHADER;
const settings: MachineSettings = {
  gpuMemoryMB: null,
  safetyMargin: 0.15,
  autoResume: false,
  keepAwake: true,
  notifyOnEnd: false,
  modelMirror: null,
  modelMirrorPending: null,
  servers: [],
  serverKeys: {}
};
/** A model that fits SwiftShader's estimate, so the WebLLM plan is made, not refused. */
const SMALL = 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC';
const needs = { longestPromptTokens: 200, maxAnswerTokens: 64, exact: false };
const local = (query: string) => engineFromUrl(new URL(`http://localhost/${query}`)) as LocalChoice;

describe('planJob: one reading of the GPU everywhere', () => {
  it('a simulated job not held to the GPU (no simMemoryMB) reads the same GPU as a WebLLM job', () => {
    const webllm = planJob(
      swiftshader,
      { engine: local(`?model=${SMALL}`), needs },
      settings,
      null
    );
    const simulated = planJob(
      swiftshader,
      { engine: local(`?engine=simulated&model=${SMALL}`), needs },
      settings,
      null
    );
    // Half of the 8 GB the browser reports, 15% kept free.
    const usable = Math.floor(4 * 2 ** 30 * 0.85);
    expect(webllm.plan.ok && webllm.plan.budgetBytes).toBe(usable);
    expect(webllm.gpuBytes).toBe(usable);
    // The simulated plan is not held to it, but the GPU's reading is the same.
    expect(simulated.plan.ok && simulated.plan.budgetBytes).toBeNull();
    expect(simulated.gpuBytes).toBe(usable);
  });

  it('the memory the user set is the reading for both; unknown stays unknown', () => {
    const said = { ...settings, gpuMemoryMB: 8192 };
    const simulated = planJob(
      swiftshader,
      { engine: local(`?engine=simulated&model=${SMALL}`), needs },
      said,
      null
    );
    expect(simulated.gpuBytes).toBe(Math.floor(8192 * 2 ** 20 * 0.85));
    const unnamed = {
      ...swiftshader,
      vendor: '',
      architecture: '',
      description: '',
      isFallbackAdapter: false
    };
    expect(planJob(unnamed, { engine: local(''), needs }, settings, null).gpuBytes).toBeNull();
  });
});

describe('planJob: the prefix the prompts share', () => {
  const counted = { ...needs, exact: true, prefixTokens: 304 };
  const kvOf = (planning: ReturnType<typeof planJob>) => planning.plan.ok && planning.plan.kvBytes;

  it('says the shared prefix stays in each slot and is read once a slot, with the KV memory of a job without one', () => {
    const engine = local(`?model=${SMALL}&sequences=4`);
    const shared = planJob(swiftshader, { engine, needs: counted }, settings, null);
    const plain = planJob(
      swiftshader,
      { engine, needs: { ...counted, prefixTokens: 0 } },
      settings,
      null
    );
    expect(shared.plan.reasons.at(-1)).toBe(
      "Every prompt begins with the same 304 tokens (19 KV pages): each sequence's KV slot keeps them, so they are read once a slot, not once a prompt (within the slot's window: no memory more)."
    );
    expect(plain.plan.reasons.some((reason) => reason.includes('begins with the same'))).toBe(
      false
    );
    expect(kvOf(shared)).toBeGreaterThan(0);
    expect(kvOf(shared)).toBe(kvOf(plain));
  });

  it('sharing off: the prefix is read with every prompt', () => {
    const engine = local(`?model=${SMALL}&prefixSharing=off`);
    const off = planJob(swiftshader, { engine, needs: counted }, settings, null);
    expect(off.plan.reasons.at(-1)).toBe(
      'Every prompt begins with the same 304 tokens (19 KV pages): read with every prompt (prefix sharing is off for this job).'
    );
  });
});
