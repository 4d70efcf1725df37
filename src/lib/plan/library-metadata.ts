/**
 * The metadata an MLC model library (the `.wasm` WebLLM runs) carries about
 * itself: the JSON object its `_metadata` function returns at run time, stored
 * as text in the library's data segment and starting with `{"model_type"`. It
 * holds the runtime's own figures (KV-cache shape, the temporary memory of each
 * function, every parameter's name, shape and dtype), so a plan can size a
 * model from its ~4 MB library before the weights are downloaded.
 *
 * Pure: the page and the worker both use it. scripts/real-kit/metadata.mjs is
 * the test kit's reader of the same object for plain Node; both find its end with
 * json-object.js.
 */

import { objectEnd } from './json-object.js';

interface LibraryParam {
  name: string;
  shape: number[];
  dtype: string;
}

export interface LibraryMetadata {
  modelType: string;
  quantization: string;
  contextWindowSize: number;
  prefillChunkSize: number;
  maxBatchSize: number;
  /** -1: no sliding window. */
  slidingWindowSize: number;
  kvCache: {
    numHiddenLayers: number;
    numAttentionHeads: number;
    numKeyValueHeads: number;
    headDim: number;
  };
  /** Temporary memory of each function of the library, in bytes. */
  memoryUsage: Record<string, number>;
  params: LibraryParam[];
  /** The weights' size: what the library loads, summed from `params`. */
  paramBytes: number;
}

export class LibraryMetadataError extends Error {
  override name = 'LibraryMetadataError';
}

const MARKER = new TextEncoder().encode('{"model_type"');
const OPEN = 0x7b;

function startsWithMarker(bytes: Uint8Array, at: number): boolean {
  for (let i = 1; i < MARKER.length; i++) if (bytes[at + i] !== MARKER[i]) return false;
  return true;
}

/** The first `{"model_type"…}` object in the bytes that parses as JSON. */
function findObject(bytes: Uint8Array): Record<string, unknown> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let seen = 0;
  for (let at = bytes.indexOf(OPEN); at >= 0; at = bytes.indexOf(OPEN, at + 1)) {
    if (!startsWithMarker(bytes, at)) continue;
    seen++;
    const end = objectEnd(bytes, at);
    if (end < 0) continue;
    try {
      const value: unknown = JSON.parse(decoder.decode(bytes.subarray(at, end)));
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        return value as Record<string, unknown>;
      }
    } catch {
      // Bytes that happen to start like the object: keep looking.
    }
  }
  throw new LibraryMetadataError(
    seen === 0
      ? 'This file holds no model metadata ({"model_type": …}): it is not an MLC model library.'
      : `This model library's metadata is not readable JSON (${seen} candidate${seen === 1 ? '' : 's'} found).`
  );
}

type Check<T> = (value: unknown) => value is T;
const isNumber: Check<number> = (v): v is number => typeof v === 'number' && Number.isFinite(v);
const isString: Check<string> = (v): v is string => typeof v === 'string';
const isRecord: Check<Record<string, unknown>> = (v): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads a field by its dotted path, noting its name when it is missing or of the wrong type. */
function fieldReader(root: Record<string, unknown>, missing: string[]) {
  return <T>(path: string, check: Check<T>, fallback: T): T => {
    const value = path
      .split('.')
      .reduce<unknown>((parent, key) => (isRecord(parent) ? parent[key] : undefined), root);
    if (check(value)) return value;
    missing.push(path);
    return fallback;
  };
}

function readParam(value: unknown, index: number, missing: string[]): LibraryParam {
  const { name, shape, dtype } = isRecord(value) ? value : {};
  const isDim = (d: unknown) => typeof d === 'number' && Number.isInteger(d) && d >= 0;
  if (!isString(name)) missing.push(`params[${index}].name`);
  if (!Array.isArray(shape) || !shape.every(isDim)) missing.push(`params[${index}].shape`);
  if (!isString(dtype)) missing.push(`params[${index}].dtype`);
  return {
    name: String(name),
    shape: Array.isArray(shape) ? (shape as number[]) : [],
    dtype: String(dtype)
  };
}

function readMemoryUsage(raw: Record<string, unknown>, missing: string[]): Record<string, number> {
  const usage: Record<string, number> = {};
  for (const [fn, value] of Object.entries(raw)) {
    if (isNumber(value)) usage[fn] = value;
    else missing.push(`memory_usage.${fn}`);
  }
  return usage;
}

/** Bytes of one element: float32 4, bfloat16 2, uint8 1, e4m3_float8 1… */
function bytesOf(param: LibraryParam): number {
  const bits = Number(/(?:int|float)(8|16|32|64)$/.exec(param.dtype)?.[1]);
  const size = bits / 8;
  if (!size) {
    throw new LibraryMetadataError(
      `The model library's parameter ${param.name} has a data type this app does not know: ${param.dtype}.`
    );
  }
  return param.shape.reduce((product, dim) => product * dim, size);
}

/** Finds and reads the metadata embedded in a model library's bytes. */
export function readLibraryMetadata(bytes: Uint8Array): LibraryMetadata {
  const missing: string[] = [];
  const field = fieldReader(findObject(bytes), missing);
  const [number, string] = [
    (path: string) => field(path, isNumber, NaN),
    (path: string) => field(path, isString, '')
  ];
  const meta: LibraryMetadata = {
    modelType: string('model_type'),
    quantization: string('quantization'),
    contextWindowSize: number('context_window_size'),
    prefillChunkSize: number('prefill_chunk_size'),
    maxBatchSize: number('max_batch_size'),
    slidingWindowSize: number('sliding_window_size'),
    kvCache: {
      numHiddenLayers: number('kv_cache.num_hidden_layers'),
      numAttentionHeads: number('kv_cache.num_attention_heads'),
      numKeyValueHeads: number('kv_cache.num_key_value_heads'),
      headDim: number('kv_cache.head_dim')
    },
    memoryUsage: readMemoryUsage(field('memory_usage', isRecord, {}), missing),
    params: field('params', Array.isArray, []).map((param, i) => readParam(param, i, missing)),
    paramBytes: 0
  };
  if (missing.length > 0) {
    throw new LibraryMetadataError(
      `The model library's metadata lacks ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}.`
    );
  }
  meta.paramBytes = meta.params.reduce((sum, param) => sum + bytesOf(param), 0);
  return meta;
}
