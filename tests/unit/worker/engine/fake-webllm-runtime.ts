/**
 * A stand-in for the engine WebLLM 0.2.79 loads (loop/webllm-model.ts reads its pipeline)
 * with a toy model: each sequence's next token is a function of the tokens its own KV slot
 * holds. It records every forward call (which function, which slots, how many tokens), the
 * KV caches made and freed, so tests can see what the model ran.
 */
import type { ChatPipeline, Tvm, TvmArray, Xgrammar } from '$lib/worker/engine/loop/webllm-runtime';
import type { LostInfo } from '$lib/worker/engine/errors';

const VOCAB = 20;
const STOP = 19;

class FakeArray implements TvmArray {
  constructor(
    public shape: number[],
    public data: number[],
    /** A CPU array's copies from the GPU land here at the next sync, as tvmjs's do. */
    private readonly landing?: (() => void)[]
  ) {}
  copyFrom(source: ArrayLike<number> | TvmArray): TvmArray {
    if (source instanceof FakeArray && this.landing) {
      const data = [...source.data];
      this.landing.push(() => (this.data = data));
    } else {
      this.data =
        source instanceof FakeArray ? [...source.data] : Array.from(source as ArrayLike<number>);
    }
    return this;
  }
  toArray(): Float32Array {
    return new Float32Array(this.data);
  }
  view(shape: number[]): TvmArray {
    return new FakeArray(shape, this.data);
  }
  dispose(): void {}
}

/** The toy model: the next token after the tokens a slot holds. */
function nextToken(tokens: readonly number[]): number {
  return (tokens.length * 7 + (tokens[0] ?? 0) * 3) % VOCAB;
}

function oneHot(token: number): number[] {
  return Array.from({ length: VOCAB }, (_, t) => (t === token ? 1 : 0));
}

interface Kv {
  slots: Map<number, number[]>;
  pending: { slots: number[]; lengths: number[] } | null;
  /** What it was made with: max sequences, capacity, prefill chunk, page. */
  made: number[];
  disposed: boolean;
  dispose(): void;
}

type Fn = 'prefill' | 'decoding' | 'batch_prefill' | 'batch_decode';

export interface FakeRuntime {
  /** The engine object, as MLCEngine keeps its pipeline for the model 'm'. */
  engine: { loadedModelIdToPipeline: Map<string, unknown> };
  pipeline: ChatPipeline;
  /** WebLLM's own cache, made at reload. */
  webllmKv: Kv;
  /** The caches made after reload. */
  caches: Kv[];
  calls: { fn: Fn; slots: number[]; lengths: number[] }[];
  removed: number[];
  /** The library has the KV trim (`vm.builtin.kv_state_popn`). */
  hasPopN: boolean;
  /** Each trim: the slot and the tokens dropped. */
  popped: { slot: number; count: number }[];
  /** Makes the next forward call throw this. */
  failNext: unknown;
  /** Loses the device: `lost` settles with this. */
  loseDevice(info: LostInfo): void;
  /**
   * Loses the device while the next sync waits: its copies never land and it resolves all
   * the same, as Chrome's does; `lostAfterMs` delays `lost` past the sync.
   */
  loseDuringSync: (LostInfo & { lostAfterMs?: number }) | null;
}

class Rng {
  seed = 1;
  /** As WebLLM's LinearCongruentialGenerator: a negative seed leaves a state it refuses. */
  setSeed(seed: number) {
    if (seed < 0) throw new Error('Random state is unexpectedly not strictly positive.');
    this.seed = seed;
  }
  randomFloat() {
    return 0.5;
  }
}

