/**
 * Fakes for the runner's tests (runner, run, unit, prepare): a job, its inputs and an
 * in-memory store, engines that echo, score pairs or run several items at once, and a
 * Runner built on them with a plan that fits.
 */
import { expect } from 'vitest';
import { EngineError } from '$lib/worker/engine/errors';
import type { Engine, PromptPrefix } from '$lib/worker/engine/types';
import type { GenerateRequest } from '$lib/shared/request';
import { Runner, type RunnerStore } from '$lib/worker/runner';
import { RUBRICS, scoreSchema } from '$lib/presets/score-pairs';
import {
  initialProgress,
  type AttemptScope,
  type RunWrite,
  type StoredTries
} from '$lib/store/jobs';
import { MODELS } from '$lib/plan/catalog';
import { stepDown } from '$lib/plan/memory';
import type { Plan } from '$lib/plan/types';
import type {
  ItemInput,
  ItemResult,
  JobMeta,
  JobNeeds,
  JobProgress,
  RunLogEntry
} from '$lib/shared/job';
import type { ItemError } from '$lib/shared/stop';

export function job(total: number): JobMeta {
  return {
    id: 'job-1',
    name: 'Test',
    createdAt: 0,
    sourceFileName: 'in.jsonl',
    format: 'jsonl',
    total,
    settings: {
      name: 'Test',
      systemPrompt: 'Be brief.',
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 64,
      seed: 7
    },
    engine: {
      kind: 'simulated',
      modelId: null,
      tokenDelayMs: 0,
      simMemoryMB: null,
      simHangAtItem: null
    },
    needs: { longestPromptTokens: 20, maxAnswerTokens: 64, exact: false }
  };
}

export class MemoryStore implements RunnerStore {
  progress: JobProgress = initialProgress(0);
  results = new Map<number, ItemResult>();
  attempts = new Map<number, number>();
  log: RunLogEntry[] = [];
  commits = 0;
  constructor(
    readonly meta: JobMeta,
    readonly inputs: ItemInput[]
  ) {}
  async getJob() {
    return this.meta;
  }
  async getProgress() {
    return this.progress;
  }
  async saveProgress(_: string, progress: JobProgress) {
    this.progress = progress;
  }
  async getResult(_: string, index: number) {
    return this.results.get(index);
  }
  /** When Pause was pressed, as the page stores it (null: it was not). */
  pauseAt: number | null = null;
  async pauseRequested() {
    return this.pauseAt !== null;
  }
  lastErrors = new Map<number, ItemError>();
  failCommitWith: Error | null = null;
  /** Batch attempts, by the batch's first item. */
  batchAttempts = new Map<number, number>();
  /** Results committed together, in order. */
  batches: number[][] = [];
  /** Transactions written. */
  writes = 0;
  #tries(scope: AttemptScope) {
    return scope === 'item' ? this.attempts : scope === 'batch' ? this.batchAttempts : null;
  }
  async readAhead(_: string, from: number, to: number) {
    const tries: StoredTries[] = [];
    for (const scope of ['item', 'batch'] as const) {
      for (const [index, count] of this.#tries(scope)!) {
        if (index < from || index >= to) continue;
        const lastError = scope === 'item' ? (this.lastErrors.get(index) ?? null) : null;
        tries.push({ index, scope, tries: { count, lastError } });
      }
    }
    return { inputs: this.inputs.slice(from, to), tries };
  }
  async writeRun(_: string, write: RunWrite) {
    if (this.failCommitWith && write.results.length) throw this.failCommitWith;
    this.writes++;
    for (const { index, scope, tries } of write.tries) {
      this.#tries(scope)?.set(index, tries.count);
      if (scope === 'item' && tries.lastError) this.lastErrors.set(index, tries.lastError);
    }
    for (const result of write.results) this.results.set(result.index, result);
    if (write.results.length) {
      this.batches.push(write.results.map((result) => result.index));
      this.commits += write.results.length;
    }
    this.log.push(...write.log);
    if (write.progress) this.progress = write.progress;
  }
  inputReads = 0;
  async getInputs(_: string, from: number, to: number) {
    this.inputReads++;
    return this.inputs.slice(from, to);
  }
  exact: { needs: JobNeeds; promptTokens: number[] } | null = null;
  async saveExactCounts(_: string, needs: JobNeeds, promptTokens: number[]) {
    this.exact = { needs, promptTokens };
  }
}

