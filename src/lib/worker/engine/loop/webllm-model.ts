/**
 * The step loop's model on WebLLM 0.2.79's own runtime: the `LLMChatPipeline` that
 * `MLCEngine.reload` made (its tvmjs instance, virtual machine, weights, tokenizer, chat
 * template and kernels), with a paged KV cache of the loop's own that holds one sequence a
 * slot. This is the one module that reads WebLLM's private runtime (and, for xgrammar, writes
 * into it); `webllmModel` checks the shape it reads once, at load, with one clear error.
 *
 * - One sequence at a time (`slots` 1) runs the functions WebLLM runs for it, `prefill`
 *   (`decode` for a one-token chunk, as WebLLM does) and `decode`, so its speed and tokens
 *   are WebLLM's. Several run `batch_prefill` and `batch_decode`, whose logits for a row do
 *   not depend on the batch up to 8 rows (plan/sequences.ts says why).
 * - WebLLM's own KV cache (a window for its chat) is freed at once: the memory on the device
 *   is the plan's, one cache of `slots` windows and a spare page (plan/kv-cache.ts).
 * - Logits are read back into an array filled with NaN first: a read-back that never lands
 *   (a lost device's: tvmjs's `mapAsync` fails unheard and `device.sync()` resolves all the
 *   same) is seen, and never sampled.
 */
import { KV_PAGE_TOKENS, kvCapacity } from '$lib/plan/kv-cache';
import { promptTokenIds, type ChatTemplate } from '../chat-template';
import type { LostInfo } from '../errors';
import type { GenerateRequest } from '$lib/shared/request';
import type { Grammars, RowInput, Sampler, StepModel } from './model';
import { penaltyOf } from './sampling';
import type {
  ChatPipeline,
  Grammar,
  PackedFunc,
  Tvm,
  TvmArray,
  TvmObject,
  TvmTuple,
  Xgrammar
} from './webllm-runtime';

export type { Xgrammar } from './webllm-runtime';

const NEEDED: (keyof ChatPipeline)[] = [
  'tvm',
  'vm',
  'params',
  'device',
  'embed',
  'prefill',
  'decoding',
  'kvCache',
  'fKVCacheAddSequence',
  'fKVCacheRemoveSequence',
  'fKVCacheBeginForward',
  'fKVCacheEndForward',
  'tokenizer',
  'stopTokens',
  'config'
];

/** A loaded model's pipeline inside WebLLM's engine, or an error naming what is not where 0.2.79 keeps it. */
function loadedPipeline(
  engine: unknown,
  model: string
): { pipeline: ChatPipeline; template: ChatTemplate; lost: Promise<LostInfo> } {
  const shape = (what: string) =>
    new Error(
      `WebLLM's runtime is not shaped as LocalBatch reads it (WebLLM 0.2.79): ${what}. The installed WebLLM is not the pinned one.`
    );
  const pipelines = (engine as { loadedModelIdToPipeline?: unknown }).loadedModelIdToPipeline;
  if (!(pipelines instanceof Map)) throw shape('no loaded pipelines');
  const pipeline = pipelines.get(model) as Partial<ChatPipeline> | undefined;
  if (!pipeline) throw shape(`no pipeline for ${model}`);
  const missing = NEEDED.filter((key) => pipeline[key] === undefined);
  if (missing.length) throw shape(`its pipeline lacks ${missing.join(', ')}`);
  const config = pipeline.config as ChatPipeline['config'];
  const base = config.conv_template;
  if (!base || !Array.isArray(base.seps)) throw shape('its pipeline keeps no chat template');
  // The device tvmjs runs on (`Instance.initWebGPU` keeps it in `lib.webGPUContext`).
  const device = (pipeline.tvm as { lib?: { webGPUContext?: { device?: GPUDevice } } }).lib
    ?.webGPUContext?.device;
  if (!device?.lost) throw shape('its runtime keeps no WebGPU device');
  const lost = device.lost.then(({ reason, message }) => ({ reason, message }));
  return {
    pipeline: pipeline as ChatPipeline,
    template: { ...base, ...config.conv_config },
    lost
  };
}

/**
 * The xgrammar matchers of the loop's sequences. The token table and the compiler are made
 * as WebLLM makes them for its first request with a schema, and kept on its pipeline (which
 * disposes them). The last schema's compiled grammar is kept, as WebLLM keeps its last: a
 * job's items share one schema, compiled once.
 */
