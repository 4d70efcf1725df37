/**
 * A job's memory plan on this GPU, as a page shows it: the adapter asked once, the plan
 * made from the job's needs and this browser's memory settings (and remade when either
 * changes), those settings saved, and "Check this GPU" run against the plan. The page
 * that owns the job creates it; ui/GpuPanel.svelte only shows it and calls its methods.
 */
import { preflight, type PreflightResult } from '$lib/gpu/preflight';
import { probeAdapter, requireAdapter, type ProbeResult } from '$lib/gpu/probe';
import { planJob, type JobPlanning, type ModelLibrary } from '$lib/plan/job-plan';
import { readModelLibrary } from '$lib/models/model-library';
import type { Plan } from '$lib/plan/types';
import { simulatedMemoryMB, type LocalChoice } from '$lib/shared/engine-choice';
import type { JobNeeds } from '$lib/shared/job';
import { settings } from './settings.svelte';

/** What the plan is made for. */
export interface PlanJob {
  engine: LocalChoice;
  needs: JobNeeds;
  /** The largest window the job may use (lowered after a lost device), or null. */
  windowCap: number | null;
}

export interface JobPlanOptions {
  /** Hears each new check result (null when the settings it was made with changed). */
  oncheck?: (check: PreflightResult | null) => void;
}

export class JobPlan {
  readonly #job: () => PlanJob | null;
  readonly #oncheck: (check: PreflightResult | null) => void;
  #probe = $state.raw<ProbeResult | null>(null);
  #check = $state.raw<PreflightResult | null>(null);
  #checking = $state(false);
  #checkError = $state('');
  /** The chosen model's library, when WebLLM's cache has it: the plan then uses its figures. */
  #library = $state.raw<ModelLibrary | null>(null);

  // The memory settings form: number inputs bind numbers, an empty field binds null.
  memoryMB = $state<number | null>(null);
  marginPercent = $state<number | null>(settings.current.safetyMargin * 100);

  readonly planning: JobPlanning | null = $derived.by(() => {
    const probe = this.#probe;
    if (!probe?.ok) return null;
    const job = this.#job();
    if (!job) return null;
    const library = this.#library;
    return planJob(probe.facts, job, settings.current, job.windowCap, library);
  });
  readonly plan: Plan | null = $derived(this.planning?.plan ?? null);
  /** Empty (estimate the GPU's size) or a positive size. */
  readonly memoryValid = $derived(
    this.memoryMB === null || (Number.isFinite(this.memoryMB) && this.memoryMB > 0)
  );
  readonly marginValid = $derived(
    this.marginPercent !== null &&
      Number.isFinite(this.marginPercent) &&
      this.marginPercent >= 0 &&
      this.marginPercent <= 90
  );

  /**
   * `job` is read whenever the plan is made: pass a function over the page's state (null
   * while there is nothing to plan, such as a job that runs on a server).
   */
  constructor(job: () => PlanJob | null, options: JobPlanOptions = {}) {
    this.#job = job;
    this.#oncheck = options.oncheck ?? (() => {});
  }

  /** What WebGPU says about this GPU; null until asked. */
  get probe(): ProbeResult | null {
    return this.#probe;
  }
  /** The last "Check this GPU" result; a plan that does not fit blocks the job. */
  get check(): PreflightResult | null {
    return this.#check;
  }
  get checking(): boolean {
    return this.#checking;
  }
  get checkError(): string {
    return this.#checkError;
  }

  /** Asks WebGPU about the adapter and reads the stored settings (when the plan is shown). */
  async load(): Promise<void> {
    const [probed, stored] = await Promise.all([probeAdapter(), settings.load()]);
    this.#probe = probed;
    this.memoryMB = stored.gpuMemoryMB;
    this.marginPercent = Math.round(stored.safetyMargin * 100);
    await this.#readLibrary();
  }

  /** Reads the chosen model's library from WebLLM's cache (downloading nothing). */
  async #readLibrary(): Promise<void> {
    const probe = this.#probe;
    const job = this.#job();
    if (!probe?.ok || !job || job.engine.kind !== 'webllm') return;
    const { plan } = planJob(probe.facts, job, settings.current, job.windowCap);
    const modelId = plan.ok ? plan.model.id : job.engine.modelId;
    if (!modelId || this.#library?.modelId === modelId) return;
    const read = await readModelLibrary(modelId, settings.current.modelMirror, {
      fetchMissing: false
    });
    if ('library' in read) this.#library = read.library;
  }

  #setCheck(check: PreflightResult | null) {
    this.#check = check;
    this.#oncheck(check);
  }

  /** Saves the GPU memory and the safety margin; the plan is made again with them. */
  async saveMemory(): Promise<void> {
    const margin = this.marginPercent;
    if (!this.memoryValid || !this.marginValid || margin === null) return;
    this.#setCheck(null);
    // Only these two: another page (Models) may have saved a setting since this plan loaded.
    const gpuMemoryMB = this.memoryMB === null ? null : Math.round(this.memoryMB);
    await settings.update(() => ({ gpuMemoryMB, safetyMargin: margin / 100 }));
  }

  /** Allocates the plan's buffers on the GPU, to learn before the download whether it fits. */
  async runCheck(): Promise<void> {
    const plan = this.plan;
    const job = this.#job();
    if (!plan?.ok || !job) return;
    this.#checking = true;
    this.#checkError = '';
    try {
      // Downloaded since the page opened? Then the check runs on the library's figures.
      await this.#readLibrary();
      if (!this.plan?.ok) return;
      const check = await preflight(await requireAdapter(), this.plan, {
        simMemoryMB: simulatedMemoryMB(job.engine)
      });
      this.#setCheck(check);
    } catch (error) {
      this.#checkError = `The check could not run: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.#checking = false;
    }
  }
}
