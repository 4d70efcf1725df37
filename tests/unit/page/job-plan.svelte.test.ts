import { flushSync } from 'svelte';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PreflightResult } from '$lib/gpu/preflight';
import { JobPlan, type PlanJob } from '$lib/page/job-plan.svelte';
import { settings } from '$lib/page/settings.svelte';
import { TYPICAL_NEEDS } from '$lib/plan/job-plan';
import type { AdapterFacts } from '$lib/plan/types';

const MiB = 1024 * 1024;

const FACTS: AdapterFacts = {
  vendor: 'google',
  architecture: 'swiftshader',
  description: 'SwiftShader Device (Subzero)',
  isFallbackAdapter: true,
  features: [],
  deviceMemoryGB: 8,
  limits: {
    maxBufferSize: 1024 * MiB,
    maxStorageBufferBindingSize: 1024 * MiB,
    maxComputeWorkgroupStorageSize: 32 * 1024,
    maxComputeInvocationsPerWorkgroup: 1024,
    maxComputeWorkgroupSizeX: 1024,
    maxStorageBuffersPerShaderStage: 10
  }
};

const gpu = vi.hoisted(() => ({
  probeAdapter: vi.fn(),
  requireAdapter: vi.fn(),
  preflight: vi.fn()
}));

vi.mock('$lib/gpu/probe', () => ({
  probeAdapter: gpu.probeAdapter,
  requireAdapter: gpu.requireAdapter
}));
vi.mock('$lib/gpu/preflight', () => ({ preflight: gpu.preflight }));
// This browser's settings, in memory (updated, as the store does, by a function of what is stored).
vi.mock('$lib/page/settings.svelte', () => {
  type Stored = Record<string, unknown> & { gpuMemoryMB: number | null; safetyMargin: number };
  class Settings {
    stored: Stored = { gpuMemoryMB: null, safetyMargin: 0.15, autoResume: true };
    current = $state.raw<Stored>({ ...this.stored });
    async load() {
      this.current = { ...this.stored };
      return this.current;
    }
    async update(change: (s: Stored) => Partial<Stored>) {
      this.stored = { ...this.stored, ...change(this.stored) };
      this.current = { ...this.stored };
      return this.current;
    }
  }
  return { settings: new Settings() };
});

const SIMULATED: PlanJob['engine'] = {
  kind: 'simulated',
  modelId: null,
  tokenDelayMs: 0,
  simMemoryMB: 8192,
  simHangAtItem: null
};

function fits(fit: boolean): PreflightResult {
  return {
    fits: fit,
    plannedBytes: 1,
    allocatedBytes: fit ? 1 : 0,
    failedAt: fit ? null : 'weights',
    message: fit ? 'It fits.' : 'It does not fit.',
    ms: 1
  };
}

let stop = () => {};
let job = $state<PlanJob | null>({ engine: SIMULATED, needs: TYPICAL_NEEDS, windowCap: null });

beforeEach(async () => {
  gpu.probeAdapter.mockResolvedValue({ ok: true, facts: FACTS, adapter: {} });
  gpu.requireAdapter.mockResolvedValue({});
  gpu.preflight.mockReset();
  job = { engine: SIMULATED, needs: TYPICAL_NEEDS, windowCap: null };
  await settings.update(() => ({ gpuMemoryMB: 8192, safetyMargin: 0.15 }));
});

afterEach(() => stop());

/** A plan as a page makes it: inside an effect root, over state the page owns. */
function makePlan(checks: (PreflightResult | null)[] = []): JobPlan {
  let plan!: JobPlan;
  stop = $effect.root(() => {
    plan = new JobPlan(() => job, { oncheck: (check) => checks.push(check) });
  });
  return plan;
}