/** Each group's results were written in one transaction, and every result exactly once. */
export function expectWrittenTogether(store: MemoryStore, groups: number[][]) {
  for (const group of groups) {
    expect(
      store.batches.some((write) => group.every((index) => write.includes(index))),
      `items ${group.join(', ')} in one transaction`
    ).toBe(true);
  }
  const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
  expect(sorted(store.batches.flat())).toEqual(sorted(groups.flat()));
}

const model = MODELS[0]!;

/** A plan that fits, with the window capped like the real planner caps it. */
function planAt(window: number, maxAnswer = 64): Plan {
  const kvBytes = window * 57_344;
  return {
    ok: true,
    reasons: [],
    model,
    contextWindow: window,
    sequences: 1,
    kvBytes,
    weightsBytes: model.weightsBytes,
    activationBytes: model.activationBytes,
    totalBytes: model.weightsBytes + model.activationBytes + kvBytes,
    budgetBytes: null,
    maxPromptTokens: window - maxAnswer
  };
}

export function inputs(count: number): ItemInput[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    line: index + 1,
    customId: `q-${index + 1}`,
    messages: [{ role: 'user' as const, content: `prompt ${index + 1}` }],
    params: index === 0 ? { max_tokens: 5 } : {}
  }));
}

/** An engine that echoes the prompt; `failAt` maps a prompt index to the error it throws. */
export class EchoEngine implements Engine {
  concurrency = 1;
  loads = 0;
  requests: GenerateRequest[] = [];
  /**
   * The loaded model's tokenizer, when the test gives the engine one: a prompt's count. Its ids
   * begin with a token of the prompt's own, so prompts share no prefix unless `ids` is given.
   */
  counter: ((request: GenerateRequest) => number) | null = null;
  /** The prompt's token ids, when a test gives them. */
  ids: ((request: GenerateRequest) => number[]) | null = null;
  /** The prefixes the run gave the engine, in order. */
  prefixes: PromptPrefix[] = [];
  readonly #firstTokens = new Map<string, number>();
  constructor(private failAt: Map<number, () => EngineError> = new Map()) {}
  tokenizer() {
    const { counter, ids } = this;
    if (ids) return ids;
    if (!counter) return null;
    return (request: GenerateRequest) => {
      const text = JSON.stringify(request.messages);
      const first = this.#firstTokens.get(text) ?? this.#firstTokens.size + 1;
      this.#firstTokens.set(text, first);
      return [first, ...Array.from({ length: counter(request) - 1 }, () => 0)];
    };
  }
  usePrefix(prefix: PromptPrefix) {
    this.prefixes.push(prefix);
  }
  async load() {
    this.loads++;
    return { model: 'echo', placeholder: true, adapter: 'test' };
  }
  async generate(request: GenerateRequest, onText: (delta: string) => void, signal: AbortSignal) {
    this.requests.push(request);
    const content = request.messages.at(-1)?.content ?? '';
    const index = Number(content.split(' ')[1]) - 1;
    const fail = this.failAt.get(index);
    if (fail) {
      this.failAt.delete(index);
      throw fail();
    }
    if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
    onText('echo: ');
    onText(content);
    return {
      text: `echo: ${content}`,
      finishReason: 'stop' as const,
      model: 'echo',
      usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 }
    };
  }
  async unload() {}
}

export function runner(
  store: MemoryStore,
  engine: Engine,
  options: {
    window?: number;
    promptTokens?: (content: string) => number;
    /** Plan from the job's needs (the real planner's window: what the job needs, in 1024s). */
    fromNeeds?: boolean;
  } = {}
) {
  let clock = 1000;
  const planned: (number | null)[] = [];
  const sequences: number[] = [];
  const r = new Runner({
    store,
    createEngine: () => engine,
    now: () => (clock += 10),
    plan: async (meta, windowCap) => {
      planned.push(windowCap);
      const needed = Math.ceil(
        (meta.needs.longestPromptTokens + meta.needs.maxAnswerTokens) / 1024
      );
      const window = options.fromNeeds ? needed * 1024 : (options.window ?? 4096);
      // A WebLLM job's sequences at once, as the job (capped after memory losses) asks.
      const asked = meta.engine.kind === 'webllm' ? (meta.engine.sequences ?? 1) : 1;
      sequences.push(asked);
      return { ...planAt(Math.min(window, windowCap ?? Infinity)), sequences: asked };
    },
    promptTokens: (request) => options.promptTokens?.(request.messages.at(-1)?.content ?? '') ?? 10,
    stepDown: (window) => stepDown(window),
    // Each write starts in the next task: the tests see commits as items finish.
    writeEveryMs: 0
  });
  return Object.assign(r, { planned, sequences });
}

