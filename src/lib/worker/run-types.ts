/**
 * What the runner and its parts (run.ts, unit.ts, prepare.ts) share: the events a run sends the
 * page, how a run ends, and what the runner is given (the store, the engines, the plan). Types
 * only, in a module of their own, so the parts import them without importing each other.
 */
import type { EngineChoice } from '$lib/shared/engine-choice';
import type {
  ItemInput,
  ItemResult,
  JobMeta,
  JobNeeds,
  JobProgress,
  RunLogEntry,
  RunState
} from '$lib/shared/job';
import type { Plan } from '$lib/plan/types';
import type { GenerateRequest } from '$lib/shared/request';
import type { ItemError } from '$lib/shared/stop';
import type { RunIOStore } from './run-io';
import type { Engine, EngineInfo, LoadProgress } from './engine/types';

export type RunEvent =
  | { type: 'load'; progress: LoadProgress }
  | { type: 'engine'; info: EngineInfo }
  | { type: 'item'; index: number; customId: string; attempt: number }
  | { type: 'text'; index: number; text: string }
  | { type: 'committed'; result: ItemResult; progress: JobProgress }
  | { type: 'progress'; progress: JobProgress }
  | { type: 'log'; entry: RunLogEntry }
  | { type: 'needs'; needs: JobNeeds }
  /** The engine tries an item's request again (a server's 429, 5xx or dropped connection). */
  | { type: 'retry'; index: number; reason: string; waitMs: number; attempt: number };

export type Emit = (event: RunEvent) => void;

export interface RunOutcome {
  state: RunState | 'busy';
  progress: JobProgress | null;
  error: ItemError | null;
}

/** The parts of the store the runner uses (the store module itself in the app). */
export interface RunnerStore extends RunIOStore {
  getJob(jobId: string): Promise<JobMeta | undefined>;
  getProgress(jobId: string): Promise<JobProgress>;
  saveProgress(jobId: string, progress: JobProgress): Promise<void>;
  getResult(jobId: string, index: number): Promise<ItemResult | undefined>;
  /** Inputs with index in [from, to), in index order. */
  getInputs(jobId: string, from: number, to: number): Promise<ItemInput[]>;
  saveExactCounts(jobId: string, needs: JobNeeds, promptTokens: number[]): Promise<void>;
  /** Pause was pressed and not taken back by Start or Resume: a run starting now pauses at once. */
  pauseRequested(jobId: string): Promise<boolean>;
}

export interface RunnerDeps {
  store: RunnerStore;
  createEngine(choice: EngineChoice): Engine;
  now(): number;
  /** The memory plan for the job on this machine, its window capped after step-downs. */
  plan(job: JobMeta, windowCap: number | null): Promise<Plan>;
  /** Estimated prompt tokens of one request (before any tokenizer is loaded). */
  promptTokens(request: GenerateRequest): number;
  /** The next smaller context window after a loss, or null at the smallest. */
  stepDown(window: number): number | null;
  /** Web Locks where the platform has them; one runner per job across tabs. */
  locks?: LockManager;
  /** Transactions start at most this often (ms); what finishes between goes into one. */
  writeEveryMs?: number;
}