function webllmGrammars(p: ChatPipeline, xg: Xgrammar): Grammars {
  let last: { schema: string; grammar: Grammar } | null = null;
  return {
    async matcher(schema) {
      if (p.xgTokenizerInfo === undefined || p.grammarCompiler === undefined) {
        const table: string[] = [];
        const size = p.tokenizer.getVocabSize();
        for (let id = 0; id < size; id++) table.push(p.tokenizer.idToToken(id));
        p.xgTokenizerInfo = await xg.TokenizerInfo.createTokenizerInfo(
          table,
          p.token_postproc_method,
          p.prepend_space_in_encode,
          p.fullVocabSize,
          p.stopTokens
        );
        p.grammarCompiler = await xg.GrammarCompiler.createGrammarCompiler(p.xgTokenizerInfo);
      }
      if (last?.schema !== schema) {
        const grammar = await p.grammarCompiler.compileJSONSchema(schema);
        last?.grammar.dispose();
        last = { schema, grammar };
      }
      return xg.GrammarMatcher.createGrammarMatcher(last.grammar);
    },
    dispose() {
      last?.grammar.dispose();
      last = null;
    }
  };
}

/** Penalties and top-p with tvmjs's own functions, on a [1, 1, vocabulary] CPU array. */
function webllmSampler(tvm: Tvm, vocab: number): Sampler & { dispose(): void } {
  let row: TvmArray | null = null;
  return {
    newRng: () => new tvm.rng.constructor(),
    sample(logits: Float32Array, input: RowInput): number {
      if (!row) {
        tvm.beginScope();
        try {
          row = tvm.detachFromCurrentScope(tvm.empty([1, 1, vocab], 'float32', tvm.cpu()));
        } finally {
          tvm.endScope();
        }
      }
      row.copyFrom(logits);
      const penalty = penaltyOf(input.defaults);
      if (penalty) {
        tvm.beginScope();
        try {
          const tokens = [...input.appeared.keys()];
          const ids = tvm.empty([1, tokens.length], 'int32', tvm.cpu()).copyFrom(tokens);
          if (penalty.kind === 'presence-frequency') {
            const freqs = tvm
              .empty([1, tokens.length], 'int32', tvm.cpu())
              .copyFrom([...input.appeared.values()]);
            tvm.applyPresenceAndFrequencyPenalty(
              row,
              ids,
              freqs,
              penalty.presence,
              penalty.frequency
            );
          } else {
            tvm.applyRepetitionPenalty(row, ids, penalty.value);
          }
        } finally {
          tvm.endScope();
        }
      }
      return tvm.ctx.sampleTopPFromLogits(
        row,
        input.temperature,
        input.topP,
        input.rng.randomFloat()
      );
    },
    dispose() {
      row?.dispose();
      row = null;
    }
  };
}

export interface WebLLMModelOptions {
  /** Sequences at once: the KV cache's slots. */
  sequences: number;
  /** The most tokens one sequence holds (the plan's window). */
  window: number;
  xgrammar: Xgrammar;
}

/**
 * The library's KV trim (TVM's paged cache: drop a sequence's last n tokens), or null. WebLLM
 * 0.2.79 does not bind it; the library holds it.
 */
function kvPopN(tvm: Tvm): PackedFunc | null {
  try {
    return tvm.detachFromCurrentScope(tvm.getGlobalFunc('vm.builtin.kv_state_popn'));
  } catch {
    // A library without it: every prompt is read whole.
    return null;
  }
}