export function fakeRuntime(prefillChunk = 4): FakeRuntime {
  const calls: FakeRuntime['calls'] = [];
  const removed: number[] = [];
  const landing: (() => void)[] = [];
  const forward = (kind: Fn, kv: Kv, tokens: number[], runtime: FakeRuntime) => {
    const pending = kv.pending;
    if (!pending) throw new Error('begin_forward was not called');
    if (runtime.failNext !== null) {
      const error = runtime.failNext;
      runtime.failNext = null;
      throw error;
    }
    calls.push({ fn: kind, ...pending });
    let at = 0;
    const rows = pending.slots.map((slot, i) => {
      const held = kv.slots.get(slot);
      if (!held) throw new Error(`slot ${slot} has no sequence`);
      const length = pending.lengths[i] ?? 0;
      held.push(...tokens.slice(at, at + length));
      at += length;
      return oneHot(nextToken(held));
    });
    // batch_prefill returns the logits of each sequence's last token: one row for one sequence.
    return { get: () => new FakeArray([rows.length, 1, VOCAB], rows.flat()) };
  };
  const fn = <T extends unknown[]>(body: (...args: T) => unknown) =>
    Object.assign((...args: unknown[]) => body(...(args as T)), { dispose() {} });
  const tvm = {
    beginScope() {},
    endScope() {},
    detachFromCurrentScope: <T>(value: T) => value,
    empty: (shape: number[], _dtype: string, device: unknown) =>
      new FakeArray(
        shape,
        Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0),
        device === 'cpu' ? landing : undefined
      ),
    cpu: () => 'cpu',
    makeShapeTuple: (shape: number[]) => shape,
    scalar: (value: number) => value,
    // The library's functions WebLLM does not bind: the KV cache's trim (a sequence's last n
    // tokens dropped), where the test library has it.
    getGlobalFunc: (name: string) => {
      if (name !== 'vm.builtin.kv_state_popn' || !runtime.hasPopN)
        throw new Error(`Cannot find global function ${name}`);
      return fn((kv: Kv, slot: number, count: number) => {
        const held = kv.slots.get(slot);
        if (!held || count > held.length) throw new Error(`slot ${slot} cannot drop ${count}`);
        held.splice(held.length - count);
        runtime.popped.push({ slot, count });
      });
    },
    applyRepetitionPenalty() {},
    applyPresenceAndFrequencyPenalty() {},
    ctx: {
      sampleTopPFromLogits: (row: TvmArray) => {
        const values = Array.from(row.toArray());
        return values.indexOf(Math.max(...values));
      }
    },
    rng: new Rng()
  } as unknown as Tvm;
  let loseDevice: (info: LostInfo) => void = () => undefined;
  const lost = new Promise<LostInfo>((resolve) => (loseDevice = resolve));
  const makeKv = (made: number[]): Kv => ({
    slots: new Map(),
    pending: null,
    made,
    disposed: false,
    dispose() {
      this.disposed = true;
    }
  });
  const webllmKv = makeKv([1, 16, prefillChunk, 16]);
  webllmKv.slots.set(0, []);
  const runtime: FakeRuntime = {
    engine: { loadedModelIdToPipeline: new Map() },
    pipeline: {} as ChatPipeline,
    webllmKv,
    caches: [],
    calls,
    removed,
    hasPopN: true,
    popped: [],
    failNext: null,
    loseDuringSync: null,
    loseDevice: (info) => loseDevice(info)
  };
  const pipeline = {
    tvm: Object.assign(tvm, {
      lib: {
        webGPUContext: {
          device: { lost: lost.then((info) => ({ ...info, reason: info.reason })) }
        }
      }
    }),
    vm: {
      getFunction: (name: string) => {
        if (name === 'create_tir_paged_kv_cache')
          return fn((...shapes: number[][]) => {
            const kv = makeKv(shapes.slice(0, 4).map((shape) => shape[0] ?? 0));
            runtime.caches.push(kv);
            return kv;
          });
        if (name === 'batch_prefill')
          return fn((emb: FakeArray, _pos: unknown, kv: Kv) =>
            forward('batch_prefill', kv, emb.data, runtime)
          );
        if (name === 'batch_decode')
          return fn((emb: FakeArray, kv: Kv) => forward('batch_decode', kv, emb.data, runtime));
        throw new Error(`no function ${name}`);
      }
    },
    params: {},
    device: {
      sync: async () => {
        const lose = runtime.loseDuringSync;
        runtime.loseDuringSync = null;
        const copies = landing.splice(0);
        if (!lose) return copies.forEach((land) => land());
        const { lostAfterMs = 0, ...info } = lose;
        if (lostAfterMs === 0) {
          runtime.loseDevice(info);
          await lost;
        } else {
          setTimeout(() => runtime.loseDevice(info), lostAfterMs);
        }
      }
    },
    // Hidden size 1: a token's embedding is the token.
    embed: fn((input: FakeArray) => new FakeArray([input.data.length, 1], [...input.data])),
    prefill: fn((emb: FakeArray, kv: Kv) => forward('prefill', kv, emb.data, runtime)),
    decoding: fn((emb: FakeArray, kv: Kv) => forward('decoding', kv, emb.data, runtime)),
    kvCache: webllmKv,
    fKVCacheAddSequence: fn((kv: Kv, slot: number) => {
      if (kv.slots.has(slot)) throw new Error(`slot ${slot} is taken`);
      kv.slots.set(slot, []);
    }),
    fKVCacheRemoveSequence: fn((kv: Kv, slot: number) => {
      kv.slots.delete(slot);
      removed.push(slot);
    }),
    fKVCacheBeginForward: fn((kv: Kv, slots: number[], lengths: number[]) => {
      kv.pending = { slots, lengths };
    }),
    fKVCacheEndForward: fn((kv: Kv) => {
      kv.pending = null;
    }),
    prefillChunkSize: prefillChunk,
    fullVocabSize: VOCAB,
    stopTokens: [STOP],
    stopStr: [],
    token_postproc_method: 'byte_level',
    prepend_space_in_encode: false,
    tokenizer: {
      // One token a character: 'a' is 0.
      encode: (text: string) => Int32Array.from(text, (c) => c.charCodeAt(0) - 97),
      decode: (ids: Int32Array) => Array.from(ids, (id) => String.fromCharCode(97 + id)).join(''),
      getVocabSize: () => VOCAB,
      idToToken: (id: number) => String(id)
    },
    config: {
      temperature: 0,
      top_p: 1,
      repetition_penalty: 1,
      conv_template: {
        system_template: '{system_message}',
        system_message: '',
        roles: { user: '', assistant: '' },
        seps: [''],
        role_content_sep: '',
        role_empty_sep: ''
      }
    }
  };
  runtime.pipeline = pipeline as unknown as ChatPipeline;
  runtime.engine.loadedModelIdToPipeline.set('m', pipeline);
  return runtime;
}

