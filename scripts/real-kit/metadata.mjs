// The kit's reader of a model library's embedded metadata (the JSON object starting
// {"model_type"), for plain Node. The app's reader, with the field checks and the error
// the page shows, is src/lib/plan/library-metadata.ts; this one keeps only what the kit
// needs to make weights: the raw object, with its params.

import { objectEnd } from '../../src/lib/plan/json-object.js';

const MARKER = Buffer.from('{"model_type"');

/**
 * @typedef {{ name: string, shape: number[], dtype: string }} LibraryParam
 * @typedef {{ model_type: string, quantization: string, context_window_size: number,
 *   prefill_chunk_size: number, params: LibraryParam[] } & Record<string, unknown>} RawMetadata
 */

/**
 * The first {"model_type"…} object in a model library's bytes that parses.
 * @param {Buffer} bytes
 * @returns {RawMetadata}
 */
export function readLibraryMetadata(bytes) {
  for (let at = bytes.indexOf(MARKER); at >= 0; at = bytes.indexOf(MARKER, at + 1)) {
    const end = objectEnd(bytes, at);
    if (end < 0) continue;
    let meta;
    try {
      meta = JSON.parse(bytes.subarray(at, end).toString('utf8'));
    } catch {
      continue; // bytes that only start like the object
    }
    if (!Array.isArray(meta.params) || meta.params.length === 0) {
      throw new Error('The model library metadata lists no params: no weights can be made for it.');
    }
    return meta;
  }
  throw new Error('No {"model_type"…} metadata in this file: it is not an MLC model library.');
}
