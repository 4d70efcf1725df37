/**
 * Several sequences through one forward pass, on WebLLM 0.2.79's own runtime: the loaded
 * model's virtual machine, weights, tokenizer and kernels (batch/runtime.ts), with a paged
 * KV cache of our own that holds a sequence per slot. WebLLM's own pipeline and its cache
 * are left as they are, so the single-sequence path does not change.
 *
 * Each step (continuous batching, as mlc-llm's serve engine does it): free the slots of
 * cancelled sequences, admit waiting requests to free slots, prefill one chunk of the
 * oldest sequence still reading its prompt (one sequence per `batch_prefill`, chunks of the
 * library's prefill chunk size from the prompt's start, so a prompt's chunks never depend
 * on what else runs), then one `batch_decode` for every sequence that has a token to feed
 * back, then sample each row with its own settings, grammar and random stream. A sequence
 * that stops frees its slot (and its KV pages) at once for the next request.
 *
 * Every kernel is the same per row for 1 to 8 sequences (the library compiles its batch
 * matrix-vector products for 2, 4 and more than 8 rows; docs/ARCHITECTURE.md), so the
 * logits of a row, and greedy answers, do not depend on what else is in the batch.
 */
import { deviceLostError, type LostInfo } from '../errors';
import { Grammars } from './grammar';
import { sampleRow, type SamplingSettings } from './sampling';
import { SequenceState, type SequenceFinish } from './sequence';
import type {
  ChatPipeline,
  GrammarMatcher,
  PackedFunc,
  PipelineRuntime,
  Rng,
  TvmArray,
  TvmTuple,
  Xgrammar
} from './runtime';

export interface BatchRequest extends SamplingSettings {
  promptIds: number[];
  maxTokens: number;
  seed: number;
  /** A JSON schema as a string: xgrammar holds the answer to it. */
  schema?: string;
  onText(delta: string): void;
}

export interface BatchAnswer {
  finishReason: SequenceFinish;
  promptTokens: number;
  /** Every token sampled, a stop token included. */
  completionTokens: number;
}

/** What a step did, for the engine's speed figures. */
export interface StepReport {
  prefilledTokens: number;
  decodedRows: number;
  ms: number;
}

interface Sequence {
  request: BatchRequest;
  slot: number;
  cursor: number;
  state: SequenceState;
  rng: Rng;
  matcher: GrammarMatcher | null;
  cancelled: boolean;
  /** This sequence's own failure (its sampling or grammar): it alone is failed. */
  failed: unknown;
  resolve(answer: BatchAnswer): void;
  reject(error: unknown): void;
}

interface Waiting {
  request: BatchRequest;
  resolve(answer: BatchAnswer): void;
  reject(error: unknown): void;
  cancelled: boolean;
}

export interface BatchPipelineOptions {
  /** Sequences at once: the KV cache's slots. */
  sequences: number;
  /** The most tokens one sequence holds, prompt and answer (the job's window). */
  window: number;
  xgrammar: Xgrammar;
  onStep?: (report: StepReport) => void;
}

const PAGE = 16;

export class BatchPipeline {
  readonly #p: ChatPipeline;
  readonly #runtime: PipelineRuntime;
  readonly #options: BatchPipelineOptions;
  readonly #batchPrefill: PackedFunc;
  readonly #batchDecode: PackedFunc;
  readonly #kv: object;
  readonly #grammars: Grammars;
  readonly #freeSlots: number[];
  readonly #live: Sequence[] = [];
  readonly #waiting: Waiting[] = [];
  #broken: unknown = null;
  /** The device's loss, once `runtime.lost` says so. */
  #lost: LostInfo | null = null;
  readonly #lostSeen: Promise<unknown>;
  #driving = false;
  /** The loop stepping the batch, while there is work (close waits for its step). */
  #driven: Promise<void> = Promise.resolve();
  #cpuLogits: TvmArray | null = null;
  #row: TvmArray | null = null;
  /** NaN, the size of the logits read back: what a read that never landed leaves. */
  #unread: Float32Array | null = null;