/** The step loop's model on the pipeline WebLLM loaded for `model`. */
export function webllmModel(
  engine: unknown,
  model: string,
  options: WebLLMModelOptions
): StepModel {
  const { pipeline: p, template, lost } = loadedPipeline(engine, model);
  const { tvm } = p;
  const { sequences, window } = options;
  if (!Number.isInteger(sequences) || sequences < 1)
    throw new RangeError('Sequences at once must be a whole number from 1.');
  const vocab = p.fullVocabSize;
  let isLost = false;
  // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
  void lost.then(() => (isLost = true));

  // WebLLM's cache goes before the loop's is made: the device never holds both.
  p.kvCache.dispose();
  const shape = (n: number) => tvm.makeShapeTuple([n]);
  const single = sequences === 1;
  // Every slot can hold a whole window (a kept prefix is within it): pages never run out while
  // a slot is free.
  const capacity = kvCapacity(window, sequences);
  let batchPrefill: PackedFunc | null = null;
  let batchDecode: PackedFunc | null = null;
  let popN: PackedFunc | null = null;
  let kv: TvmObject & { dispose?: () => void };
  tvm.beginScope();
  try {
    popN = kvPopN(tvm);
    if (!single) {
      batchPrefill = tvm.detachFromCurrentScope(p.vm.getFunction('batch_prefill'));
      batchDecode = tvm.detachFromCurrentScope(p.vm.getFunction('batch_decode'));
    }
    kv = tvm.detachFromCurrentScope(
      p.vm.getFunction('create_tir_paged_kv_cache')(
        shape(sequences),
        shape(capacity),
        shape(p.prefillChunkSize),
        shape(KV_PAGE_TOKENS),
        shape(0)
      ) as TvmObject
    );
  } finally {
    tvm.endScope();
  }

  let cpuLogits: TvmArray | null = null;
  let unread: Float32Array | null = null;
  /** `gpu`'s [rows, 1, vocabulary] logits on the CPU; a read-back that never lands throws. */
  async function readBack(gpu: TvmArray, rows: number): Promise<Float32Array> {
    if (cpuLogits?.shape[0] !== rows) {
      cpuLogits?.dispose();
      cpuLogits = tvm.detachFromCurrentScope(tvm.empty([rows, 1, vocab], 'float32', tvm.cpu()));
    }
    const size = rows * vocab;
    if (unread?.length !== size) unread = new Float32Array(size).fill(NaN);
    cpuLogits.copyFrom(unread);
    cpuLogits.copyFrom(gpu);
    await p.device.sync();
    const all = cpuLogits.toArray() as Float32Array;
    if (isLost || Number.isNaN(all[size - 1]))
      throw new Error('The logits never came back from the GPU.');
    return Float32Array.from(all);
  }

  const embedded = (ids: readonly number[]): TvmArray => {
    const input = tvm.empty([ids.length], 'int32', p.device).copyFrom(ids);
    return p.embed(input, p.params) as TvmArray;
  };

  const sampler = webllmSampler(tvm, vocab);
  const grammars = webllmGrammars(p, options.xgrammar);
  return {
    name: model,
    slots: sequences,
    prefillChunk: p.prefillChunkSize,
    vocabSize: vocab,
    stopTokens: p.stopTokens,
    stopStrings: p.stopStr ?? [],
    defaults: p.config,
    lost,
    sampler,
    grammars,
    promptIds: (request: GenerateRequest) =>
      promptTokenIds((text) => p.tokenizer.encode(text), template, request.messages),
    detokenize: (ids) => p.tokenizer.decode(ids),
    addSequence: (slot) => p.fKVCacheAddSequence(kv, tvm.scalar(slot, 'int64')),
    removeSequence: (slot) => p.fKVCacheRemoveSequence(kv, tvm.scalar(slot, 'int64')),
    // A slot keeps its KV sequence, trimmed back to the prefix: the next prompt reads the rest.
    ...(popN
      ? {
          sharing: {
            trim: (slot: number, count: number) =>
              (popN as PackedFunc)(kv, tvm.scalar(slot, 'int64'), tvm.scalar(count, 'int32')),
            reuse: () => undefined
          }
        }
      : {}),
    async prefill(slot, ids, logits) {
      const n = ids.length;
      tvm.beginScope();
      try {
        const input = embedded(ids);
        p.fKVCacheBeginForward(kv, tvm.makeShapeTuple([slot]), tvm.makeShapeTuple([n]));
        let out: TvmTuple;
        if (single) {
          // WebLLM runs a one-token chunk through `decode`.
          const fn = n > 1 ? p.prefill : p.decoding;
          out = fn(input.view([1, ...input.shape]), kv, p.params) as TvmTuple;
        } else {
          const position = tvm.empty([1], 'int32', p.device).copyFrom([n - 1]);
          out = (batchPrefill as PackedFunc)(
            input.view([1, ...input.shape]),
            position,
            kv,
            p.params
          ) as TvmTuple;
        }
        p.fKVCacheEndForward(kv);
        return logits ? await readBack(out.get(0), 1) : null;
      } finally {
        tvm.endScope();
      }
    },
    async decode(rows) {
      const b = rows.length;
      tvm.beginScope();
      try {
        const input = embedded(rows.map((row) => row.token));
        p.fKVCacheBeginForward(
          kv,
          tvm.makeShapeTuple(rows.map((row) => row.slot)),
          tvm.makeShapeTuple(rows.map(() => 1))
        );
        const hidden = input.shape[1] ?? 0;
        const out = (
          single
            ? p.decoding(input.view([1, 1, hidden]), kv, p.params)
            : (batchDecode as PackedFunc)(input.view([b, 1, hidden]), kv, p.params)
        ) as TvmTuple;
        p.fKVCacheEndForward(kv);
        return await readBack(out.get(0), b);
      } finally {
        tvm.endScope();
      }
    },
    dispose() {
      for (const one of [cpuLogits, sampler, grammars, batchPrefill, batchDecode, popN, kv]) {
        try {
          one?.dispose?.();
        } catch {
          // A lost device's arrays are gone already.
        }
      }
      cpuLogits = null;
    }
  };
}
