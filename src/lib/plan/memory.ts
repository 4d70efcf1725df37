/**
 * The memory plan: which model variant, which context window, and whether it
 * fits this GPU. Pure: no browser APIs, no clock, no randomness; the probe
 * supplies the facts, the worker and the page act on the result.
 *
 * Figures in sentences are in MiB (1024 x 1024 bytes; WebLLM writes them as MB).
 */
import { GIB, KIB, MIB, formatCount, formatMiB } from '$lib/shared/figures';
import { adapterKind, type AdapterKind } from './adapter-kind';
import { kvBytesPerToken } from './catalog';
import type { JobNeeds } from '$lib/shared/job';
import type { AdapterFacts, MemoryBudget, ModelSpec, Plan, PlanInput, Quantization } from './types';

/** Context windows are whole multiples of this (also WebLLM's prefill chunk). */
const WINDOW_STEP = 1024;

/**
 * Fraction of the budget the plan leaves free: 0.15.
 *
 * - WebLLM's own `vram_required_MB`, from which the activations are derived, is
 *   called optimistic by its authors, and its per-token cost runs ~5% above the
 *   pure KV formula (the 1k vs 4k Llama-3.1-8B records).
 * - The browser compositor, other tabs and other programs share the GPU; on an
 *   integrated GPU they share the very memory the budget counts.
 * - Allocators round and fragment: WebGPU buffers, TVM's pooled allocator and the
 *   paged KV cache's pages and auxiliary arrays are not in the formula.
 * - vLLM, which measures instead of estimating, still runs out of memory at
 *   `gpu_memory_utilization` 0.9 on Qwen2.5-7B batches (WeClone's users; 0.5 ran):
 *   a 10% margin was not enough there.
 * 0.15 keeps 1.2 GB of an 8 GB card free, more than every one of those gaps seen
 * so far, without refusing 7B on the 8 GB cards it runs on (it needs ~5.1 GB at 4k).
 * A failed allocation is caught anyway (preflight, then step-down).
 */
export const DEFAULT_SAFETY_MARGIN = 0.15;

/**
 * What WebLLM 0.2.79's `detectGPUDevice` demands (tvmjs in lib/index.js). It asks
 * for `preferred` and, if the adapter offers less, for `accepted`; below that it
 * throws. Note: the device then has exactly what was asked, so an adapter with
 * a 256 MB binding limit gets a 128 MB one.
 */
export const WEBLLM_MIN_LIMITS = {
  maxBufferSize: { preferred: GIB, accepted: 256 * MIB },
  maxStorageBufferBindingSize: { preferred: GIB, accepted: 128 * MIB },
  maxComputeWorkgroupStorageSize: 32 * KIB,
  maxStorageBuffersPerShaderStage: 10
} as const;

function sizeOf(bytes: number): string {
  if (bytes >= MIB && bytes % MIB === 0) return formatMiB(bytes);
  if (bytes >= KIB && bytes % KIB === 0)
    return `${formatCount(bytes)} bytes (${formatCount(bytes / KIB)} KiB)`;
  return `${formatCount(bytes)} bytes`;
}

function roundUpToWindow(tokens: number): number {
  return Math.max(WINDOW_STEP, Math.ceil(tokens / WINDOW_STEP) * WINDOW_STEP);
}

function roundDownToWindow(tokens: number): number {
  return Math.floor(tokens / WINDOW_STEP) * WINDOW_STEP;
}

/** The sentence for the first minimum limit WebLLM would reject, or null. */
function limitProblem(adapter: AdapterFacts): string | null {
  const l = adapter.limits;
  const min = WEBLLM_MIN_LIMITS;
  const checks: [keyof AdapterFacts['limits'], number][] = [
    ['maxBufferSize', min.maxBufferSize.accepted],
    ['maxStorageBufferBindingSize', min.maxStorageBufferBindingSize.accepted],
    ['maxComputeWorkgroupStorageSize', min.maxComputeWorkgroupStorageSize],
    ['maxStorageBuffersPerShaderStage', min.maxStorageBuffersPerShaderStage]
  ];
  for (const [name, needed] of checks) {
    const value = l[name];
    if (value < needed) {
      const show = name === 'maxStorageBuffersPerShaderStage' ? formatCount : sizeOf;
      return `This GPU's ${name} is ${show(value)}, but WebLLM needs at least ${show(needed)}, so no model can run on it.`;
    }
  }
  return null;
}

