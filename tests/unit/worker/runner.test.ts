import { describe, expect, it } from 'vitest';
import { EngineError } from '$lib/worker/engine/errors';
import type { Engine } from '$lib/worker/engine/types';
import type { GenerateRequest } from '$lib/shared/request';
import { Runner, type RunEvent, type RunnerStore } from '$lib/worker/runner';
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

function job(total: number): JobMeta {
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

class MemoryStore implements RunnerStore {
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
function expectWrittenTogether(store: MemoryStore, groups: number[][]) {
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

function inputs(count: number): ItemInput[] {
  return Array.from({ length: count }, (_, index) => ({
    index,
    line: index + 1,
    customId: `q-${index + 1}`,
    messages: [{ role: 'user' as const, content: `prompt ${index + 1}` }],
    params: index === 0 ? { max_tokens: 5 } : {}
  }));
}

/** An engine that echoes the prompt; `failAt` maps a prompt index to the error it throws. */
class EchoEngine implements Engine {
  concurrency = 1;
  loads = 0;
  requests: GenerateRequest[] = [];
  /** The loaded model's tokenizer, when the test gives the engine one. */
  counter: ((request: GenerateRequest) => number) | null = null;
  constructor(private failAt: Map<number, () => EngineError> = new Map()) {}
  tokenCounter() {
    return this.counter;
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

function runner(
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

describe('Runner', () => {
  it('commits every item once, in order, with the job settings and the item overrides', async () => {
    const store = new MemoryStore(job(5), inputs(5));
    const engine = new EchoEngine();
    const events: RunEvent[] = [];
    const outcome = await runner(store, engine).run('job-1', (event) => events.push(event));
    expect(outcome.state).toBe('completed');
    expect(store.commits).toBe(5);
    expect([...store.results.keys()]).toEqual([0, 1, 2, 3, 4]);
    expect(store.results.get(2)?.text).toBe('echo: prompt 3');
    expect(store.progress).toMatchObject({
      cursor: 5,
      done: 5,
      failed: 0,
      completionTokens: 10,
      state: 'completed'
    });
    expect(engine.requests[0]).toEqual({
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'prompt 1' }
      ],
      temperature: 0.5,
      top_p: 0.9,
      max_tokens: 5,
      seed: 7
    });
    expect(engine.requests[1]?.max_tokens).toBe(64);
    expect(events.filter((e) => e.type === 'committed')).toHaveLength(5);
  });

  it('resumes from the cursor without redoing finished items', async () => {
    const store = new MemoryStore(job(4), inputs(4));
    store.progress = { ...initialProgress(0), cursor: 2, done: 2, state: 'running' };
    const engine = new EchoEngine();
    await runner(store, engine).run('job-1', () => undefined);
    expect(engine.requests.map((r) => r.messages.at(-1)?.content)).toEqual([
      'prompt 3',
      'prompt 4'
    ]);
    expect(store.progress.done).toBe(4);
  });

  it('fails an item whose prompt does not fit and goes on', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine(
      new Map([[1, () => new EngineError('context-exceeded', 'The prompt is too long.')]])
    );
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(store.results.get(1)).toMatchObject({
      status: 'failed',
      error: { code: 'context-exceeded', message: 'The prompt is too long.' }
    });
    expect(store.progress).toMatchObject({ done: 2, failed: 1, cursor: 3 });
  });

  it('restarts the engine on a new device after a lost device and finishes by itself', async () => {
    const store = new MemoryStore(job(4), inputs(4));
    const engine = new EchoEngine(
      new Map([[2, () => new EngineError('device-lost', 'The GPU device was lost (unknown).')]])
    );
    const r = runner(store, engine);
    const events: RunEvent[] = [];
    const outcome = await r.run('job-1', (event) => events.push(event));
    expect(outcome.state).toBe('completed');
    expect(store.commits).toBe(4);
    // The lost attempt was written as it began; the second is recorded with the result.
    expect(store.attempts.get(2)).toBe(1);
    expect(store.results.get(2)?.attempts).toBe(2);
    expect(engine.loads).toBe(2);
    expect(r.planned).toEqual([null, null]);
    expect(store.log.map((e) => e.message)).toEqual([
      'device lost (unknown) at item 3; engine restarted on a new device'
    ]);
    expect(events.some((e) => e.type === 'log')).toBe(true);
  });

  it('steps the plan down when the loss looks like memory, and finishes by itself', async () => {
    const store = new MemoryStore(job(4), inputs(4));
    const destroyed = () =>
      new EngineError('device-lost', 'The GPU device was lost (destroyed).', [], 'destroyed');
    const engine = new EchoEngine(new Map([[2, destroyed]]));
    const r = runner(store, engine);
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(store.commits).toBe(4);
    expect(r.planned).toEqual([null, 2048]);
    expect(store.log.map((e) => e.message)).toEqual([
      'device lost (destroyed) at item 3; context 4096 → 2048'
    ]);
    expect(store.progress).toMatchObject({ windowCap: 2048, plan: { contextWindow: 2048 } });
  });

  it('a memory loss with several sequences at once halves them first, then the window', async () => {
    const meta = { ...job(4), engine: { kind: 'webllm' as const, modelId: null, sequences: 4 } };
    const store = new MemoryStore(meta, inputs(4));
    const destroyed = () =>
      new EngineError('device-lost', 'The GPU device was lost (destroyed).', [], 'destroyed');
    const engine = new EchoEngine(new Map([[2, destroyed]]));
    const r = runner(store, engine);
    expect((await r.run('job-1', () => undefined)).state).toBe('completed');
    expect(store.commits).toBe(4);
    expect(r.sequences).toEqual([4, 2]);
    expect(r.planned).toEqual([null, null]);
    expect(store.log.map((e) => [e.kind, e.message])).toEqual([
      ['step-down', 'device lost (destroyed) at item 3; sequences at once 4 → 2']
    ]);
    expect(store.progress).toMatchObject({
      sequencesCap: 2,
      windowCap: null,
      plan: { sequences: 2 }
    });
  });

  it('fails an item that three attempts did not finish with its last error, and goes on', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    const original = engine.generate.bind(engine);
    engine.generate = async (request, onText, signal) => {
      if (request.messages.at(-1)?.content === 'prompt 2') {
        throw new EngineError('device-lost', 'The GPU device was lost (unknown).');
      }
      return original(request, onText, signal);
    };
    const r = runner(store, engine);
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(store.results.get(1)).toMatchObject({
      status: 'failed',
      attempts: 3,
      error: {
        code: 'device-lost',
        message:
          '3 attempts did not finish this item; the last one ended with: The GPU device was lost (unknown).'
      }
    });
    expect(store.results.get(2)?.status).toBe('done');
    expect(store.log.map((e) => e.kind)).toEqual(['restart', 'step-down', 'step-down', 'poison']);
    expect(r.planned).toEqual([null, null, 2048, 1024]);
  });

  it('at the smallest plan, crashes at one item restart the engine until the item fails', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    store.progress = { ...initialProgress(0), windowCap: 1024 };
    const engine = new EchoEngine();
    const original = engine.generate.bind(engine);
    engine.generate = async (request, onText, signal) => {
      if (request.messages.at(-1)?.content === 'prompt 2') {
        throw new EngineError('device-lost', 'The GPU device was lost (unknown).', [], 'unknown');
      }
      return original(request, onText, signal);
    };
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(store.log.map((e) => e.kind)).toEqual(['restart', 'restart', 'restart', 'poison']);
    expect(store.results.get(1)?.status).toBe('failed');
    expect(store.progress).toMatchObject({ done: 2, failed: 1 });
  });

  it('runs queued failed items again, overwriting their results, and keeps the counts right', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    await runner(store, engine).run('job-1', () => undefined);
    store.results.set(1, { ...store.results.get(1)!, status: 'failed', text: '' });
    store.progress = { ...store.progress, done: 2, failed: 1, retry: [1], state: 'paused' };
    engine.requests = [];
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(engine.requests.map((r) => r.messages.at(-1)?.content)).toEqual(['prompt 2']);
    expect(store.results.get(1)?.status).toBe('done');
    expect(store.progress).toMatchObject({ done: 3, failed: 0, cursor: 3, retry: [] });
  });

  it('pauses with a clear message when the disk is full, leaving no item half-written', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    const r = runner(store, engine);
    const original = store.writeRun.bind(store);
    store.writeRun = async (jobId, write) => {
      if (write.results.some((result) => result.index === 1))
        throw new DOMException('Quota exceeded', 'QuotaExceededError');
      return original(jobId, write);
    };
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect(outcome.error?.code).toBe('quota');
    // What finished together with item 1 went in its transaction: none of it is counted.
    const saved = store.results.size;
    expect(saved).toBeLessThanOrEqual(1);
    expect(outcome.error?.message).toBe(
      `The browser has no more room for this job: the storage quota is used up (QuotaExceededError). The latest results could not be written: those items run again when you resume. Nothing was lost: ${saved} of 3 results are saved. Free some space (delete finished jobs after exporting them, or a cached model), then press Resume.`
    );
    expect([...store.results.keys()]).toEqual(saved ? [0] : []);
    expect(store.progress.cursor).toBe(saved);
    store.writeRun = original;
    expect((await r.run('job-1', () => undefined)).state).toBe('completed');
    expect([...store.results.keys()]).toEqual([0, 1, 2]);
  });

  it('Resume on a disk still full pauses with the full-disk message, not a crash', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    store.progress = { ...initialProgress(0), state: 'paused' };
    store.saveProgress = async () => {
      throw new DOMException('Quota exceeded', 'QuotaExceededError');
    };
    const engine = new EchoEngine();
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect(outcome.error?.code).toBe('quota');
    expect(outcome.error?.message).toContain('Nothing was lost: 0 of 3 results are saved.');
    expect(engine.requests).toHaveLength(0);
  });

  it('a full disk met anywhere (the exact counts, a run-log line) pauses the same way', async () => {
    const quota = () => new DOMException('Quota exceeded', 'QuotaExceededError');
    // While the engine is prepared: the exact counts cannot be saved.
    const counting = new MemoryStore(job(3), inputs(3));
    counting.saveExactCounts = async () => {
      throw quota();
    };
    const counted = new EchoEngine();
    counted.counter = () => 5;
    const first = await runner(counting, counted).run('job-1', () => undefined);
    expect(first.state).toBe('paused');
    expect(first.error?.code).toBe('quota');
    expect(first.error?.message).toContain('Nothing was lost: 0 of 3 results are saved.');
    expect(counting.results.size).toBe(0);

    // While recovering: the line that says the engine restarts cannot be written.
    const logging = new MemoryStore(job(3), inputs(3));
    const original = logging.writeRun.bind(logging);
    logging.writeRun = async (jobId, write) => {
      if (write.log.some((entry) => entry.kind === 'restart')) throw quota();
      return original(jobId, write);
    };
    const lost = () => new EngineError('device-lost', 'The GPU device was lost (unknown).');
    const engine = new EchoEngine(new Map([[1, lost]]));
    const outcome = await runner(logging, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect(outcome.error?.code).toBe('quota');
    expect([...logging.results.keys()]).toEqual([0]);
    expect(logging.progress).toMatchObject({ cursor: 1, state: 'paused' });
    logging.writeRun = original;
    expect((await runner(logging, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect([...logging.results.keys()]).toEqual([0, 1, 2]);
  });

  it('at the smallest plan a further loss pauses the job with the saved count and advice', async () => {
    const store = new MemoryStore(job(4), inputs(4));
    store.progress = { ...initialProgress(0), windowCap: 1024 };
    const lost = () =>
      new EngineError('device-lost', 'The GPU device was lost (destroyed).', [], 'destroyed');
    const engine = new EchoEngine(new Map([[1, lost]]));
    const outcome = await runner(store, engine, { window: 4096 }).run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect(outcome.error?.message).toBe(
      'The GPU device was lost (destroyed). This happened at item 2 with the smallest plan (a context of 1024 tokens). Nothing was lost: 1 of 4 results are saved. Choose a smaller model, close other tabs and programs that use the GPU, then press Resume.'
    );
    expect(store.progress).toMatchObject({ cursor: 1, state: 'paused' });
    expect(store.log.at(-1)?.kind).toBe('paused');
  });

  it('fails items whose prompt cannot fit the window without sending them to the engine', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    const outcome = await runner(store, engine, {
      window: 1024,
      promptTokens: (content) => (content === 'prompt 2' ? 5000 : 10)
    }).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(engine.requests.map((r) => r.messages.at(-1)?.content)).toEqual([
      'prompt 1',
      'prompt 3'
    ]);
    expect(store.results.get(1)).toMatchObject({
      status: 'failed',
      attempts: 0,
      error: {
        code: 'context-exceeded',
        message:
          "The prompt needs about 5000 tokens, but the plan's context of 1024 tokens leaves 960 for the prompt after the answer."
      }
    });
  });

  /** A tokenizer for the tests: 'prompt N' counts as `sizes[N]` tokens, else 10 (system message included). */
  function tokenizer(sizes: Record<number, number>) {
    const calls: string[] = [];
    const count = (request: GenerateRequest) => {
      const content = request.messages.at(-1)?.content ?? '';
      calls.push(content);
      return sizes[Number(content.split(' ')[1])] ?? 10;
    };
    return { count, calls };
  }

  it("counts every prompt once with the model's tokenizer, saves the exact needs and fails too-long items with the exact count", async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    const { count, calls } = tokenizer({ 2: 5000, 3: 40 });
    engine.counter = count;
    const events: RunEvent[] = [];
    const outcome = await runner(store, engine, { window: 1024 }).run('job-1', (event) =>
      events.push(event)
    );
    expect(outcome.state).toBe('completed');
    expect(store.exact).toEqual({
      needs: { longestPromptTokens: 5000, maxAnswerTokens: 64, exact: true },
      promptTokens: [10, 5000, 40]
    });
    expect(events.filter((e) => e.type === 'needs')).toEqual([
      { type: 'needs', needs: { longestPromptTokens: 5000, maxAnswerTokens: 64, exact: true } }
    ]);
    expect(store.log.map((e) => [e.kind, e.message])).toEqual([
      [
        'tokens',
        "Counted the prompts with the model's tokenizer: the longest needs 5,000 tokens (estimated 20)"
      ]
    ]);
    // The whole job once (for the needs), then each item before it is sent.
    expect(calls).toEqual(['prompt 1', 'prompt 2', 'prompt 3', 'prompt 1', 'prompt 2', 'prompt 3']);
    expect(engine.requests.map((r) => r.messages.at(-1)?.content)).toEqual([
      'prompt 1',
      'prompt 3'
    ]);
    expect(store.results.get(1)?.error).toEqual({
      code: 'context-exceeded',
      message:
        "The prompt needs 5000 tokens, but the plan's context of 1024 tokens leaves 960 for the prompt after the answer."
    });
  });

  it('grows the window and reloads the engine when the exact counts need more than the estimate', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    engine.counter = tokenizer({ 2: 1500 }).count;
    const r = runner(store, engine, { fromNeeds: true });
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(engine.loads).toBe(2);
    expect(store.log.at(-1)?.message).toBe(
      "Counted the prompts with the model's tokenizer: the longest needs 1,500 tokens (estimated 20); context 1024 → 2048"
    );
    expect(store.progress.plan?.contextWindow).toBe(2048);
    expect(store.progress).toMatchObject({ done: 3, failed: 0 });
  });

  it('keeps a window larger than the exact counts need (no reload) and reads the inputs in chunks', async () => {
    const meta = {
      ...job(2500),
      needs: { longestPromptTokens: 3500, maxAnswerTokens: 64, exact: false }
    };
    const store = new MemoryStore(meta, inputs(2500));
    const engine = new EchoEngine();
    engine.counter = tokenizer({}).count;
    const r = runner(store, engine, { fromNeeds: true });
    store.progress = { ...store.progress, cursor: 2499, done: 2499 };
    expect((await r.run('job-1', () => undefined)).state).toBe('completed');
    expect(engine.loads).toBe(1);
    expect(store.inputReads).toBe(2);
    expect(store.exact?.promptTokens).toHaveLength(2500);
    expect(store.progress.plan?.contextWindow).toBe(4096);
    expect(store.log.at(-1)?.message).toBe(
      "Counted the prompts with the model's tokenizer: the longest needs 10 tokens (estimated 3,500)"
    );
  });

  it('does not count the job again once its needs are exact', async () => {
    const meta = {
      ...job(2),
      needs: { longestPromptTokens: 10, maxAnswerTokens: 64, exact: true }
    };
    const store = new MemoryStore(meta, inputs(2));
    const engine = new EchoEngine();
    const { count, calls } = tokenizer({});
    engine.counter = count;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(store.exact).toBeNull();
    expect(store.inputReads).toBe(0);
    expect(calls).toEqual(['prompt 1', 'prompt 2']);
  });

  it("stops with the plan's refusal when nothing fits, changing no result", async () => {
    const store = new MemoryStore(job(2), inputs(2));
    const engine = new EchoEngine();
    const r = new Runner({
      store,
      createEngine: () => engine,
      now: () => 1,
      plan: async () => ({
        ok: false,
        reasons: [],
        refusal: 'Qwen2.5-7B-Instruct needs 5,107 MiB but this GPU has 4,096 MiB.',
        suggestion: null
      }),
      promptTokens: () => 10,
      stepDown
    });
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome).toMatchObject({
      state: 'stopped',
      error: {
        code: 'does-not-fit',
        message:
          'Qwen2.5-7B-Instruct needs 5,107 MiB but this GPU has 4,096 MiB. Nothing was lost: 0 of 2 results are saved.'
      }
    });
    expect(engine.loads).toBe(0);
  });

  it('stops on an error that is not about memory, with everything kept, and a second run finishes', async () => {
    const store = new MemoryStore(job(4), inputs(4));
    const engine = new EchoEngine(
      new Map([[2, () => new EngineError('load-failed', 'The runner stopped.')]])
    );
    const r = runner(store, engine);
    const first = await r.run('job-1', () => undefined);
    expect(first.state).toBe('stopped');
    expect(first.error?.message).toBe(
      'The runner stopped. Nothing was lost: 2 of 4 results are saved. Press Resume to continue from where it stopped.'
    );
    expect(store.progress).toMatchObject({ cursor: 2, state: 'stopped' });
    expect(store.results.has(2)).toBe(false);
    expect(store.attempts.get(2)).toBe(1);
    const second = await r.run('job-1', () => undefined);
    expect(second.state).toBe('completed');
    expect(store.results.get(2)?.attempts).toBe(2);
  });

  it('stops when the engine cannot load, naming the host, and changes no result', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    engine.load = async () => {
      throw new EngineError(
        'network',
        'Could not download M: huggingface.co could not be reached.'
      );
    };
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('stopped');
    expect(outcome.error?.message).toContain('huggingface.co could not be reached');
    expect(outcome.error?.message).toContain('Nothing was lost: 0 of 3 results are saved.');
    expect(store.commits).toBe(0);
    expect(store.progress.cursor).toBe(0);
  });

  it('pauses after the current token and keeps the partial item out', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    const r = runner(store, engine);
    const original = engine.generate.bind(engine);
    engine.generate = async (request, onText, signal) => {
      if (request.messages.at(-1)?.content === 'prompt 2') {
        r.pause('job-1');
        onText('partial');
      }
      return original(request, onText, signal);
    };
    const outcome = await r.run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect([...store.results.keys()]).toEqual([0]);
    expect(store.progress).toMatchObject({ cursor: 1, state: 'paused' });
  });
});

