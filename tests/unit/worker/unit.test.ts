import { describe, expect, it } from 'vitest';
import { EngineError } from '$lib/worker/engine/errors';
import type { RunEvent } from '$lib/worker/runner';
import { initialProgress } from '$lib/store/jobs';
import type { RunLogEntry } from '$lib/shared/job';
import {
  EchoEngine,
  MemoryStore,
  ScoringEngine,
  expectWrittenTogether,
  inputs,
  job,
  pairs,
  runner,
  scoringJob
} from './runner-fakes';

describe('runUnit', () => {
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
});

describe('runUnit: several pairs per prompt', () => {
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
});