/** The limits the device WebLLM creates will have (it asks for 1 GB, else the accepted minimum). */
export function webllmDeviceLimits(adapter: AdapterFacts): {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
} {
  const pick = (offered: number, want: { preferred: number; accepted: number }) =>
    offered >= want.preferred ? want.preferred : want.accepted;
  return {
    maxBufferSize: pick(adapter.limits.maxBufferSize, WEBLLM_MIN_LIMITS.maxBufferSize),
    maxStorageBufferBindingSize: pick(
      adapter.limits.maxStorageBufferBindingSize,
      WEBLLM_MIN_LIMITS.maxStorageBufferBindingSize
    )
  };
}

/**
 * Why a buffer the kernels bind cannot be one buffer on this device, or null: the model's
 * largest weight tensor, or the largest scratch buffer of the functions it runs (with several
 * sequences at once, the batch functions').
 */
function tensorProblem(model: ModelSpec, adapter: AdapterFacts, sequences = 1): string | null {
  const device = webllmDeviceLimits(adapter);
  const scratch = sequences > 1 ? model.largestScratch.batch : model.largestScratch.single;
  const buffers: [string, number][] = [
    ['largest weight tensor', model.largestTensorBytes],
    [
      sequences > 1
        ? 'largest scratch buffer with several sequences at once (a prefill chunk through its widest layer, or the batch functions’ logits)'
        : 'largest scratch buffer (a prefill chunk through its widest layer)',
      scratch
    ]
  ];
  for (const [what, bytes] of buffers) {
    for (const name of ['maxStorageBufferBindingSize', 'maxBufferSize'] as const) {
      const limit = device[name];
      if (bytes > limit) {
        const asked =
          limit < adapter.limits[name]
            ? ` (WebLLM asks for ${formatMiB(WEBLLM_MIN_LIMITS[name].preferred)} only where the GPU offers it; this one offers ${formatMiB(adapter.limits[name])}, so it gets ${formatMiB(limit)})`
            : '';
        return `${model.family}'s ${what} is ${formatMiB(bytes)} (${formatCount(bytes)} bytes), more than the ${formatMiB(limit)} ${name} of this GPU${asked}.`;
      }
    }
  }
  return null;
}

/**
 * Share of system memory a GPU that shares it can use. Apple: Metal's
 * recommended working set is about two thirds of unified memory. Others:
 * Windows gives integrated GPUs up to half of RAM as shared GPU memory, and a
 * software GPU (SwiftShader, llvmpipe) competes with the browser and the OS for
 * the same RAM, so half.
 */
function sharedMemoryFraction(adapter: AdapterFacts, kind: AdapterKind): number {
  return adapter.vendor.toLowerCase() === 'apple' && kind.kind !== 'software' ? 2 / 3 : 1 / 2;
}

export interface BudgetEstimate {
  /** Total GPU memory the plan may count on, before the safety margin; null when unknown. */
  bytes: number | null;
  reason: string;
  source: 'user' | 'shared' | 'unknown';
}

/** How much memory this GPU has, as far as can be known without measuring. */
export function budgetFor(adapter: AdapterFacts, budget: MemoryBudget): BudgetEstimate {
  if (budget.userMB !== null && budget.userMB > 0) {
    return {
      bytes: Math.floor(budget.userMB * MIB),
      reason: `You said this GPU has ${formatCount(budget.userMB)} MiB.`,
      source: 'user'
    };
  }
  if (budget.unknownReason) {
    return { bytes: null, reason: budget.unknownReason, source: 'unknown' };
  }
  const kind = adapterKind(adapter);
  if (kind.kind === 'software' || kind.kind === 'integrated') {
    const what =
      kind.kind === 'software'
        ? `This is a software GPU (${kind.name}, running on the CPU): it uses system RAM`
        : 'This is an integrated GPU: it shares system RAM';
    const gb = adapter.deviceMemoryGB;
    if (gb === null || !(gb > 0)) {
      return {
        bytes: null,
        reason: `${what}, but the browser does not say how much RAM there is, so the GPU memory is unknown until you say how much it has or "Check this GPU" shows it.`,
        source: 'unknown'
      };
    }
    const fraction = sharedMemoryFraction(adapter, kind);
    const bytes = Math.floor(gb * GIB * fraction);
    const share =
      fraction !== 1 / 2
        ? "about two thirds of it (Metal's recommended working set on unified memory)"
        : kind.kind === 'software'
          ? 'about half of it (the browser, the system and other programs need the rest)'
          : 'about half of it (the share Windows gives integrated GPUs; other programs need the rest)';
    return {
      bytes,
      reason: `${what}. The browser reports ${gb} GB of RAM (Chrome reports at most 8 GB, so there may be more) and the GPU can use ${share}: ${formatMiB(bytes)}. If this machine has more memory, say how much.`,
      source: 'shared'
    };
  }
  const unknown =
    kind.kind === 'unnamed'
      ? 'The browser does not name this GPU (no vendor, architecture or description), so whether it has memory of its own and how much is unknown'
      : "No web API tells a discrete GPU's memory size: it is unknown";
  return {
    bytes: null,
    reason: `${unknown} until you say how much this GPU has or "Check this GPU" shows it.`,
    source: 'unknown'
  };
}

