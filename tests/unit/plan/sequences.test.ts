import { describe, expect, it } from 'vitest';
import { MODELS, kvBytesPerToken, modelById } from '$lib/plan/catalog';
import { planMemory } from '$lib/plan/memory';
import { chooseSequences } from '$lib/plan/sequences';
import type { AdapterFacts, Plan, PlanInput } from '$lib/plan/types';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const NVIDIA: AdapterFacts = {
  vendor: 'nvidia',
  architecture: 'ampere',
  description: '',
  isFallbackAdapter: false,
  features: ['shader-f16'],
  deviceMemoryGB: 8,
  limits: {
    maxBufferSize: 2 * GiB,
    maxStorageBufferBindingSize: 2 * GiB,
    maxComputeWorkgroupStorageSize: 32 * 1024,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxStorageBuffersPerShaderStage: 10
  }
};

const SEVEN_B = modelById('Qwen2.5-7B-Instruct-q4f16_1-MLC')!;

function input(userMB: number | null, sequences?: number): PlanInput {
  return {
    adapter: NVIDIA,
    models: MODELS,
    family: 'Qwen2.5-7B-Instruct',
    needs: { longestPromptTokens: 700, maxAnswerTokens: 300, exact: true },
    budget: { userMB },
    safetyMargin: 0.15,
    ...(sequences !== undefined ? { sequences } : {})
  };
}

function ok(plan: Plan): Extract<Plan, { ok: true }> {
  if (!plan.ok) throw new Error(plan.refusal);
  return plan;
}

describe('planMemory with several sequences at once', () => {
  it('counts one KV cache, a window per sequence and a spare page, and the batch scratch', () => {
    const kv = kvBytesPerToken(SEVEN_B);
    const single = ok(planMemory(input(12_000)));
    const four = ok(planMemory(input(12_000, 4)));
    expect(single.sequences).toBe(1);
    expect(single.kvBytes).toBe((1024 + 16) * kv);
    expect(single.activationBytes).toBe(SEVEN_B.activationBytes);
    expect(four.sequences).toBe(4);
    expect(four.contextWindow).toBe(1024);
    // The loop's cache: 4 windows and a spare page (WebLLM's own is freed at load).
    expect(four.kvBytes).toBe((4 * 1024 + 16) * kv);
    expect(four.activationBytes).toBe(SEVEN_B.batchScratchBytes);
    expect(four.activationBytes).toBeGreaterThan(SEVEN_B.activationBytes);
    expect(four.totalBytes).toBe(SEVEN_B.weightsBytes + four.activationBytes + four.kvBytes);
    expect(four.reasons.at(-1)).toContain(
      '4 x 1,024 tokens for 4 sequences at once and a spare page of 16'
    );
  });

  it('fits the window to the budget with every sequence’s cache counted', () => {
    const kv = kvBytesPerToken(SEVEN_B);
    // Room for the fixed part and 8 windows and a spare page of a little less than 3,072 tokens.
    const fixed = SEVEN_B.weightsBytes + SEVEN_B.batchScratchBytes;
    const usable = fixed + (8 * 3072 + 16) * kv - MiB;
    const userMB = Math.ceil(usable / 0.85 / MiB);
    const plan = ok(
      planMemory({
        ...input(userMB, 8),
        needs: { ...input(null).needs, longestPromptTokens: 3800 }
      })
    );
    expect(plan.contextWindow).toBe(2048);
    expect(plan.totalBytes).toBeLessThanOrEqual(plan.budgetBytes!);
    const refused = planMemory({ ...input(Math.floor(fixed / 0.85 / MiB), 8) });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.refusal).toContain('8 sequences at once');
  });
});

describe('chooseSequences', () => {
  const planAt = (userMB: number | null) => (sequences: number) =>
    planMemory(input(userMB, sequences));

  it('takes the job’s number as it is, and says so above 1', () => {
    const plan = ok(chooseSequences(3, planAt(12_000)));
    expect(plan.sequences).toBe(3);
    expect(plan.reasons.at(-1)).toBe('3 sequences at once, as the job asks.');
    const one = ok(chooseSequences(1, planAt(12_000)));
    expect(one.sequences).toBe(1);
    expect(one.reasons.join(' ')).not.toContain('sequences at once');
  });

  it('runs one at a time when the GPU’s memory is unknown', () => {
    const plan = ok(chooseSequences(null, planAt(null)));
    expect(plan.sequences).toBe(1);
    expect(plan.reasons.at(-1)).toMatch(/^One sequence at a time: this GPU's memory is unknown/);
  });

  it('chooses the most of 8, 4 and 2 that keeps the window one sequence gets', () => {
    expect(ok(chooseSequences(null, planAt(12_000))).sequences).toBe(8);
    const kv = kvBytesPerToken(SEVEN_B);
    const fixed = SEVEN_B.weightsBytes + SEVEN_B.batchScratchBytes;
    // Room for 1 + 4 windows of 1,024 and two spare pages, not 1 + 8.
    const userMB = Math.ceil((fixed + (5 * 1024 + 32) * kv) / 0.85 / MiB);
    const four = ok(chooseSequences(null, planAt(userMB)));
    expect(four.sequences).toBe(4);
    expect(four.contextWindow).toBe(1024);
    expect(four.reasons.at(-1)).toMatch(/^4 sequences at once: the most of 8, 4, 2/);
  });

  it('stays at one when a second cache does not fit', () => {
    const kv = kvBytesPerToken(SEVEN_B);
    const userMB = Math.ceil(
      (SEVEN_B.weightsBytes + SEVEN_B.activationBytes + (1024 + 16) * kv) / 0.85 / MiB
    );
    const plan = ok(chooseSequences(null, planAt(userMB)));
    expect(plan.sequences).toBe(1);
    expect(plan.reasons.at(-1)).toBe(
      'One sequence at a time: a second KV cache does not fit beside the model with this context window.'
    );
  });
});
