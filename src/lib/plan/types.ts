import type { JobNeeds } from '$lib/shared/job';

/**
 * What the memory plan works from and what it decides. Pure data: the probe
 * fills AdapterFacts from the browser; memory.ts turns them into a Plan.
 */

/** What WebGPU (and navigator.deviceMemory) report about this machine. */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  description: string;
  isFallbackAdapter: boolean;
  /** e.g. 'shader-f16', 'subgroups' */
  features: string[];
  limits: {
    maxBufferSize: number;
    maxStorageBufferBindingSize: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupSizeX: number;
    maxStorageBuffersPerShaderStage: number;
  };
  /** navigator.deviceMemory in GB (bucketed, at most 8 in Chrome); null where unknown. */
  deviceMemoryGB: number | null;
}

export type Quantization = 'q4f16_1' | 'q4f32_1';

/** One model variant LocalBatch can run, with the figures the plan needs. */
export interface ModelSpec {
  /** WebLLM model id, e.g. 'Qwen2.5-7B-Instruct-q4f16_1-MLC'. */
  id: string;
  /** e.g. 'Qwen2.5-7B-Instruct'; variants of one family differ only in quantization. */
  family: string;
  label: string;
  /** Billions of parameters, for ordering and for people. */
  paramsB: number;
  quantization: Quantization;
  needsShaderF16: boolean;
  /** Bytes of all weight tensors as WebLLM uploads them. */
  weightsBytes: number;
  /** Bytes of the largest single weight tensor: it must fit one storage buffer binding. */
  largestTensorBytes: number;
  /**
   * Bytes of the largest single scratch buffer a function binds, which must fit one storage
   * buffer binding too: a prefill chunk through the widest projection (gate and up), in the
   * activations' type, or the f32 logits of the most rows a function takes (one on the single
   * path; the library's max batch size, 80, for the batch functions). The functions' scratch
   * (`activationBytes`) is several such buffers; the library's metadata gives only their sum.
   * Measured on the real runtime (Qwen2-0.5B q4f32_1): 39,845,888 bytes (1,024 x 9,728 x 4) one
   * at a time, and 48,619,520 (80 x 151,936 x 4) with several sequences at once.
   */
  largestScratch: { single: number; batch: number };
  layers: number;
  kvHeads: number;
  headDim: number;
  /** 2 for f16 KV (q4f16_1), 4 for f32 KV (q4f32_1). */
  kvBytesPerElement: number;
  /** Temporary buffers (activations, logits) at the prefill chunk, in bytes. */
  activationBytes: number;
  /**
   * The same for several sequences at once: the scratch of the batch functions
   * (`batch_prefill`, `batch_decode`) and `embed`, which the batched path runs instead.
   */
  batchScratchBytes: number;
  maxContext: number;
  prefillChunk: number;
  /** WebLLM's own prebuiltAppConfig figure (optimistic), in MB. */
  vramRequiredMB: number;
}

export interface MemoryBudget {
  /** GPU memory the user says this machine has, in MB; null when not set. */
  userMB: number | null;
  /**
   * Without a user figure, plan as if the GPU's size were unknown, for this
   * reason (the simulated engine without a memory cap allocates no model).
   */
  unknownReason?: string;
}

export interface PlanInput {
  adapter: AdapterFacts;
  /** Candidates, in order of preference (the default family first). */
  models: ModelSpec[];
  /** Family the user wants; the plan picks its variant by shader-f16. */
  family: string;
  needs: JobNeeds;
  budget: MemoryBudget;
  /** Fraction of the budget kept free, 0..0.9. */
  safetyMargin: number;
  /** Step-down: the window may not exceed this (tokens). */
  maxWindow?: number;
  /** Sequences at once (1 when absent): each holds a window in its own KV pages. */
  sequences?: number;
}

export interface PlannedMemory {
  model: ModelSpec;
  /** Tokens; a multiple of 1024. */
  contextWindow: number;
  /** Sequences at once. */
  sequences: number;
  kvBytes: number;
  weightsBytes: number;
  activationBytes: number;
  totalBytes: number;
  /** Usable bytes after the margin; null when the GPU's size is unknown. */
  budgetBytes: number | null;
  /** Longest prompt that fits with the job's answer length. */
  maxPromptTokens: number;
}

export type Plan =
  | ({ ok: true; reasons: string[] } & PlannedMemory)
  | {
      ok: false;
      reasons: string[];
      /** One sentence: why no plan fits, and what to change. */
      refusal: string;
      /** The largest model that would fit, where one does. */
      suggestion: ModelSpec | null;
    };