/** A scoring job: pairs scored with the preset, `perPrompt` pairs in one prompt. */
function scoringJob(total: number, perPrompt: number): JobMeta {
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

function pairs(count: number, withImages: number[] = []): ItemInput[] {
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
class ScoringEngine extends EchoEngine {
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

describe('Runner: several pairs per prompt', () => {
  it('scores 8 pairs per prompt, commits each batch in one transaction, the same scores as alone', async () => {
    const alone = new MemoryStore(scoringJob(20, 1), pairs(20));
    await runner(alone, new ScoringEngine()).run('job-1', () => undefined);
    const store = new MemoryStore(scoringJob(20, 8), pairs(20));
    const engine = new ScoringEngine();
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(engine.prompts).toEqual([8, 8, 4]);
    expectWrittenTogether(store, [
      [0, 1, 2, 3, 4, 5, 6, 7],
      [8, 9, 10, 11, 12, 13, 14, 15],
      [16, 17, 18, 19]
    ]);
    for (let i = 0; i < 20; i++) {
      expect(store.results.get(i)?.answer).toEqual(alone.results.get(i)?.answer);
      expect(store.results.get(i)?.text).toBe(JSON.stringify({ score: 1 + (i % 5) }));
    }
    expect(store.progress).toMatchObject({
      done: 20,
      failed: 0,
      unparsed: 0,
      cursor: 20,
      retry: []
    });
    // The batch's tokens are shared out, so the totals add up.
    expect(store.progress.promptTokens).toBe(300);
    expect(store.progress.completionTokens).toBe(200);
  });

  it('a pair the answer leaves out is scored alone; pairs with images are committed as not sent', async () => {
    const store = new MemoryStore(scoringJob(10, 5), pairs(10, [2]));
    const engine = new ScoringEngine();
    engine.drop.add('p3');
    const log: RunLogEntry[] = [];
    await runner(store, engine).run('job-1', (event) => {
      if (event.type === 'log') log.push(event.entry);
    });
    expect(store.results.get(2)).toMatchObject({
      status: 'skipped',
      skipReason: expect.stringContaining('images')
    });
    // The pair left out is scored alone at once, before the next batch.
    expect(engine.prompts).toEqual([4, 1, 5]);
    expectWrittenTogether(store, [[0, 1, 2, 4], [3], [5, 6, 7, 8, 9]]);
    expect(store.results.get(3)?.answer).toEqual({ ok: true, value: { score: 4 } });
    expect(store.progress).toMatchObject({ done: 9, skipped: 1, cursor: 10, retry: [] });
    expect(log.map((entry) => entry.message)).toContain(
      'the batch of pairs p0 to p4: the answer left out 1 of 4 pairs; they are scored alone'
    );
  });

  it('a batch that loses the device three times is split, and its pairs run alone', async () => {
    const store = new MemoryStore(scoringJob(4, 4), pairs(4));
    const engine = new ScoringEngine();
    const original = engine.generate.bind(engine);
    engine.generate = async (request) => {
      if (request.schema?.type === 'array') {
        throw new EngineError('device-lost', 'The GPU device was lost (unknown).', [], 'unknown');
      }
      return original(request);
    };
    const outcome = await runner(store, engine, { window: 1024 }).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(store.batchAttempts.get(0)).toBe(3);
    // The split writes no result: the pairs are queued, then each is committed alone.
    expectWrittenTogether(store, [[0], [1], [2], [3]]);
    expect(store.log.map((entry) => entry.kind)).toEqual([
      'restart',
      'restart',
      'restart',
      'split'
    ]);
    expect(store.progress).toMatchObject({ done: 4, failed: 0, cursor: 4, retry: [] });
  });

  it('resumes at the batch it stopped in: nothing scored twice', async () => {
    const store = new MemoryStore(scoringJob(12, 4), pairs(12));
    const engine = new ScoringEngine();
    const r = runner(store, engine);
    const original = engine.generate.bind(engine);
    let calls = 0;
    engine.generate = async (request) => {
      if (++calls === 2) r.pause('job-1');
      return original(request);
    };
    const first = await r.run('job-1', () => undefined);
    expect(first.state).toBe('paused');
    expect(store.progress.cursor).toBe(8);
    const second = await r.run('job-1', () => undefined);
    expect(second.state).toBe('completed');
    expectWrittenTogether(store, [
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9, 10, 11]
    ]);
  });
});

/**
 * An engine that runs `concurrency` items at once, each taking a few event-loop turns;
 * `poison` items lose the device whenever they run (with everything running beside them).
 */
class ConcurrentEngine extends EchoEngine {
  running = 0;
  maxRunning = 0;
  poison = new Set<number>();
  losses = 0;
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
        if (this.poison.has(index)) {
          this.losses++;
          // The whole device goes: every item running with it is lost too.
          setTimeout(() => this.#lost.splice(0).forEach((fail) => fail()), 5);
          return;
        }
        const timer = setTimeout(
          () => {
            this.#lost = this.#lost.filter((fail) => fail !== lose);
            resolve();
          },
          2 + (index % 3)
        );
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

describe('Runner: several items in flight', () => {
  it("keeps the engine's number of items running, commits each once, and the results are in input order", async () => {
    const store = new MemoryStore(job(40), inputs(40));
    const engine = new ConcurrentEngine(4);
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('completed');
    expect(engine.maxRunning).toBe(4);
    expect(store.commits).toBe(40);
    expect([...store.results.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: 40 }, (_, i) => i)
    );
    expect(store.progress).toMatchObject({ cursor: 40, ahead: [], done: 40, retry: [] });
  });

  it('a lost device with 4 in flight runs all 4 again, each alone; the poison one alone is failed, the others complete', async () => {
    const store = new MemoryStore(job(12), inputs(12));
    const engine = new ConcurrentEngine(4);
    engine.poison.add(5);
    const log: string[] = [];
    const outcome = await runner(store, engine).run('job-1', (event) => {
      if (event.type === 'log') log.push(event.entry.message);
    });
    expect(outcome.state).toBe('completed');
    expect(store.results.get(5)).toMatchObject({
      status: 'failed',
      error: { code: 'device-lost', message: expect.stringContaining('3 attempts did not finish') }
    });
    for (let i = 0; i < 12; i++) if (i !== 5) expect(store.results.get(i)?.status).toBe('done');
    // Once together (blaming no one), then 3 times alone.
    expect(engine.losses).toBe(4);
    expect(store.attempts.get(5)).toBe(3);
    expect(store.progress).toMatchObject({ done: 11, failed: 1, suspects: [], cursor: 12 });
    expect(log).toContain('item 6 failed after 3 attempts (device-lost); moving on');
  });

  it('Pause stops every item in flight and keeps none of them', async () => {
    const store = new MemoryStore(job(20), inputs(20));
    const engine = new ConcurrentEngine(4);
    const r = runner(store, engine);
    let committed = 0;
    const outcome = await r.run('job-1', (event) => {
      if (event.type === 'committed' && ++committed === 6) r.pause('job-1');
    });
    expect(outcome.state).toBe('paused');
    expect(store.commits).toBe(committed);
    expect(engine.running).toBe(0);
    const resumed = await r.run('job-1', () => undefined);
    expect(resumed.state).toBe('completed');
    expect(store.commits).toBe(20);
  });

  it('resumes from the cursor and the ranges finished above it, running only what is left', async () => {
    const store = new MemoryStore(job(10), inputs(10));
    store.progress = {
      ...store.progress,
      cursor: 2,
      ahead: [
        [3, 5],
        [7, 8]
      ],
      done: 5
    };
    const engine = new ConcurrentEngine(3);
    await runner(store, engine).run('job-1', () => undefined);
    expect(engine.requests.map((r) => r.messages.at(-1)?.content)).toEqual(
      expect.arrayContaining(['prompt 3', 'prompt 6', 'prompt 7', 'prompt 9', 'prompt 10'])
    );
    expect(engine.requests).toHaveLength(5);
    expect(store.progress).toMatchObject({ cursor: 10, ahead: [], done: 10 });
  });
});