  constructor(runtime: PipelineRuntime, options: BatchPipelineOptions) {
    const p = runtime.pipeline;
    const { tvm } = p;
    if (!Number.isInteger(options.sequences) || options.sequences < 1)
      throw new RangeError('Sequences at once must be a whole number from 1.');
    this.#p = p;
    this.#runtime = runtime;
    this.#options = options;
    this.#lostSeen = runtime.lost.then((info) => (this.#lost = info));
    this.#grammars = new Grammars(p, options.xgrammar);
    this.#freeSlots = Array.from({ length: options.sequences }, (_, i) => i);
    // Every slot can hold a whole window: pages never run out while a slot is free.
    const capacity = options.sequences * Math.ceil(options.window / PAGE) * PAGE;
    const shape = (n: number) => tvm.makeShapeTuple([n]);
    tvm.beginScope();
    try {
      this.#batchPrefill = tvm.detachFromCurrentScope(p.vm.getFunction('batch_prefill'));
      this.#batchDecode = tvm.detachFromCurrentScope(p.vm.getFunction('batch_decode'));
      const create = p.vm.getFunction('create_tir_paged_kv_cache');
      this.#kv = tvm.detachFromCurrentScope(
        create(
          shape(options.sequences),
          shape(capacity),
          shape(p.prefillChunkSize),
          shape(PAGE),
          shape(0)
        ) as object
      );
    } finally {
      tvm.endScope();
    }
  }

  /** Sequences running or waiting. */
  get size(): number {
    return this.#live.length + this.#waiting.length;
  }

  /**
   * Queues a request; the promise settles when its sequence stops (or fails). `signal`
   * cancels it: it leaves the batch before the next step.
   */
  generate(request: BatchRequest, signal?: AbortSignal): Promise<BatchAnswer> {
    if (this.#broken !== null) return Promise.reject(this.#broken);
    const prompt = request.promptIds.length;
    if (prompt === 0) return Promise.reject(new Error('The prompt has no tokens.'));
    if (prompt >= this.#options.window)
      return Promise.reject(
        new Error(
          `Prompt tokens exceed context window size: number of prompt tokens: ${prompt}; context window size: ${this.#options.window}`
        )
      );
    return new Promise<BatchAnswer>((resolve, reject) => {
      const cancel = () => {
        waiting.cancelled = true;
        const live = this.#live.find((s) => s.request === request);
        if (live) live.cancelled = true;
        reject(new DOMException('The request was cancelled.', 'AbortError'));
      };
      const settled = () => signal?.removeEventListener('abort', cancel);
      const waiting: Waiting = {
        request,
        resolve: (answer) => (settled(), resolve(answer)),
        reject: (error) => (settled(), reject(error)),
        cancelled: false
      };
      if (signal?.aborted) return cancel();
      signal?.addEventListener('abort', cancel, { once: true });
      this.#waiting.push(waiting);
      if (!this.#driving) {
        this.#driving = true;
        this.#driven = this.#drive();
      }
    });
  }

  /** Steps while there is work; `#driving` turns false in the same turn the loop sees none. */
  async #drive(): Promise<void> {
    try {
      while (this.#broken === null && this.size > 0) {
        await this.#runtime.lock.acquire();
        try {
          await this.step();
        } catch (error) {
          this.#fail(await this.#asLoss(error));
        } finally {
          await this.#runtime.lock.release();
        }
      }
    } finally {
      this.#driving = false;
    }
  }

  /** One step of the batch (the engine drives it; tests may call it directly). */
  async step(): Promise<void> {
    this.#checkDevice();
    const started = performance.now();
    this.#retire((s) => s.cancelled);
    await this.#admit();
    let prefilledTokens = 0;
    const reading = this.#live.find((s) => !s.cancelled && s.cursor < s.request.promptIds.length);
    if (reading) prefilledTokens = await this.#prefillChunk(reading);
    const rows = this.#live.filter(
      (s) => !s.cancelled && s.state.finish === null && s.state.outputIds.length > 0
    );
    if (rows.length) await this.#decode(rows);
    this.#retire((s) => s.state.finish !== null || s.failed !== null);
    this.#options.onStep?.({
      prefilledTokens,
      decodedRows: rows.length,
      ms: performance.now() - started
    });
  }

  /**
   * A step's error, or the device's loss when that is what it was: a dying GPU process makes
   * the runtime throw what it meets (not an Error, at times), often before `device.lost`
   * settles, so wait a moment for it (as the simulated engine does).
   */
  async #asLoss(error: unknown): Promise<unknown> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#lostSeen,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))
    ]);
    clearTimeout(timer);
    return this.#lost ? deviceLostError(this.#lost) : error;
  }

  /** Nothing read from a lost device is an answer: its copies never land. */
  #checkDevice(): void {
    if (this.#lost) throw deviceLostError(this.#lost);
  }

  async #admit(): Promise<void> {
    const { tvm } = this.#p;
    while (this.#waiting.length && this.#freeSlots.length) {
      const waiting = this.#waiting.shift();
      if (!waiting || waiting.cancelled) continue;
      const { request } = waiting;
      let matcher: GrammarMatcher | null = null;
      let rng: Rng;
      let state: SequenceState;
      try {
        rng = new tvm.rng.constructor();
        rng.setSeed(request.seed);
        state = new SequenceState(
          {
            stopTokens: this.#p.stopTokens,
            stopStrings: this.#p.stopStr,
            maxTokens: request.maxTokens,
            promptTokens: request.promptIds.length,
            window: this.#options.window
          },
          (ids) => this.#p.tokenizer.decode(ids)
        );
        if (request.schema !== undefined) matcher = await this.#grammars.matcher(request.schema);
      } catch (error) {
        // A seed the generator refuses, a schema xgrammar cannot compile: its own request only.
        waiting.reject(error);
        continue;
      }
      const slot = this.#freeSlots.shift() as number;
      this.#p.fKVCacheAddSequence(this.#kv, tvm.scalar(slot, 'int64'));
      this.#live.push({ ...waiting, slot, cursor: 0, state, rng, matcher, failed: null });
    }
  }

  async #prefillChunk(s: Sequence): Promise<number> {
    const p = this.#p;
    const { tvm } = p;
    const ids = s.request.promptIds.slice(s.cursor, s.cursor + p.prefillChunkSize);
    const n = ids.length;
    tvm.beginScope();
    try {
      const input = tvm.empty([n], 'int32', p.device).copyFrom(ids);
      const embedded = p.embed(input, p.params) as TvmArray;
      const position = tvm.empty([1], 'int32', p.device).copyFrom([n - 1]);
      p.fKVCacheBeginForward(this.#kv, tvm.makeShapeTuple([s.slot]), tvm.makeShapeTuple([n]));
      const out = this.#batchPrefill(
        embedded.view([1, ...embedded.shape]),
        position,
        this.#kv,
        p.params
      ) as TvmTuple;
      p.fKVCacheEndForward(this.#kv);
      s.cursor += n;
      if (s.cursor >= s.request.promptIds.length) await this.#sample([s], out.get(0));
    } finally {
      tvm.endScope();
    }
    return n;
  }

  async #decode(rows: Sequence[]): Promise<void> {
    const p = this.#p;
    const { tvm } = p;
    const b = rows.length;
    tvm.beginScope();
    try {
      const input = tvm.empty([b], 'int32', p.device).copyFrom(rows.map((s) => s.state.lastToken));
      const embedded = p.embed(input, p.params) as TvmArray;
      p.fKVCacheBeginForward(
        this.#kv,
        tvm.makeShapeTuple(rows.map((s) => s.slot)),
        tvm.makeShapeTuple(rows.map(() => 1))
      );
      const out = this.#batchDecode(
        embedded.view([b, 1, embedded.shape[1] ?? 0]),
        this.#kv,
        p.params
      ) as TvmTuple;
      p.fKVCacheEndForward(this.#kv);
      await this.#sample(rows, out.get(0));
    } finally {
      tvm.endScope();
    }
  }

  /** Samples one token for each row of `logits` ([rows, 1, vocabulary], on the GPU). */
  async #sample(rows: Sequence[], logits: TvmArray): Promise<void> {
    const p = this.#p;
    const { tvm } = p;
    const vocab = p.fullVocabSize;
    const masks = await Promise.all(
      rows.map((s) => (s.matcher ? s.matcher.getNextTokenBitmask() : null))
    );
    if (this.#cpuLogits?.shape[0] !== rows.length) {
      this.#cpuLogits?.dispose();
      this.#cpuLogits = tvm.detachFromCurrentScope(
        tvm.empty([rows.length, 1, vocab], 'float32', tvm.cpu())
      );
    }
    this.#row ??= tvm.detachFromCurrentScope(tvm.empty([1, 1, vocab], 'float32', tvm.cpu()));
    // NaN first, so a read-back that never lands (a lost device's: tvmjs's mapAsync fails
    // unheard and device.sync() resolves all the same) is seen, not sampled.
    const size = rows.length * vocab;
    if (this.#unread?.length !== size) this.#unread = new Float32Array(size).fill(NaN);
    this.#cpuLogits.copyFrom(this.#unread);
    this.#cpuLogits.copyFrom(logits);
    await p.device.sync();
    this.#checkDevice();
    const all = this.#cpuLogits.toArray() as Float32Array;
    if (Number.isNaN(all[size - 1]))
      throw await this.#asLoss(new Error('The logits never came back from the GPU.'));
    rows.forEach((s, r) => {
      if (s.cancelled || this.#broken !== null) return;
      try {
        const token = sampleRow(
          tvm,
          this.#row as TvmArray,
          all.subarray(r * vocab, (r + 1) * vocab),
          {
            settings: s.request,
            defaults: p.config,
            mask: masks[r] ?? null,
            appeared: s.state.appeared,
            rng: s.rng
          }
        );
        if (s.matcher && !s.matcher.acceptToken(token))
          throw new Error('Grammar matcher rejected the newly sampled token.');
        const delta = s.state.accept(token);
        if (delta) s.request.onText(delta);
      } catch (error) {
        // As on WebLLM's own path, a sampling or grammar error fails its own request.
        s.failed = error;
      }
    });
    // A row's error from a device lost meanwhile (its tokenizer freed, say) is the batch's.
    this.#checkDevice();
  }

  /** Takes the sequences `which` picks out of the batch: their slots and pages are free at once. */
  #retire(which: (s: Sequence) => boolean): void {
    const { tvm } = this.#p;
    for (let i = this.#live.length - 1; i >= 0; i--) {
      const s = this.#live[i];
      if (!s || !which(s)) continue;
      this.#live.splice(i, 1);
      this.#p.fKVCacheRemoveSequence(this.#kv, tvm.scalar(s.slot, 'int64'));
      this.#freeSlots.push(s.slot);
      this.#freeSlots.sort((a, b) => a - b);
      s.matcher?.dispose();
      if (s.failed !== null) s.reject(s.failed);
      else if (s.state.finish)
        s.resolve({
          finishReason: s.state.finish,
          promptTokens: s.request.promptIds.length,
          completionTokens: s.state.sampled
        });
    }
  }

  /** A step failed: every sequence fails with its error, and so does every later request. */
  #fail(error: unknown): void {
    this.#broken = error;
    for (const s of this.#live.splice(0)) {
      s.matcher?.dispose();
      s.reject(error);
    }
    for (const w of this.#waiting.splice(0)) w.reject(error);
  }

  /**
   * Fails what is left, lets a step under way end (a lost device's within 5 s), then frees
   * the cache and the batch's own arrays (the model itself stays loaded).
   */
  async close(): Promise<void> {
    if (this.#broken === null) this.#fail(new Error('Module has already been disposed.'));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#driven,
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))
    ]);
    clearTimeout(timer);
    const owned = [
      this.#cpuLogits,
      this.#row,
      this.#grammars,
      this.#batchPrefill,
      this.#batchDecode
    ];
    for (const one of [...owned, this.#kv as { dispose?: () => void }]) {
      try {
        one?.dispose?.();
      } catch {
        // A lost device's arrays are gone already.
      }
    }
  }
}
