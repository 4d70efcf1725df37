import type { JsonSchema, ParsedAnswer } from './answer';
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
  /** What the model is asked: for a dataset pair, the conversation up to its answer. */
  messages: ChatMessage[];
  params: ItemParams;
  /** Set when the item is a question/answer pair of a dataset (ShareGPT or Alpaca). */
  pair?: DatasetPair;
}

/** A question/answer pair from a fine-tuning dataset, and the item exactly as the file had it. */
export interface DatasetPair {
  format: 'sharegpt' | 'alpaca';
  /** The system prompt, '' for none. */
  system: string;
  /** User and assistant turns in order; the last is the assistant's answer. */
  turns: ChatMessage[];
  /** The pair comes with images (WeClone scores none of those, and keeps them). */
  hasImages: boolean;
  /** Every field of the item, in the file's order, for exports that give it back. */
  original: Record<string, unknown>;
}

/** One prompt as stored in a job: its position is its identity. */
export interface ItemInput extends ParsedItem {
  index: number;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  /**
   * Prompt tokens not read for this result but shared from a prefix read once (as OpenAI and
   * vLLM report them); absent where nothing was shared.
   */
  prompt_tokens_details?: { cached_tokens: number };
  /** Speeds are measurements, not results: shown on the page, never exported. */
  prefill_tokens_per_s?: number;
  decode_tokens_per_s?: number;
}

export type FinishReason = 'stop' | 'length';

export interface ItemResult {
  index: number;
  customId: string;
  /** 'skipped': never sent, on purpose (a pair with images in a scoring job). */
  status: 'done' | 'failed' | 'skipped';
  text: string;
  finishReason: FinishReason | null;
  usage: Usage | null;
  error: ItemError | null;
  model: string;
  /** ms since epoch */
  finishedAt: number;
  attempts: number;
  /** A job with an answer schema: the answer parsed and checked, or why it is not valid. */
  answer?: ParsedAnswer;
  /** Why a skipped item was not sent. */
  skipReason?: string;
}

export interface JobSettings {
  name: string;
  systemPrompt: string;
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
  /** Every answer must be JSON that follows this schema; absent or null: free text. */
  answerSchema?: JsonSchema | null;
  /** The preset that builds the prompts (absent: each item's own messages). */
  preset?: PresetSettings | null;
}

/** "Score chat pairs (WeClone)": a rubric prompt scores each pair (or K pairs at once) 1 to 5. */
export interface PresetSettings {
  id: 'score-pairs';
  /** The rubric, as the user read and maybe edited it. */
  rubric: string;
  language: 'en' | 'zh';
  /** Pairs sent in one prompt (1 to 50). */
  pairsPerPrompt: number;
  /** The cleaned dataset keeps pairs scored at least this (WeClone's accept_score). */
  keepScoreAtLeast: number;
}

export type InputFormatId = 'openai-batch' | 'jsonl' | 'csv' | 'txt' | 'sharegpt' | 'alpaca';

/** What the job asks of the model, in tokens. */
export interface JobNeeds {
  longestPromptTokens: number;
  maxAnswerTokens: number;
  /** False while the counts are estimates made before the tokenizer is loaded. */
  exact: boolean;
  /**
   * Tokens every prompt begins with, in whole KV pages, counted with the tokenizer (absent
   * until counted, and for jobs counted before it was: none).
   */
  prefixTokens?: number;
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
  /** Sequences at once (absent in jobs planned before it existed: 1). */
  sequences?: number;
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
    | 'tokens'
    | 'split'
    | 'suspects';
  message: string;
}

export type RunState = 'idle' | 'running' | 'paused' | 'completed' | 'stopped';

/**
 * Everything that changes while a job runs; committed with each result. A job stored
 * before a field existed lacks it: the store reads it with its default (normalizeProgress).
 */
export interface JobProgress {
  /** Every item below it has a result, or is queued in `retry`. */
  cursor: number;
  /** Items above the cursor that have a result (or are queued), as ranges [from, to). */
  ahead: [number, number][];
  /**
   * Items that were running together when the device was lost: they run again with nothing
   * beside them (as `suspectRun` says) before anything else runs, so only an item that fails
   * alone is failed as poison.
   */
  suspects: number[];
  /**
   * How the suspects run next: all together once (a loss that was no item's fault costs one
   * batch), then by halves (worker/recovery.ts).
   */
  suspectRun: 'together' | 'half';
  done: number;
  failed: number;
  /** Results not sent on purpose (status 'skipped'). */
  skipped: number;
  /** Done results whose answer does not follow the job's schema (answer.ok false). */
  unparsed: number;
  promptTokens: number;
  /** Prompt tokens not read: a prefix a sequence's KV slot kept (usage's cached_tokens). */
  cachedTokens: number;
  completionTokens: number;
  /** Time spent generating, summed over every run of the job. */
  elapsedMs: number;
  state: RunState;
  /** Why the job last stopped, written for the user. */
  stopReason: ItemError | null;
  /** Largest context window allowed after step-downs; null until the GPU gave out. */
  windowCap: number | null;
  /** Most sequences at once allowed after a memory loss; null until then. */
  sequencesCap: number | null;
  /** The plan of the latest run. */
  plan: PlanRecord | null;
  /**
   * Items to run (again) before the cursor moves on, one at a time: failed ones queued by
   * "Retry failed", unparsed ones by "Retry unparsed", pairs a batch answer left out.
   */
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