/**
 * The next smaller context window after an out-of-memory or a lost device:
 * half the current one, rounded down to a multiple of 1024, never below 1024;
 * null when the window is already the smallest. When `neededWindow` (what the
 * job asks for) is below that half, it steps straight there: no item loses its
 * room and more memory is freed. Items that no longer fit are the caller's call.
 */
export function stepDown(currentWindow: number, neededWindow?: number): number | null {
  if (!(currentWindow > WINDOW_STEP)) return null;
  let next = Math.max(WINDOW_STEP, roundDownToWindow(currentWindow / 2));
  if (neededWindow !== undefined && neededWindow > 0) {
    next = Math.max(WINDOW_STEP, Math.min(next, roundUpToWindow(neededWindow)));
  }
  return next < currentWindow ? next : null;
}

/**
 * WebLLM's KV cache is paged (TVM's paged attention cache, 16-token pages, one sequence) and
 * holds one page more than the window: measured on the real runtime, a 1,024-token window of
 * Qwen2.5-0.5B got 65 pages a layer (24 buffers of 1,064,960 bytes), a 4,096-token one 257.
 */
const KV_PAGE_TOKENS = 16;

/**
 * The KV cache's bytes for a window of `window` tokens, its spare page included. With several
 * sequences at once, the batched path's own cache holds a window for each beside the one
 * WebLLM's pipeline keeps (batch/pipeline.ts), each cache with its spare page.
 */
function kvCacheBytes(window: number, kvPerToken: number, sequences = 1): number {
  const batch = sequences > 1 ? sequences * window + KV_PAGE_TOKENS : 0;
  return (window + KV_PAGE_TOKENS + batch) * kvPerToken;
}

/**
 * Bytes of one layer's KV array: the runtime's paged cache keeps each layer's keys and values
 * for every page in one buffer ([pages, 2, KV heads, 16, head dim]), with `sequences` windows
 * of pages (batch/pipeline.ts) and the spare page.
 */
function kvLayerBytes(model: ModelSpec, window: number, sequences: number): number {
  return (sequences * window + KV_PAGE_TOKENS) * (kvBytesPerToken(model) / model.layers);
}

/**
 * The largest buffer the kernels bind on the device WebLLM makes (the storage binding limit, or
 * the buffer size limit where that is smaller), and what it leaves a layer's KV array: the
 * largest window for `sequences`, and the most sequences for a window.
 */
function kvBinding(model: ModelSpec, adapter: AdapterFacts) {
  const device = webllmDeviceLimits(adapter);
  const limit: keyof typeof device =
    device.maxStorageBufferBindingSize <= device.maxBufferSize
      ? 'maxStorageBufferBindingSize'
      : 'maxBufferSize';
  const bytes = device[limit];
  const tokens = Math.floor(bytes / (kvBytesPerToken(model) / model.layers)) - KV_PAGE_TOKENS;
  return {
    limit,
    bytes,
    cap: (sequences: number) => roundDownToWindow(tokens / sequences),
    sequencesAt: (window: number) => Math.floor(tokens / window)
  };
}

/** Scratch memory: the single path's functions, or the batch functions for several sequences. */
function scratchBytes(model: ModelSpec, sequences: number): number {
  return sequences > 1 ? model.batchScratchBytes : model.activationBytes;
}

/** Bytes the model needs with a window of `window` tokens. */
function totalBytesFor(model: ModelSpec, window: number, sequences = 1): number {
  return (
    model.weightsBytes +
    scratchBytes(model, sequences) +
    kvCacheBytes(window, kvBytesPerToken(model), sequences)
  );
}

function quantizationFor(adapter: AdapterFacts): Quantization {
  return adapter.features.includes('shader-f16') ? 'q4f16_1' : 'q4f32_1';
}

/** The largest model (not of `exceptFamily`) this adapter can run within `usable` bytes. */
function suggestModel(
  models: ModelSpec[],
  adapter: AdapterFacts,
  usable: number | null,
  exceptFamily: string
): ModelSpec | null {
  const preferred = quantizationFor(adapter);
  const hasF16 = preferred === 'q4f16_1';
  const candidates = models.filter(
    (m) =>
      m.family !== exceptFamily &&
      (hasF16 || !m.needsShaderF16) &&
      tensorProblem(m, adapter) === null &&
      (usable === null || totalBytesFor(m, WINDOW_STEP) <= usable)
  );
  candidates.sort(
    (a, b) =>
      b.paramsB - a.paramsB ||
      Number(b.quantization === preferred) - Number(a.quantization === preferred)
  );
  return candidates[0] ?? null;
}