/** A scoring job: pairs scored with the preset, `perPrompt` pairs in one prompt. */
export function scoringJob(total: number, perPrompt: number): JobMeta {
  const base = job(total);
  return {
    ...base,
    settings: {
      ...base.settings,
      systemPrompt: '',
      temperature: 0,
      max_tokens: 200,
      preset: {
        id: 'score-pairs',
        rubric: RUBRICS.en,
        language: 'en',
        pairsPerPrompt: perPrompt,
        keepScoreAtLeast: 2
      },
      answerSchema: scoreSchema(1)
    }
  };
}

export function pairs(count: number, withImages: number[] = []): ItemInput[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    line: index + 1,
    customId: `p${index}`,
    messages: [{ role: 'user' as const, content: `question ${index}` }],
    params: {},
    pair: {
      format: 'sharegpt' as const,
      system: '',
      turns: [
        { role: 'user' as const, content: `question ${index}` },
        { role: 'assistant' as const, content: `answer ${index}` }
      ],
      hasImages: withImages.includes(index),
      original: { id: index }
    }
  }));
}

/** Scores each pair by its number (1 + n % 5), alone or in a list; `drop` leaves ids out of lists. */
export class ScoringEngine extends EchoEngine {
  drop = new Set<string>();
  prompts: number[] = [];
  override async generate(request: GenerateRequest) {
    this.requests.push(request);
    const content = request.messages.at(-1)?.content ?? '';
    const ids = [...content.matchAll(/<pair id="p(\d+)">/g)].map((m) => Number(m[1]));
    this.prompts.push(ids.length);
    const score = (n: number) => 1 + (n % 5);
    const text =
      request.schema?.type === 'array'
        ? JSON.stringify(
            ids
              .filter((n) => !this.drop.has(`p${n}`))
              .map((n) => ({ id: `p${n}`, score: score(n) }))
          )
        : JSON.stringify({ score: score(ids[0] ?? 0) });
    return {
      text,
      finishReason: 'stop' as const,
      model: 'echo',
      usage: {
        prompt_tokens: 100,
        completion_tokens: 10 * ids.length,
        total_tokens: 100 + 10 * ids.length
      }
    };
  }
}

/**
 * An engine that runs `concurrency` items at once, each taking a few event-loop turns;
 * `poison` items lose the device whenever they run (with everything running beside them).
 */
export class ConcurrentEngine extends EchoEngine {
  running = 0;
  maxRunning = 0;
  poison = new Set<number>();
  /** Items that lose the device on their first attempt only (a crash that was nobody's). */
  loseOnce = new Set<number>();
  losses = 0;
  /** How long an item runs, in ms (a poison item loses the device after 5). */
  itemMs = (index: number) => 2 + (index % 3);
  #lost: (() => void)[] = [];
  constructor(readonly width: number) {
    super();
    this.concurrency = width;
  }
  override async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal
  ) {
    const content = request.messages.at(-1)?.content ?? '';
    const index = Number(content.split(' ')[1]) - 1;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await new Promise<void>((resolve, reject) => {
        const lose = () =>
          reject(
            new EngineError('device-lost', 'The GPU device was lost (unknown).', [], 'unknown')
          );
        this.#lost.push(lose);
        const once = this.loseOnce.delete(index);
        if (this.poison.has(index) || once) {
          this.losses++;
          // The whole device goes: every item running with it is lost too.
          setTimeout(() => this.#lost.splice(0).forEach((fail) => fail()), 5);
          return;
        }
        const timer = setTimeout(() => {
          this.#lost = this.#lost.filter((fail) => fail !== lose);
          resolve();
        }, this.itemMs(index));
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(new EngineError('cancelled', 'Stopped.'));
        });
      });
      return await super.generate(request, onText, signal);
    } finally {
      this.running--;
    }
  }
}
