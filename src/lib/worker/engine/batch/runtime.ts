/**
 * What the batch pipeline uses of WebLLM 0.2.79's loaded model: the `LLMChatPipeline`
 * that `MLCEngine.reload` made (`engine.loadedModelIdToPipeline.get(model)`), its tvmjs
 * instance and virtual machine, and the xgrammar classes the patch in
 * `patches/@mlc-ai+web-llm+0.2.79.patch` exports. These are private in WebLLM's types, so
 * they are typed here with only what is used, and checked once at the start
 * (`pipelineRuntime`): a WebLLM that moved them fails there, in words, not mid-job.
 */

import type { LostInfo } from '../errors';

/** A tvmjs NDArray (lib/index.js `NDArray`). */
export interface TvmArray {
  readonly shape: number[];
  copyFrom(data: ArrayLike<number> | TvmArray): TvmArray;
  toArray(): Float32Array | Int32Array;
  view(shape: number[]): TvmArray;
  dispose(): void;
}

/** What a compiled model function returns: `(logits, kv)`. */
export interface TvmTuple {
  get(index: number): TvmArray;
}

type TvmObject = object;
export type PackedFunc = ((...args: unknown[]) => unknown) & { dispose(): void };

export interface Tvm {
  beginScope(): void;
  endScope(): void;
  detachFromCurrentScope<T>(value: T): T;
  empty(shape: number[], dtype: 'int32' | 'float32', device: unknown): TvmArray;
  cpu(): unknown;
  makeShapeTuple(shape: number[]): TvmObject;
  scalar(value: number, dtype: 'int64' | 'int32'): TvmObject;
  applyRepetitionPenalty(logits: TvmArray, tokens: TvmArray, penalty: number): void;
  applyPresenceAndFrequencyPenalty(
    logits: TvmArray,
    tokens: TvmArray,
    freqs: TvmArray,
    presence: number,
    frequency: number
  ): void;
  ctx: {
    sampleTopPFromLogits(logits: TvmArray, temperature: number, topP: number, u: number): number;
  };
  rng: { constructor: new () => Rng };
}

export interface Rng {
  setSeed(seed: number): void;
  randomFloat(): number;
}

/** The fields of `LLMChatPipeline` the batch reads. */
export interface ChatPipeline {
  tvm: Tvm;
  vm: { getFunction(name: string): PackedFunc };
  params: TvmObject;
  device: { sync(): Promise<void> };
  embed: PackedFunc;
  fKVCacheAddSequence: PackedFunc;
  fKVCacheRemoveSequence: PackedFunc;
  fKVCacheBeginForward: PackedFunc;
  fKVCacheEndForward: PackedFunc;
  prefillChunkSize: number;
  fullVocabSize: number;
  bitmaskSize: number;
  stopTokens: number[];
  stopStr: string[];
  token_postproc_method: string;
  prepend_space_in_encode: boolean;
  tokenizer: {
    encode(text: string): Int32Array;
    decode(ids: Int32Array): string;
    getVocabSize(): number;
    idToToken(id: number): string;
  };
  config: {
    temperature: number;
    top_p: number;
    repetition_penalty: number;
    frequency_penalty?: number;
    presence_penalty?: number;
  };
  /** Made by WebLLM on its first request with a schema; the batch makes and shares them otherwise. */
  xgTokenizerInfo?: TvmObject;
  grammarCompiler?: GrammarCompiler;
}

export interface Grammar {
  dispose(): void;
}
interface GrammarCompiler {
  compileJSONSchema(schema: string): Promise<Grammar>;
  dispose(): void;
}
export interface GrammarMatcher {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(token: number): boolean;
  dispose(): void;
}

/** The xgrammar module WebLLM 0.2.79 bundles (its `lib$1.exports`). */
export interface Xgrammar {
  TokenizerInfo: {
    createTokenizerInfo(
      table: string[],
      postproc: string,
      prependSpace: boolean,
      vocabSize: number,
      stopTokens: number[]
    ): Promise<TvmObject>;
  };
  GrammarCompiler: { createGrammarCompiler(info: TvmObject): Promise<GrammarCompiler> };
  GrammarMatcher: { createGrammarMatcher(grammar: Grammar): Promise<GrammarMatcher> };
}

/** The per-model lock chat completions hold (`engine.loadedModelIdToLock`). */
interface ModelLock {
  acquire(): Promise<void>;
  release(): Promise<void> | void;
}

export interface PipelineRuntime {
  pipeline: ChatPipeline;
  lock: ModelLock;
  /** Settles when the model's GPU device is lost (`GPUDevice.lost`). */
  lost: Promise<LostInfo>;
}

const NEEDED: (keyof ChatPipeline)[] = [
  'tvm',
  'vm',
  'params',
  'embed',
  'fKVCacheAddSequence',
  'fKVCacheRemoveSequence',
  'fKVCacheBeginForward',
  'fKVCacheEndForward',
  'tokenizer',
  'stopTokens'
];

/** The loaded model's runtime inside WebLLM's engine, or an error that names what is missing. */
export function pipelineRuntime(engine: unknown, model: string): PipelineRuntime {
  const { loadedModelIdToPipeline: pipelines, loadedModelIdToLock: locks } = engine as {
    loadedModelIdToPipeline?: unknown;
    loadedModelIdToLock?: unknown;
  };
  if (!(pipelines instanceof Map) || !(locks instanceof Map))
    throw new Error('This WebLLM keeps no loaded pipelines where the batch looks for them.');
  const pipeline = pipelines.get(model) as Partial<ChatPipeline> | undefined;
  const lock = locks.get(model) as ModelLock | undefined;
  if (!pipeline || !lock) throw new Error(`WebLLM has not loaded ${model}.`);
  const missing = NEEDED.filter((key) => pipeline[key] === undefined);
  if (missing.length)
    throw new Error(`WebLLM's pipeline for ${model} lacks ${missing.join(', ')}.`);
  // The device tvmjs runs on (`Instance.initWebGPU` keeps it in `lib.webGPUContext`).
  const device = (pipeline.tvm as { lib?: { webGPUContext?: { device?: GPUDevice } } }).lib
    ?.webGPUContext?.device;
  if (!device?.lost) throw new Error(`WebLLM's runtime for ${model} keeps no WebGPU device.`);
  const lost = device.lost.then(({ reason, message }) => ({ reason, message }));
  return { pipeline: pipeline as ChatPipeline, lock, lost };
}