describe('JobPlan', () => {
  it('plans once the adapter answered, with the stored memory settings in the form', async () => {
    await settings.update(() => ({ gpuMemoryMB: 10240, safetyMargin: 0.2 }));
    const plan = makePlan();
    expect(plan.probe).toBeNull();
    expect(plan.plan).toBeNull();
    await plan.load();
    expect(plan.probe?.ok).toBe(true);
    expect(plan.plan?.ok).toBe(true);
    expect(plan.memoryMB).toBe(10240);
    expect(plan.marginPercent).toBe(20);
    expect(plan.planning?.note).toMatch(/simulated engine/);
  });

  it('says why when WebGPU gives no adapter', async () => {
    gpu.probeAdapter.mockResolvedValue({ ok: false, reason: 'No WebGPU.' });
    const plan = makePlan();
    await plan.load();
    expect(plan.probe).toEqual({ ok: false, reason: 'No WebGPU.' });
    expect(plan.plan).toBeNull();
  });

  it('has nothing to plan for a job that runs elsewhere', async () => {
    job = null;
    const plan = makePlan();
    await plan.load();
    expect(plan.plan).toBeNull();
    await plan.runCheck();
    expect(gpu.preflight).not.toHaveBeenCalled();
  });

  it('plans again when the job changes (a lower window cap after a lost device)', async () => {
    const plan = makePlan();
    await plan.load();
    const first = plan.plan;
    if (!first?.ok) throw new Error('expected a plan');
    job = { engine: SIMULATED, needs: TYPICAL_NEEDS, windowCap: 2048 };
    flushSync();
    const capped = plan.plan;
    if (!capped?.ok) throw new Error('expected a plan');
    expect(capped.contextWindow).toBeLessThanOrEqual(2048);
    expect(capped.contextWindow).toBeLessThan(first.contextWindow);
  });

  it('runs the GPU check on the plan shown and hands the result to the page', async () => {
    const checks: (PreflightResult | null)[] = [];
    const plan = makePlan(checks);
    await plan.load();
    gpu.preflight.mockResolvedValue(fits(false));
    const running = plan.runCheck();
    expect(plan.checking).toBe(true);
    await running;
    expect(plan.checking).toBe(false);
    expect(gpu.preflight).toHaveBeenCalledWith({}, plan.plan, { simMemoryMB: 8192 });
    expect(plan.check).toEqual(fits(false));
    expect(checks).toEqual([fits(false)]);
  });

  it('says when the check could not run', async () => {
    const plan = makePlan();
    await plan.load();
    gpu.requireAdapter.mockRejectedValue(new Error('the GPU is gone'));
    await plan.runCheck();
    expect(plan.checkError).toBe('The check could not run: the GPU is gone');
    expect(plan.check).toBeNull();
    expect(plan.checking).toBe(false);
  });

  it('saves the memory settings, forgets the check made without them, and plans with them', async () => {
    const checks: (PreflightResult | null)[] = [];
    const plan = makePlan(checks);
    await plan.load();
    gpu.preflight.mockResolvedValue(fits(true));
    await plan.runCheck();
    const before = plan.plan;
    plan.memoryMB = 9000.4;
    plan.marginPercent = 30;
    await plan.saveMemory();
    expect(settings.current).toMatchObject({ gpuMemoryMB: 9000, safetyMargin: 0.3 });
    expect(plan.check).toBeNull();
    expect(checks).toEqual([fits(true), null]);
    expect(plan.plan).not.toEqual(before);
    expect(plan.plan?.reasons.join(' ')).toContain('9,000 MiB');
  });

  it.each([
    [null, 15, true, true],
    [2048, 0, true, true],
    [0, 15, false, true],
    [-1, 15, false, true],
    [2048, 91, true, false],
    [2048, -1, true, false],
    [2048, null, true, false]
  ])('memory %s MiB, margin %s%%: valid %s and %s', async (memory, margin, memoryOk, marginOk) => {
    const plan = makePlan();
    await plan.load();
    plan.memoryMB = memory;
    plan.marginPercent = margin;
    expect(plan.memoryValid).toBe(memoryOk);
    expect(plan.marginValid).toBe(marginOk);
    await plan.saveMemory();
    if (!memoryOk || !marginOk) expect(settings.current.gpuMemoryMB).toBe(8192);
  });
});
