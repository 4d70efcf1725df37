/**
 * The shape of WebLLM 0.2.79's private runtime as webllm-model.ts reads it: tvmjs's objects, the
 * fields of its `LLMChatPipeline`, and the xgrammar module it bundles. Types only: webllm-model.ts
 * is the one module that reads (and checks) them.
 */
import type { ChatTemplate } from '../chat-template';
import type { GrammarMatcher, Rng, SamplingDefaults } from './model';

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

export type TvmObject = object;
export type PackedFunc = ((...args: unknown[]) => unknown) & { dispose(): void };

export interface Tvm {
  beginScope(): void;
  endScope(): void;
  detachFromCurrentScope<T>(value: T): T;
  empty(shape: number[], dtype: 'int32' | 'float32', device: unknown): TvmArray;
  cpu(): unknown;
  makeShapeTuple(shape: number[]): TvmObject;
  scalar(value: number, dtype: 'int64' | 'int32'): TvmObject;
  /** A function the model library registered (the KV cache's fork, which WebLLM does not bind). */
  getGlobalFunc(name: string): PackedFunc;
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

/** The fields of `LLMChatPipeline` the loop reads. */
export interface ChatPipeline {
  tvm: Tvm;
  vm: { getFunction(name: string): PackedFunc };
  params: TvmObject;
  device: { sync(): Promise<void> };
  embed: PackedFunc;
  prefill: PackedFunc;
  decoding: PackedFunc;
  kvCache: { dispose(): void };
  fKVCacheAddSequence: PackedFunc;
  fKVCacheRemoveSequence: PackedFunc;
  fKVCacheBeginForward: PackedFunc;
  fKVCacheEndForward: PackedFunc;
  prefillChunkSize: number;
  fullVocabSize: number;
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
  config: SamplingDefaults & {
    conv_template?: ChatTemplate;
    conv_config?: Partial<ChatTemplate>;
  };
  /** Made by WebLLM on its first request with a schema; made here and kept on the pipeline. */
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

/** The xgrammar module WebLLM 0.2.79 bundles (its `lib$1.exports`; the patch exports it). */
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
