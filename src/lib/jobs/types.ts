import type { JobNeeds } from '$lib/gpu/types';

/**
 * The words of the product as types: a job holds items; each item has an input
 * (stored at import) and, once finished, a result. Shared by the page and the
 * worker, so nothing here may import the DOM or Svelte.
 */

export type Role = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: Role;
  content: string;
}

/** Per-item overrides read from the input file (an OpenAI batch line's body). */
export interface ItemParams {
  max_tokens?: number;
  temperature?: number;
  top_p?: number;
  seed?: number;
}

/** One prompt as parsed from the input file. `line` is 1-based in that file. */
export interface ParsedItem {
  line: number;
  customId: string;
  messages: ChatMessage[];
  params: ItemParams;
}

/** One prompt as stored in a job: its position is its identity. */
export interface ItemInput extends ParsedItem {
  index: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /** Speeds are measurements, not results: shown on the page, never exported. */
  prefill_tokens_per_s?: number;
  decode_tokens_per_s?: number;
}

export type FinishReason = 'stop' | 'length';

export interface ItemError {
  code: string;
  message: string;
}

export interface ItemResult {
  index: number;
  customId: string;
  status: 'done' | 'failed';
  text: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  error: ItemError | null;
  model: string;
  /** ms since epoch */
  finishedAt: number;
  attempts: number;
}

export interface JobSettings {
  name: string;
  systemPrompt: string;
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
}

export type EngineKind = 'webllm' | 'simulated';

/** Saved with the job at creation, so a job resumes on the engine it was made for. */
export interface EngineChoice {
  kind: EngineKind;
  /** WebLLM model id; null lets the plan pick the variant by adapter features. */
  modelId: string | null;
  /** Simulated engine: delay per token in ms. */
  tokenDelayMs: number;
  /** Simulated engine: behave like a GPU with this many MB (a fault knob for tests); null: no cap. */
  simMemoryMB: number | null;
  /** Simulated engine: hang on the first attempt at this item index (a fault knob for tests). */
  simHangAtItem: number | null;
  /** Simulated engine: each answer quotes the prompt (to test that output is shown as text). */
  simEcho?: boolean;
}

export type InputFormatId = 'openai-batch' | 'jsonl' | 'csv' | 'txt';

export interface JobMeta {
  id: string;
  name: string;
  createdAt: number;
  sourceFileName: string;
  format: InputFormatId;
  total: number;
  settings: JobSettings;
  engine: EngineChoice;
  /** Token needs: estimated at import, exact once the model's tokenizer counted them. */
  needs: JobNeeds;
}

/** The memory plan a run used, as stored with the job's progress. */
export interface PlanRecord {
  modelId: string;
  contextWindow: number;
  kvBytes: number;
  totalBytes: number;
  maxPromptTokens: number;
}

/** One line of the job's run log: a step-down, a lost device, a recovery. */
export interface RunLogEntry {
  at: number;
  /** Item index the event happened at, or null. */
  index: number | null;
  kind:
    | 'step-down'
    | 'device-lost'
    | 'restart'
    | 'hung'
    | 'reload'
    | 'poison'
    | 'quota'
    | 'takeover'
    | 'resumed'
    | 'paused'
    | 'stopped'
    | 'tokens';
  message: string;
}

export type RunState = 'idle' | 'running' | 'paused' | 'completed' | 'stopped';

/** Everything that changes while a job runs; committed with each result. */
export interface JobProgress {
  /** Index of the next item to run: every item below it has a result. */
  cursor: number;
  done: number;
  failed: number;
  promptTokens: number;
  completionTokens: number;
  /** Time spent generating, summed over every run of the job. */
  elapsedMs: number;
  state: RunState;
  /** Why the job last stopped, written for the user. */
  stopReason: ItemError | null;
  /** Largest context window allowed after step-downs; null until the GPU gave out. */
  windowCap: number | null;
  /** The plan of the latest run. */
  plan: PlanRecord | null;
  /** Failed items queued again by "Retry failed", run before the cursor moves on. */
  retry: number[];
  updatedAt: number;
}

/** Attempts at one item, written before each generation. */
export interface ItemTries {
  count: number;
  /** What went wrong on the last attempt, when anything did. */
  lastError: ItemError | null;
}

/** An item is failed with its last error once this many attempts have not finished it. */
export const MAX_ATTEMPTS = 3;

/** Settings of this browser, not of a job. */
export interface MachineSettings {
  /** GPU memory the user says this machine has; null: estimate. */
  gpuMemoryMB: number | null;
  /** Fraction of the memory budget kept free. */
  safetyMargin: number;
  /** Resume interrupted jobs by themselves when the app opens. */
  autoResume: boolean;
  /**
   * Base URL of a self-hosted mirror of the MLC model files (layout in
   * src/lib/models/source.ts), checked before it is saved; null: WebLLM's
   * official hosts.
   */
  modelMirror: string | null;
  /**
   * A mirror the user asked for, not yet checked: the service worker lets the
   * page reach it (CSP connect-src) so the check can run after a reload.
   */
  modelMirrorPending: string | null;
}

export const DEFAULT_SETTINGS: Omit<JobSettings, 'name'> = {
  systemPrompt: '',
  temperature: 0.7,
  top_p: 0.95,
  max_tokens: 512,
  seed: 0
};
