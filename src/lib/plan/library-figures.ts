/**
 * The plan's figures from the model library itself (library-metadata.ts) instead of the
 * catalog's: the runtime's own word on the weights, the KV cache, the scratch memory and
 * the longest context the library was compiled for. Read before the weights are
 * downloaded (the library is about 4 MB), so "fits before download" is the runtime's
 * answer. Pure.
 */
import { formatCount, formatMiB } from '$lib/shared/figures';
import { kvBytesPerToken, largestScratchOf } from './catalog';
import type { LibraryMetadata } from './library-metadata';
import type { ModelSpec } from './types';

/**
 * The functions the step loop runs one sequence at a time, as WebLLM 0.2.79 runs them
 * (LLMChatPipeline: getFunction "embed", "prefill", "decode"); with several it runs
 * batch_prefill and batch_decode instead (`batchScratchBytes`). The library also carries
 * batch_verify, whose scratch (669 MiB for the 0.5B) counts in WebLLM's vram_required_MB but is
 * never allocated here.
 */
const STEP_FUNCTIONS = ['prefill', 'decode'] as const;
const EMBED_FUNCTION = 'embed';

/** What the plan takes from a library, and the sentence that says so. */
export interface LibraryFigures {
  spec: ModelSpec;
  reason: string;
}

function scratchBytes(meta: LibraryMetadata): { bytes: number; parts: string } {
  const [step, stepBytes] = STEP_FUNCTIONS.map((fn) => [fn, meta.memoryUsage[fn] ?? 0] as const)
    .sort((a, b) => b[1] - a[1])
    .at(0) ?? ['prefill', 0];
  // The embedding of a chunk is made by `embed` and read by `prefill`: both are alive at once.
  const embed = meta.memoryUsage[EMBED_FUNCTION] ?? 0;
  return {
    bytes: stepBytes + embed,
    parts: `${step} ${formatMiB(stepBytes)} + ${EMBED_FUNCTION} ${formatMiB(embed)}`
  };
}

/** The scratch with several sequences at once: both batch functions' (each keeps its own pooled storage) and embed's. */
function batchScratchBytes(meta: LibraryMetadata): number {
  const use = (fn: string) => meta.memoryUsage[fn] ?? 0;
  return use('batch_prefill') + use('batch_decode') + use(EMBED_FUNCTION);
}

const EMBEDDING = 'model.embed_tokens.q_weight';

/**
 * The most outputs a layer's projection has (a quantized weight's rows: gate and up together),
 * the embedding and the LM head aside (the logits are of one row a sequence, not of the chunk).
 */
function widestProjection(meta: LibraryMetadata): number {
  const rows = meta.params
    .filter(
      (p) => p.name.endsWith('.q_weight') && p.name !== EMBEDDING && !p.name.startsWith('lm_head')
    )
    .map((p) => p.shape[0] ?? 0);
  return Math.max(0, ...rows);
}

function tensorBytes(shape: number[], dtype: string): number {
  const bits = Number(/(8|16|32|64)$/.exec(dtype)?.[1] ?? 0);
  return shape.reduce((product, dim) => product * dim, bits / 8);
}

/** KV elements are the model's float type: f16 for q4f16_1, f32 for q4f32_1. */
function kvBytesPerElement(quantization: string): number {
  return /f16/.test(quantization) ? 2 : 4;
}

/**
 * The spec with the library's figures. A library of another model than `spec` (its
 * quantization or shape does not match) is refused with the reason, and the catalog's
 * figures stay.
 */
export function withLibraryFigures(
  spec: ModelSpec,
  meta: LibraryMetadata,
  libFile: string
): LibraryFigures | { mismatch: string } {
  if (meta.quantization !== spec.quantization) {
    return {
      mismatch: `The model library ${libFile} is ${meta.quantization}, not ${spec.quantization}: the catalog's figures are used.`
    };
  }
  const { numHiddenLayers, numKeyValueHeads, headDim } = meta.kvCache;
  const scratch = scratchBytes(meta);
  const figures: ModelSpec = {
    ...spec,
    weightsBytes: meta.paramBytes,
    largestTensorBytes: Math.max(0, ...meta.params.map((p) => tensorBytes(p.shape, p.dtype))),
    largestScratch: largestScratchOf(
      meta.prefillChunkSize > 0 ? meta.prefillChunkSize : spec.prefillChunk,
      widestProjection(meta),
      meta.params.find((p) => p.name === EMBEDDING)?.shape[0] ?? 0,
      meta.quantization,
      meta.maxBatchSize > 0 ? meta.maxBatchSize : 1
    ),
    layers: numHiddenLayers,
    kvHeads: numKeyValueHeads,
    headDim,
    kvBytesPerElement: kvBytesPerElement(meta.quantization),
    activationBytes: scratch.bytes,
    batchScratchBytes: batchScratchBytes(meta),
    maxContext: meta.contextWindowSize > 0 ? meta.contextWindowSize : spec.maxContext,
    prefillChunk: meta.prefillChunkSize > 0 ? meta.prefillChunkSize : spec.prefillChunk
  };
  const kvPerToken = kvBytesPerToken(figures);
  return {
    spec: figures,
    reason:
      `Figures from the model library ${libFile} itself: weights ${formatMiB(figures.weightsBytes)} ` +
      `(${formatCount(meta.params.length)} tensors), KV cache ${formatCount(kvPerToken)} bytes a token ` +
      `(${numHiddenLayers} layers x ${numKeyValueHeads} KV heads x ${headDim}), scratch ${formatMiB(scratch.bytes)} ` +
      `(${scratch.parts}; ${formatMiB(figures.batchScratchBytes)} for several sequences at once), at most ${formatCount(figures.maxContext)} tokens of context.`
  };
}
