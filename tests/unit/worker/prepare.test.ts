import { describe, expect, it } from 'vitest';
import type { GenerateRequest } from '$lib/shared/request';
import type { RunEvent } from '$lib/worker/runner';
import { EngineError } from '$lib/worker/engine/errors';
import { EchoEngine, MemoryStore, inputs, job, runner } from './runner-fakes';

describe('prepareEngine: exact counts', () => {
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
      needs: { longestPromptTokens: 5000, maxAnswerTokens: 64, exact: true, prefixTokens: 0 },
      promptTokens: [10, 5000, 40]
    });
    expect(events.filter((e) => e.type === 'needs')).toEqual([
      {
        type: 'needs',
        needs: { longestPromptTokens: 5000, maxAnswerTokens: 64, exact: true, prefixTokens: 0 }
      }
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
      needs: { longestPromptTokens: 10, maxAnswerTokens: 64, exact: true, prefixTokens: 0 }
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

  /** Token ids: 40 shared (a system prompt), then the prompt's number, then its own tokens. */
  const sharedIds = (request: GenerateRequest) => {
    const n = Number((request.messages.at(-1)?.content ?? '').split(' ')[1]);
    return [...Array.from({ length: 40 }, (_, i) => 100 + i), n, n, n];
  };

  it('finds the prefix every prompt begins with, in whole KV pages, saves it with the needs, says so, and gives it to the engine', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const engine = new EchoEngine();
    engine.ids = sharedIds;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(store.exact?.needs.prefixTokens).toBe(32);
    expect(engine.prefixes).toEqual([{ tokens: 32, share: true }]);
    expect(store.log.map((e) => e.message)).toContain(
      "Every prompt begins with the same 32 tokens (2 KV pages): each sequence's KV slot keeps them, so they are read once a slot, not once a prompt (within the slot's window: no memory more)"
    );
  });

  it('prefix sharing off (the job made with ?prefixSharing=off): the prefix is still found and said, and the engine reads it with every prompt', async () => {
    const meta = job(3);
    const engine0 = meta.engine;
    if (engine0.kind !== 'simulated') throw new Error('The test job runs on the simulated engine.');
    const store = new MemoryStore(
      { ...meta, engine: { ...engine0, prefixSharing: false } },
      inputs(3)
    );
    const engine = new EchoEngine();
    engine.ids = sharedIds;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(engine.prefixes).toEqual([{ tokens: 32, share: false }]);
    expect(store.log.map((e) => e.message)).toContain(
      'Every prompt begins with the same 32 tokens (2 KV pages): read with every prompt (prefix sharing is off for this job)'
    );
  });

  it('a job counted already gives the engine its stored prefix at every run, without counting again', async () => {
    const meta = {
      ...job(2),
      needs: { longestPromptTokens: 60, maxAnswerTokens: 64, exact: true, prefixTokens: 48 }
    };
    const store = new MemoryStore(meta, inputs(2));
    const engine = new EchoEngine();
    engine.ids = sharedIds;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(store.exact).toBeNull();
    expect(store.inputReads).toBe(0);
    expect(engine.prefixes).toEqual([{ tokens: 48, share: true }]);
  });

  it('a job counted before prefixes were found is counted again, once, for its prefix', async () => {
    const meta = {
      ...job(2),
      needs: { longestPromptTokens: 60, maxAnswerTokens: 64, exact: true }
    };
    const store = new MemoryStore(meta, inputs(2));
    const engine = new EchoEngine();
    engine.ids = sharedIds;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(store.exact?.needs).toEqual({
      longestPromptTokens: 43,
      maxAnswerTokens: 64,
      exact: true,
      prefixTokens: 32
    });
    expect(engine.prefixes).toEqual([{ tokens: 32, share: true }]);
  });

  it('the loaded engine is kept between jobs that differ only in prefix sharing', async () => {
    const store = new MemoryStore(job(2), inputs(2));
    const engine = new EchoEngine();
    engine.ids = sharedIds;
    const r = runner(store, engine);
    expect((await r.run('job-1', () => undefined)).state).toBe('completed');
    const meta = job(2);
    if (meta.engine.kind !== 'simulated')
      throw new Error('The test job runs on the simulated engine.');
    Object.assign(store, { meta: { ...meta, engine: { ...meta.engine, prefixSharing: false } } });
    store.progress = { ...store.progress, state: 'paused', cursor: 0, ahead: [], done: 0 };
    store.results.clear();
    expect((await r.run('job-1', () => undefined)).state).toBe('completed');
    expect(engine.loads).toBe(1);
    expect(engine.prefixes.map((prefix) => prefix.share)).toEqual([true, false]);
  });

  it('after a lost device, the engine loaded again gets the prefix again (its slots kept none)', async () => {
    const store = new MemoryStore(job(3), inputs(3));
    const lost = () => new EngineError('device-lost', 'The GPU device was lost (unknown).');
    const engine = new EchoEngine(new Map([[1, lost]]));
    engine.ids = sharedIds;
    expect((await runner(store, engine).run('job-1', () => undefined)).state).toBe('completed');
    expect(engine.loads).toBe(2);
    expect(engine.prefixes).toEqual([
      { tokens: 32, share: true },
      { tokens: 32, share: true }
    ]);
  });
});
