/**
 * The memory plan: which model variant, which context window, and whether it
 * fits this GPU. Pure: no browser APIs, no clock, no randomness; the probe
 * supplies the facts, the worker and the page act on the result.
 *
 * Figures in sentences are in MiB (1024 x 1024 bytes; WebLLM writes them as MB).
 */
import { formatCount, formatMiB } from '$lib/shared/figures';
import {
  KV_PAGE_TOKENS,
  WINDOW_STEP,
  kvTokens,
  roundDownToWindow,
  roundUpToWindow
} from './kv-cache';
import { kvBytesPerToken } from './catalog';
import { budgetFor, marginOf, usableBytes } from './budget';
import { kvBinding, kvLayerBytes, limitProblem, tensorProblem } from './device-limits';
import type { JobNeeds } from '$lib/shared/job';
import type { AdapterFacts, ModelSpec, Plan, PlanInput, Quantization } from './types';

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

/** The KV cache's bytes for `sequences` windows of `window` tokens, its spare page included. */
function kvCacheBytes(window: number, kvPerToken: number, sequences = 1): number {
  return kvTokens(window, sequences) * kvPerToken;
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
  const margin = marginOf(input.safetyMargin);
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
  const usable = usableBytes(estimate.bytes, margin);
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

  // One cache: a window for each sequence, and a spare page.
  const memoryCap =
    usable === null
      ? Infinity
      : roundDownToWindow(((usable - fixed) / kvPerToken - KV_PAGE_TOKENS) / sequences);
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
      ? `${formatCount(sequences)} x ${formatCount(window)} tokens for ${formatCount(sequences)} sequences at once and a spare page of ${KV_PAGE_TOKENS}`
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
