/**
 * The engine port: what the runner needs from a model, whatever runs it. Three
 * implementations: WebLLM (webllm.ts: the real model on this GPU) and the simulated engine
 * (simulated.ts: a real WebGPU device, placeholder text), both through the step loop
 * (loop/), and an OpenAI-compatible server (server.ts). All throw EngineError only.
 */
import type { FinishReason, Usage } from '$lib/shared/job';
import type { GenerateRequest } from '$lib/shared/request';

/** Which item a request is for (the simulated engine's fault knobs use it), and who hears of retries. */
export interface ItemContext {
  index: number;
  attempt: number;
  /** The engine tries the request again (a server's 429, 5xx or dropped connection). */
  onRetry?: (retry: { reason: string; waitMs: number; attempt: number }) => void;
}

export interface GenerateResult {
  text: string;
  finishReason: FinishReason;
  usage: Usage;
  model: string;
}

export interface LoadProgress {
  phase: 'gpu' | 'download' | 'compile' | 'ready';
  /** The engine's own words, for the page. */
  text: string;
  /** 0..1 */
  fraction: number;
  loadedMB: number | null;
  totalMB: number | null;
  mbPerSecond: number | null;
  etaSeconds: number | null;
}

export interface EngineInfo {
  model: string;
  /** True when the output is placeholder text (simulated engine). */
  placeholder: boolean;
  adapter: string;
}

/** The job's shared prompt prefix, as the engine on this GPU reads it. */
export interface PromptPrefix {
  tokens: number;
  share: boolean;
}

/** What the memory plan decided, as the engine needs it. */
export interface LoadPlan {
  modelId: string;
  contextWindow: number;
  weightsBytes: number;
  activationBytes: number;
  kvBytes: number;
  totalBytes: number;
  /** Sequences at once: the step loop's KV slots. */
  sequences: number;
}

export interface Engine {
  /** How many items it runs at once (on this GPU: the loop's sequences at once; a server: requests in flight). */
  readonly concurrency: number;
  /** Loads the model; `plan` is the memory plan on this machine (null for a server). */
  load(plan: LoadPlan | null, onProgress: (progress: LoadProgress) => void): Promise<EngineInfo>;
  generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal,
    item?: ItemContext
  ): Promise<GenerateResult>;
  /**
   * The token ids of a request's prompt, chat template included, with the loaded model's
   * tokenizer (what it reads and counts); null before load or when the engine cannot tell.
   */
  tokenizer(): ((request: GenerateRequest) => readonly number[]) | null;
  /**
   * The tokens every prompt of the job begins with (0: none), for the requests after: read as a
   * chunk of their own, and kept in each sequence's KV slot where `share` (an engine on this
   * GPU; a server keeps its own prefix cache).
   */
  usePrefix?(prefix: PromptPrefix): void;
  unload(): Promise<void>;
}