function refuse(
  reasons: string[],
  refusal: string,
  suggestion: ModelSpec | null
): Extract<Plan, { ok: false }> {
  const offer = suggestion ? ` ${suggestion.family} (${suggestion.quantization}) would fit.` : '';
  const sentence = refusal + offer;
  return { ok: false, reasons: [...reasons, sentence], refusal: sentence, suggestion };
}

function describeNeeds(needs: JobNeeds): string {
  const prompt = needs.exact
    ? `${formatCount(needs.longestPromptTokens)} tokens`
    : `about ${formatCount(needs.longestPromptTokens)} tokens (estimated)`;
  return `the longest prompt, ${prompt}, plus answers of up to ${formatCount(needs.maxAnswerTokens)} tokens`;
}

/** Decide the model variant, the context window and whether it fits. */
export function planMemory(input: PlanInput): Plan {
  const { adapter, needs } = input;
  const margin = Math.min(0.9, Math.max(0, input.safetyMargin));
  const reasons: string[] = [];

  const limits = limitProblem(adapter);
  if (limits) return refuse(reasons, limits, null);

  const quantization = quantizationFor(adapter);
  reasons.push(
    quantization === 'q4f16_1'
      ? 'q4f16_1 chosen because this GPU has shader-f16.'
      : 'q4f32_1 chosen because this GPU lacks shader-f16.'
  );

  const estimate = budgetFor(adapter, input.budget);
  const usable = estimate.bytes === null ? null : Math.floor(estimate.bytes * (1 - margin));
  const pct = `${Math.round(margin * 100)}%`;
  reasons.push(
    usable === null
      ? estimate.reason
      : `${estimate.reason} Keeping ${pct} free leaves ${formatMiB(usable)} for the model.`
  );

  const model = input.models.find(
    (m) => m.family === input.family && m.quantization === quantization
  );
  if (!model) {
    return refuse(
      reasons,
      `There is no ${quantization} variant of ${input.family} in the catalog.`,
      suggestModel(input.models, adapter, usable, input.family)
    );
  }

  const tensor = tensorProblem(model, adapter);
  if (tensor) {
    return refuse(
      reasons,
      `${tensor} ${model.family} cannot run on this GPU.`,
      suggestModel(input.models, adapter, usable, model.family)
    );
  }

  // The window the job asks for, within the model's maximum and the step-down cap.
  const neededTokens = Math.max(1, needs.longestPromptTokens + needs.maxAnswerTokens);
  const neededWindow = roundUpToWindow(neededTokens);
  const modelCap = roundDownToWindow(model.maxContext);
  const stepCap =
    input.maxWindow === undefined
      ? Infinity
      : Math.max(WINDOW_STEP, roundDownToWindow(input.maxWindow));

  // One layer's KV array must be one buffer the kernels bind: fewer sequences, then a smaller window.
  const binding = kvBinding(model, adapter);
  if (binding.cap(1) < WINDOW_STEP) {
    return refuse(
      reasons,
      `${model.family}'s KV cache for ${formatCount(WINDOW_STEP)} tokens is ${formatMiB(kvLayerBytes(model, WINDOW_STEP, 1))} a layer, more than the ${formatMiB(binding.bytes)} ${binding.limit} of this GPU: it cannot run on it.`,
      suggestModel(input.models, adapter, null, model.family)
    );
  }
  const asked = Math.max(1, Math.floor(input.sequences ?? 1));
  const wanted = Math.min(neededWindow, modelCap, stepCap);
  let sequences = binding.cap(asked) >= wanted ? asked : Math.max(1, binding.sequencesAt(wanted));
  if (sequences < asked) {
    reasons.push(
      `${formatCount(asked)} sequences at once would make one layer's KV cache ${formatCount(kvLayerBytes(model, wanted, asked))} bytes (${formatCount(asked)} x ${formatCount(wanted)} tokens and a spare page), more than this GPU's ${binding.limit} of ${formatCount(binding.bytes)} bytes (${formatMiB(binding.bytes)}): ${formatCount(sequences)} ${sequences === 1 ? 'sequence' : 'sequences'} at once.`
    );
  }
  // The batch functions' scratch binds too: their logits are for as many rows as the library takes.
  const batchScratch = sequences > 1 ? tensorProblem(model, adapter, sequences) : null;
  if (batchScratch) {
    reasons.push(`${batchScratch} 1 sequence at once.`);
    sequences = 1;
  }
  const bindCap = binding.cap(sequences);

  const kvPerToken = kvBytesPerToken(model);
  const activations = scratchBytes(model, sequences);
  const fixed = model.weightsBytes + activations;
  const smallest = totalBytesFor(model, WINDOW_STEP, sequences);
  const atOnce = sequences > 1 ? `, ${formatCount(sequences)} sequences at once` : '';
  if (usable !== null && smallest > usable) {
    return refuse(
      reasons,
      `${model.family} needs at least ${formatMiB(smallest)}${atOnce} (weights ${formatMiB(model.weightsBytes)} + activations ${formatMiB(activations)} + KV cache for ${formatCount(WINDOW_STEP)} tokens ${formatMiB(kvCacheBytes(WINDOW_STEP, kvPerToken, sequences))}), ${formatMiB(smallest - usable)} more than the ${formatMiB(usable)} usable.`,
      suggestModel(input.models, adapter, usable, model.family)
    );
  }

  // Windows in the caches: one, or one for WebLLM's pipeline and one per sequence; a spare page each.
  const caches = sequences > 1 ? 2 : 1;
  const windows = sequences > 1 ? sequences + 1 : 1;
  const memoryCap =
    usable === null
      ? Infinity
      : roundDownToWindow(((usable - fixed) / kvPerToken - caches * KV_PAGE_TOKENS) / windows);
  const window = Math.min(neededWindow, modelCap, stepCap, memoryCap, bindCap);

  const maxPromptTokens = window - needs.maxAnswerTokens;
  if (maxPromptTokens < 1) {
    const why =
      window === memoryCap
        ? 'the memory budget'
        : window === bindCap
          ? `the ${binding.limit} of one layer's KV cache`
          : window === stepCap
            ? 'the step-down after a memory error'
            : "the model's maximum";
    return refuse(
      reasons,
      `Answers of up to ${formatCount(needs.maxAnswerTokens)} tokens leave no room for a prompt in a context of ${formatCount(window)} tokens (the most ${why} allows). Lower the maximum answer length.`,
      null
    );
  }

  if (window >= neededWindow) {
    reasons.push(
      `A context window of ${formatCount(window)} tokens fits ${describeNeeds(needs)}, rounded up to a multiple of ${formatCount(WINDOW_STEP)}.`
    );
  } else {
    const limiter =
      window === memoryCap
        ? `only ${formatCount(window)} fit in memory`
        : window === bindCap
          ? `one layer's KV cache for more than ${formatCount(window)} tokens would not fit in one buffer binding (${formatMiB(binding.bytes)} ${binding.limit})`
          : window === stepCap
            ? `the step-down after a memory error caps it at ${formatCount(window)}`
            : `${model.family} handles at most ${formatCount(modelCap)}`;
    reasons.push(
      `The job needs a context of ${formatCount(neededWindow)} tokens for ${describeNeeds(needs)}, but ${limiter}; items whose prompt + answer exceed ${formatCount(window)} tokens (prompts over ${formatCount(maxPromptTokens)} tokens) will be failed with that reason.`
    );
  }

  const kvBytes = kvCacheBytes(window, kvPerToken, sequences);
  const totalBytes = fixed + kvBytes;
  const kvWhat =
    sequences > 1
      ? `${formatCount(window)} tokens for WebLLM's pipeline and ${formatCount(sequences)} x ${formatCount(window)} for ${formatCount(sequences)} sequences at once, a spare page of ${KV_PAGE_TOKENS} each`
      : `${formatCount(window)} tokens and a spare page of ${KV_PAGE_TOKENS}`;
  const sum = `weights ${formatMiB(model.weightsBytes)} + ${sequences > 1 ? 'batch ' : ''}activations ${formatMiB(activations)} + KV cache ${formatMiB(kvBytes)} (${kvWhat}, x ${formatCount(kvPerToken)} bytes) = ${formatMiB(totalBytes)}`;
  reasons.push(
    usable === null
      ? `${model.family} (${model.quantization}) needs ${sum}; whether this GPU has that is unknown until you say or "Check this GPU" shows it.`
      : `${model.family} (${model.quantization}) fits: ${sum}, within the ${formatMiB(usable)} usable.`
  );

  return {
    ok: true,
    reasons,
    model,
    contextWindow: window,
    sequences,
    kvBytes,
    weightsBytes: model.weightsBytes,
    activationBytes: activations,
    totalBytes,
    budgetBytes: usable,
    maxPromptTokens
  };
}
