/**
 * The models the memory plan can choose from, with every figure it needs.
 *
 * Sources, per figure:
 * - Dimensions (hidden, intermediate, layers, heads, KV heads, vocab, tied
 *   embeddings, max_position_embeddings 32768): each model's `config.json` on
 *   Hugging Face (Qwen/Qwen2.5-{7B,3B,1.5B,0.5B}-Instruct). Head dim = hidden / heads.
 *   The parameter totals these dims give (7.62B, 3.09B, 1.54B, 0.49B) match
 *   Qwen's published counts, a check on the dims.
 * - Model ids, `vram_required_MB` and the default context (4096): WebLLM 0.2.79
 *   `prebuiltAppConfig` (node_modules/@mlc-ai/web-llm/lib/index.js). Every Qwen2.5
 *   size has both q4f16_1 and q4f32_1 records there.
 * - Prefill chunk 1024: the `_cs1k` in each record's wasm name (compiled in).
 * - Weight bytes and the largest tensor: COMPUTED below from the dims and MLC's
 *   group quantization (mlc-llm `quantization/group_quantization.py`, `qwen2_model.py`):
 *   every Linear and the embedding become `q_weight` (uint32, 8 four-bit values
 *   each, shape [rows, cols / 8]) plus `q_scale` (one scale per group of 32,
 *   f16 for q4f16_1, f32 for q4f32_1, shape [rows, cols / 32]); they are two
 *   separate GPU buffers. Q/K/V are fused into `c_attn` (with bias), gate/up into
 *   `gate_up_proj`; biases and RMSNorm weights stay in the model dtype.
 * - Activations: DERIVED from `vram_required_MB` (see `deriveActivationBytes`).
 */
import { MIB } from '$lib/shared/figures';
import type { ModelSpec, Quantization } from './types';

/** Qwen2.5 is trained for 32,768 tokens (config.json `max_position_embeddings`). */
const QWEN25_MAX_CONTEXT = 32768;
/** `_cs1k` in the wasm names: the prefill chunk is 1024 tokens. */
const PREFILL_CHUNK = 1024;
/** The context WebLLM's records set (`overrides.context_window_size`); its vram figures are at this size. */
export const WEBLLM_DEFAULT_CONTEXT = 4096;
/** MLC's q4*_1 quantization: groups of 32 four-bit values. */
const GROUP_SIZE = 32;
/** Four-bit values per uint32 storage word. */
const VALUES_PER_WORD = 8;

/** Bytes of the packed 4-bit weights of a rows x cols matrix (the `q_weight` tensor). */
export function q4WeightBytes(rows: number, cols: number): number {
  const groups = Math.ceil(cols / GROUP_SIZE);
  return rows * groups * (GROUP_SIZE / VALUES_PER_WORD) * 4;
}

/** Bytes of the group scales of a rows x cols matrix (the `q_scale` tensor). */
function q4ScaleBytes(rows: number, cols: number, scaleBytes: number): number {
  return rows * Math.ceil(cols / GROUP_SIZE) * scaleBytes;
}

/** Both tensors of one quantized matrix. */
export function q4Bytes(rows: number, cols: number, scaleBytes: number): number {
  return q4WeightBytes(rows, cols) + q4ScaleBytes(rows, cols, scaleBytes);
}

/** Qwen2 dimensions, from the model's config.json. */
interface Qwen2Dims {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  tiedEmbeddings: boolean;
}

interface WeightTensor {
  name: string;
  bytes: number;
}

/**
 * Every weight tensor WebLLM uploads for a Qwen2 model (one entry per distinct
 * shape, with its count), as MLC lays them out for q4f16_1 / q4f32_1.
 */
