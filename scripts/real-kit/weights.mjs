// Deterministic weights for a model library, from the parameter list its metadata holds,
// written as MLC writes them: shards of raw tensors listed in ndarray-cache.json.
//
// Layout (MLC group quantization q4f16_1 / q4f32_1, mlc_llm/quantization/group_quantization.py):
// a Linear [out, in] is `q_weight` uint32 [out, in/8] (eight 4-bit values a word, low nibble
// first) and `q_scale` [out, in/32] in the model's float type; the kernels dequantize
// w = (nibble - 7) * scale. Biases and RMSNorm weights are plain floats.
//
// The numbers are noise, scaled so a forward pass stays in range and greedy decoding moves on.
// RMSNorm hands every sublayer an input of rms 1, so each matrix's scale is set for the rms its
// output should have (q.k / sqrt(head_dim) then spreads about 1). Two choices keep greedy
// decoding from repeating itself: the embeddings are small next to what the layers add (they
// are tied to the LM head, so large ones make each token predict itself), and attention adds
// less than the MLPs (it averages over the context, which changes little from one token to
// the next). Checked with a CPU reference forward pass over the written shards: with attention
// as large as the MLPs, 30 greedy tokens held runs of 3-5 repeats; as below, 40 of 40 distinct
// on two prompts, logits of rms 9, no NaN.
import { closeSync, openSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { join } from 'node:path';

/** MLC's shard size; a tensor larger than this gets a shard of its own. */
const SHARD_BYTES = 32 * 1024 * 1024;
/** Inputs per scale in q4f*_1. */
const GROUP = 32;
/** Nibble 15 (the lone +8) is folded onto 7, so w / scale takes -7..7, mean 0: sd sqrt(17.5). */
const NIBBLE_SD = Math.sqrt(17.5);
/** The rms each output should have (see above). */
const EMBEDDING_RMS = 0.3;
const ATTENTION_RMS = 0.4;
/** rms of silu(gate) * up for gate and up of rms 1: the input of down_proj. */
const GATED_RMS = 0.6;
const BIAS_RANGE = 0.1;

/**
 * The scale of one Linear's q_scale, for the rms its output should have (a lookup for the
 * embeddings).
 * @param {string} name
 * @param {number} inputs
 */
function scaleFor(name, inputs) {
  if (name.endsWith('embed_tokens.q_scale')) return EMBEDDING_RMS / NIBBLE_SD;
  const inputRms = name.endsWith('down_proj.q_scale') ? GATED_RMS : 1;
  const outputRms = name.endsWith('o_proj.q_scale') ? ATTENTION_RMS : 1;
  return outputRms / (NIBBLE_SD * Math.sqrt(inputs) * inputRms);
}

/** FNV-1a of the name seeds each tensor's xorshift32 stream: the same bytes every run. */
function randomStream(/** @type {string} */ name) {
  let s = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) s = Math.imul(s ^ name.charCodeAt(i), 0x01000193) >>> 0;
  s ||= 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

const f32 = new Float32Array(1);
const f32Bits = new Uint32Array(f32.buffer);
/** float32 -> IEEE half, rounded to nearest (the values here are far from half's limits). */
function toHalf(/** @type {number} */ value) {
  f32[0] = value;
  const u = f32Bits[0] ?? 0;
  const sign = (u >>> 16) & 0x8000;
  const exponent = ((u >>> 23) & 0xff) - 127 + 15;
  if (exponent <= 0) return sign;
  if (exponent >= 31) return sign | 0x7c00;
  return (sign | (exponent << 10) | ((u >>> 13) & 0x3ff)) + ((u >>> 12) & 1);
}

/** @param {number[]} shape */
const elementsOf = (shape) => shape.reduce((a, b) => a * b, 1);
/** @type {Record<string, number>} */
const DTYPE_BYTES = { uint32: 4, float32: 4, float16: 2 };

/**
 * One tensor's bytes.
 * @param {{ name: string, shape: number[], dtype: string }} param
 * @returns {Buffer}
 */
function tensorBytes(param) {
  const { name, shape, dtype } = param;
  const n = elementsOf(shape);
  const size = DTYPE_BYTES[dtype];
  if (!size) throw new Error(`The kit cannot make ${name}: data type ${dtype}.`);
  const bytes = Buffer.alloc(n * size);
  const next = randomStream(name);
  if (dtype === 'uint32') {
    const words = new Uint32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) {
      const w = next();
      // A 1 in the low bit of each nibble that is 1111; clearing that nibble's top bit makes it 0111.
      const fifteen = w & (w >>> 1) & (w >>> 2) & (w >>> 3) & 0x11111111;
      words[i] = w ^ (fifteen << 3);
    }
    return bytes;
  }
  /** @type {(i: number) => number} */
  let value;
  if (name.endsWith('.q_scale')) {
    const scale = scaleFor(name, (shape[shape.length - 1] ?? 0) * GROUP);
    value = () => scale * (0.8 + (0.4 * next()) / 2 ** 32);
  } else if (/norm\.weight$/.test(name)) {
    value = () => 1;
  } else {
    value = () => BIAS_RANGE * ((2 * next()) / 2 ** 32 - 1);
  }
  if (dtype === 'float32') {
    const floats = new Float32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) floats[i] = value(i);
  } else {
    const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) halves[i] = toHalf(value(i));
  }
  return bytes;
}

/**
 * Writes params_shard_<n>.bin into `folder` and returns the manifest (ndarray-cache.json).
 * @param {{ name: string, shape: number[], dtype: string }[]} params
 * @param {string} folder
 */
export function writeWeights(params, folder) {
  if (endianness() !== 'LE')
    throw new Error('The kit writes little-endian tensors from typed arrays.');
  /** @type {{ dataPath: string, format: 'raw-shard', nbytes: number, records: object[] }[]} */
  const shards = [];
  let fd = -1;
  let total = 0;
  try {
    for (const param of params) {
      const bytes = tensorBytes(param);
      let shard = shards[shards.length - 1];
      if (!shard || (shard.nbytes > 0 && shard.nbytes + bytes.length > SHARD_BYTES)) {
        if (fd >= 0) closeSync(fd);
        shard = {
          dataPath: `params_shard_${shards.length}.bin`,
          format: 'raw-shard',
          nbytes: 0,
          records: []
        };
        shards.push(shard);
        fd = openSync(join(folder, shard.dataPath), 'w');
      }
      const { name, shape, dtype } = param;
      shard.records.push({
        name,
        shape,
        dtype,
        format: 'raw',
        nbytes: bytes.length,
        byteOffset: shard.nbytes
      });
      writeSync(fd, bytes);
      shard.nbytes += bytes.length;
      total += bytes.length;
    }
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  const bits =
    (8 * total) /
    params.reduce((sum, p) => sum + elementsOf(p.shape) * (p.dtype === 'uint32' ? 8 : 1), 0);
  return {
    metadata: {
      ParamSize: params.length,
      ParamBytes: total,
      BitsPerParam: Number(bits.toFixed(3))
    },
    records: shards
  };
}
