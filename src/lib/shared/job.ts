import type { EngineChoice } from './engine-choice';
import type { ItemError } from './stop';

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

export type InputFormatId = 'openai-batch' | 'jsonl' | 'csv' | 'txt';

/** What the job asks of the model, in tokens. */
export interface JobNeeds {
  longestPromptTokens: number;
  maxAnswerTokens: number;
  /** False while the counts are estimates made before the tokenizer is loaded. */
  exact: boolean;
}

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

export const DEFAULT_SETTINGS: Omit<JobSettings, 'name'> = {
  systemPrompt: '',
  temperature: 0.7,
  top_p: 0.95,
  max_tokens: 512,
  seed: 0
};