function qwen2Tensors(
  d: Qwen2Dims,
  quantization: Quantization
): (WeightTensor & { count: number })[] {
  // Scales, biases and norms are in the model dtype: f16 for q4f16_1, f32 for q4f32_1.
  const f = quantization === 'q4f16_1' ? 2 : 4;
  const headDim = d.hidden / d.heads;
  const qkv = (d.heads + 2 * d.kvHeads) * headDim;
  const matrix = (name: string, rows: number, cols: number, count: number) => [
    { name: `${name}.q_weight`, bytes: q4WeightBytes(rows, cols), count },
    { name: `${name}.q_scale`, bytes: q4ScaleBytes(rows, cols, f), count }
  ];
  const tensors = [
    ...matrix('embed_tokens', d.vocab, d.hidden, 1),
    ...(d.tiedEmbeddings ? [] : matrix('lm_head', d.vocab, d.hidden, 1)),
    ...matrix('self_attn.c_attn', qkv, d.hidden, d.layers),
    { name: 'self_attn.c_attn.bias', bytes: qkv * f, count: d.layers },
    ...matrix('self_attn.o_proj', d.hidden, d.heads * headDim, d.layers),
    ...matrix('mlp.gate_up_proj', 2 * d.intermediate, d.hidden, d.layers),
    ...matrix('mlp.down_proj', d.hidden, d.intermediate, d.layers),
    {
      name: 'input_layernorm + post_attention_layernorm',
      bytes: d.hidden * f,
      count: 2 * d.layers
    },
    { name: 'norm', bytes: d.hidden * f, count: 1 }
  ];
  return tensors;
}

function weightsBytesOf(d: Qwen2Dims, quantization: Quantization): number {
  return qwen2Tensors(d, quantization).reduce((sum, t) => sum + t.bytes * t.count, 0);
}

/** The largest single weight buffer: for Qwen2.5 the embedding's (and LM head's) `q_weight`. */
function largestTensorBytesOf(d: Qwen2Dims, quantization: Quantization): number {
  return Math.max(...qwen2Tensors(d, quantization).map((t) => t.bytes));
}

/** The most rows the v0_2_48 libraries' batch functions take (their `max_batch_size`). */
const LIBRARY_MAX_BATCH = 80;

/**
 * The largest scratch buffer of the functions (see ModelSpec.largestScratch): a prefill chunk
 * through gate and up in the activations' type (f16 for q4f16_1, f32 for q4f32_1), or f32 logits.
 */
export function largestScratchOf(
  chunk: number,
  widestProjection: number,
  vocab: number,
  quantization: string,
  maxBatch: number
): { single: number; batch: number } {
  const activation = chunk * widestProjection * (/f16/.test(quantization) ? 2 : 4);
  return {
    single: Math.max(activation, vocab * 4),
    batch: Math.max(activation, maxBatch * vocab * 4)
  };
}

/** 2 (K and V) x layers x KV heads x head dim x bytes per element. */
export function kvBytesPerToken(
  model: Pick<ModelSpec, 'layers' | 'kvHeads' | 'headDim' | 'kvBytesPerElement'>
): number {
  return 2 * model.layers * model.kvHeads * model.headDim * model.kvBytesPerElement;
}

/**
 * WebLLM's `vram_required_MB` = parameters + the largest temporary buffer of
 * any function (prefill at the 1024-token chunk, logits) + KV cache at the
 * record's context (4096), in MB of 1024 x 1024 bytes (its
 * utils/vram_requirements tool). So the temporary buffers, our "activations",
 * are what is left once weights and KV at 4096 are taken out.
 *
 * That the figure includes KV at the record's context shows in WebLLM's own
 * records: Llama-3.1-8B q4f16_1 with context 1024 and 4096 (same wasm) differ by
 * 402.66 MB, the KV of 3,072 tokens (384 MB) plus ~5% (the attention's
 * per-token scratch). The plan's safety margin covers that 5%.
 */
function deriveActivationBytes(
  vramRequiredMB: number,
  weightsBytes: number,
  kvBytesAtDefaultContext: number
): number {
  return Math.round(vramRequiredMB * MIB) - weightsBytes - kvBytesAtDefaultContext;
}

interface Entry {
  family: string;
  paramsB: number;
  dims: Qwen2Dims;
  /** WebLLM 0.2.79 prebuiltAppConfig `vram_required_MB`, per variant. */
  vram: Record<Quantization, number>;
}

