/**
 * What the step loop needs of a model: read a chunk of a sequence's prompt into its KV slot,
 * feed one token for each of several sequences, hand back their logits, and the tokenizer,
 * sampler and grammars that turn logits into an answer. Two implementations: WebLLM's own
 * runtime (webllm-model.ts, the real kernels) and the simulated model (simulated-model.ts,
 * real WebGPU work on a real device, placeholder text). Everything above this port (the
 * loop's actions, the engines, the runner) is the same for both.
 *
 * A method that meets a runtime failure throws what it met; the loop's recover action turns
 * it into a typed EngineError once (recover.ts), with the device's own word on a loss.
 */
import type { LostInfo } from '../errors';
import type { GenerateRequest } from '$lib/shared/request';
import type { ItemContext } from '../types';

/** One row's sampling defaults (the model's chat config: WebLLM's `mlc-chat-config.json`). */
export interface SamplingDefaults {
  temperature: number;
  top_p: number;
  repetition_penalty: number;
  frequency_penalty?: number;
  presence_penalty?: number;
}

/** A random stream, seeded per request (WebLLM's LinearCongruentialGenerator). */
export interface Rng {
  setSeed(seed: number): void;
  randomFloat(): number;
}

/** What a row is sampled with, its grammar's mask applied already (actions/sample.ts). */
export interface RowInput {
  temperature: number;
  topP: number;
  defaults: SamplingDefaults;
  /** How often each answer token appeared, in first-seen order (penalties read it). */
  appeared: ReadonlyMap<number, number>;
  rng: Rng;
}

export interface Sampler {
  newRng(): Rng;
  /** The next token of a row: penalties, then top-p (greedy below a temperature of 1e-6). */
  sample(logits: Float32Array, input: RowInput): number;
}

export interface GrammarMatcher {
  getNextTokenBitmask(): Promise<Int32Array>;
  acceptToken(token: number): boolean;
  dispose(): void;
}

export interface Grammars {
  /** A matcher that holds a sequence's answer to `schema` (a JSON schema as a string). */
  matcher(schema: string): Promise<GrammarMatcher>;
  dispose(): void;
}

/** What a sequence is, beyond its token ids: the simulated model reads it (its fault knobs, its script). */
export interface SequenceSource {
  request: GenerateRequest;
  item?: ItemContext;
  promptIds: readonly number[];
  /** Cancels the request (the simulated model's held items wait for it, or for a loss). */
  signal?: AbortSignal;
}

/**
 * Keeping a prefix in a slot: a finished sequence's KV sequence trimmed back to the prefix
 * (TVM's `kv_state_popn`), then opened for the next sequence, which reads only the rest.
 */
interface PrefixSharing {
  /** Drops the last `count` tokens of `slot`'s KV sequence; the slot keeps the rest. */
  trim(slot: number, count: number): void;
  /** Opens a slot that holds the prefix for a new sequence, keeping what it holds. */
  reuse(slot: number, source: SequenceSource): void;
}

export interface StepModel {
  /** The model's name, as results report it. */
  readonly name: string;
  /** KV slots: the sequences the loop keeps at once. */
  readonly slots: number;
  /** The most prompt tokens read in one call. */
  readonly prefillChunk: number;
  /** Logits a row holds. */
  readonly vocabSize: number;
  readonly stopTokens: readonly number[];
  readonly stopStrings: readonly string[];
  readonly defaults: SamplingDefaults;
  /** Settles when the model's GPU device is lost (`GPUDevice.lost`). */
  readonly lost: Promise<LostInfo>;
  readonly sampler: Sampler;
  readonly grammars: Grammars;
  /** The token ids a request's prompt is, its chat template applied (what is prefilled and counted). */
  promptIds(request: GenerateRequest): number[];
  /** The text of answer tokens (a broken multi-byte character shows as U+FFFD). */
  detokenize(ids: Int32Array): string;
  /** Opens `slot` for a sequence. */
  addSequence(slot: number, source: SequenceSource): void;
  /** Keeping a prefix in a slot; a model without it reads every prompt whole. */
  readonly sharing?: PrefixSharing;
  /** Frees `slot` and its KV pages. */
  removeSequence(slot: number): void;
  /**
   * Reads `ids` (at most a chunk) into `slot`'s KV cache; when `logits`, returns the logits of
   * the last of them, read back from the GPU.
   */
  prefill(slot: number, ids: readonly number[], logits: boolean): Promise<Float32Array | null>;
  /** Feeds one token for each row; their logits, read back, row after row. */
  decode(rows: readonly { slot: number; token: number }[]): Promise<Float32Array>;
  /** Frees what the model holds for the loop (its KV cache, its read-back arrays). */
  dispose(): void;
}