/**
 * xgrammar stand-in: a schema "bad" does not compile, a schema "refuse" rejects every token;
 * others allow every token.
 */
export const fakeXgrammar: Xgrammar = {
  TokenizerInfo: { createTokenizerInfo: () => Promise.resolve({}) },
  GrammarCompiler: {
    createGrammarCompiler: () =>
      Promise.resolve({
        compileJSONSchema: (schema: string) =>
          schema === 'bad'
            ? Promise.reject(new Error('Invalid JSON schema'))
            : Promise.resolve({ refuse: schema === 'refuse', dispose() {} }),
        dispose() {}
      })
  },
  GrammarMatcher: {
    createGrammarMatcher: (grammar) =>
      Promise.resolve({
        getNextTokenBitmask: () => Promise.resolve(new Int32Array([-1])),
        acceptToken: () => (grammar as { refuse?: boolean }).refuse !== true,
        dispose() {}
      })
  }
};

/** The answer the toy model gives a prompt alone, greedy, as text. */
export function aloneAnswer(prompt: number[], maxTokens: number): string {
  const held = [...prompt];
  let text = '';
  for (let i = 0; i < maxTokens; i++) {
    const token = nextToken(held);
    if (token === STOP) break;
    text += String.fromCharCode(97 + token);
    held.push(token);
  }
  return text;
}