const CATALOG: Entry[] = [
  {
    family: 'Qwen2.5-7B-Instruct',
    paramsB: 7.62,
    // HF config.json: untied LM head (tie_word_embeddings false), vocab 152064.
    dims: {
      hidden: 3584,
      intermediate: 18944,
      layers: 28,
      heads: 28,
      kvHeads: 4,
      vocab: 152064,
      tiedEmbeddings: false
    },
    vram: { q4f16_1: 5106.67, q4f32_1: 5900.09 }
  },
  {
    family: 'Qwen2.5-3B-Instruct',
    paramsB: 3.09,
    dims: {
      hidden: 2048,
      intermediate: 11008,
      layers: 36,
      heads: 16,
      kvHeads: 2,
      vocab: 151936,
      tiedEmbeddings: true
    },
    vram: { q4f16_1: 2504.76, q4f32_1: 2893.64 }
  },
  {
    family: 'Qwen2.5-1.5B-Instruct',
    paramsB: 1.54,
    dims: {
      hidden: 1536,
      intermediate: 8960,
      layers: 28,
      heads: 12,
      kvHeads: 2,
      vocab: 151936,
      tiedEmbeddings: true
    },
    vram: { q4f16_1: 1629.75, q4f32_1: 1888.97 }
  },
  {
    family: 'Qwen2.5-0.5B-Instruct',
    paramsB: 0.49,
    dims: {
      hidden: 896,
      intermediate: 4864,
      layers: 24,
      heads: 14,
      kvHeads: 2,
      vocab: 151936,
      tiedEmbeddings: true
    },
    vram: { q4f16_1: 944.62, q4f32_1: 1060.2 }
  }
];

/**
 * What several sequences at once need beyond the single path's scratch, where the model
 * library has not been read: its batch functions' scratch over its prefill's, from the
 * largest library (Qwen2-7B-Instruct-q4f32_1, v0_2_48 `memory_usage`): batch_prefill
 * 360,185,856 + batch_decode 72,908,800 - prefill 311,001,088 bytes. The smaller libraries
 * need less (0.5B q4f32_1: 103,140,352).
 */
const BATCH_EXTRA_BYTES = 360_185_856 + 72_908_800 - 311_001_088;

function specOf(entry: Entry, quantization: Quantization): ModelSpec {
  const { dims } = entry;
  const kvBytesPerElement = quantization === 'q4f16_1' ? 2 : 4;
  const headDim = dims.hidden / dims.heads;
  const weightsBytes = weightsBytesOf(dims, quantization);
  const kvPerToken = kvBytesPerToken({
    layers: dims.layers,
    kvHeads: dims.kvHeads,
    headDim,
    kvBytesPerElement
  });
  const vramRequiredMB = entry.vram[quantization];
  const activationBytes = deriveActivationBytes(
    vramRequiredMB,
    weightsBytes,
    kvPerToken * WEBLLM_DEFAULT_CONTEXT
  );
  return {
    id: `${entry.family}-${quantization}-MLC`,
    family: entry.family,
    label: `${entry.family} (4-bit, ${quantization === 'q4f16_1' ? 'f16' : 'f32'})`,
    paramsB: entry.paramsB,
    quantization,
    needsShaderF16: quantization === 'q4f16_1',
    weightsBytes,
    largestTensorBytes: largestTensorBytesOf(dims, quantization),
    largestScratch: largestScratchOf(
      PREFILL_CHUNK,
      2 * dims.intermediate,
      dims.vocab,
      quantization,
      LIBRARY_MAX_BATCH
    ),
    layers: dims.layers,
    kvHeads: dims.kvHeads,
    headDim,
    kvBytesPerElement,
    activationBytes,
    batchScratchBytes: activationBytes + BATCH_EXTRA_BYTES,
    maxContext: QWEN25_MAX_CONTEXT,
    prefillChunk: PREFILL_CHUNK,
    vramRequiredMB
  };
}

export const DEFAULT_FAMILY = 'Qwen2.5-7B-Instruct';

/** Default family first, then smaller families; q4f16_1 before q4f32_1 within each. */
export const MODELS: ModelSpec[] = CATALOG.flatMap((entry) => [
  specOf(entry, 'q4f16_1'),
  specOf(entry, 'q4f32_1')
]);

export function modelById(id: string): ModelSpec | undefined {
  return MODELS.find((model) => model.id === id);
}
