import { describe, expect, it } from 'vitest';
import { EngineError } from '$lib/worker/engine/errors';
import { Runner, type RunEvent } from '$lib/worker/runner';
import { initialProgress } from '$lib/store/jobs';
import { stepDown } from '$lib/plan/memory';
import {
  ConcurrentEngine,
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

describe('Run', () => {
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
});

describe('Run: several pairs per prompt', () => {
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

describe('Run: several items in flight', () => {
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

  /** Runs `total` items 8 at once, each 20 ms, on `engine`; the run log's messages by kind. */
  async function runEight(engine: ConcurrentEngine, total: number) {
    const store = new MemoryStore(job(total), inputs(total));
    const log: { kind: string; message: string }[] = [];
    const outcome = await runner(store, engine).run('job-1', (event) => {
      if (event.type === 'log') log.push({ kind: event.entry.kind, message: event.entry.message });
    });
    const groups = log.filter((line) => line.kind === 'suspects').map((line) => line.message);
    return { store, outcome, log, groups };
  }

  const eightEngine = () => {
    const engine = new ConcurrentEngine(8);
    engine.itemMs = () => 20;
    return engine;
  };

  /**
   * The groups a poison item among items 1–8 is found by, after the 8 ran together again: the
   * half with it fails and is halved; a half that finishes clears itself, and the other half is
   * halved in turn. The device is lost by each group that holds it.
   */
  const SEARCHES: { poison: number; groups: string[] }[] = [
    { poison: 0, groups: ['items 1–4 (4 of 8', 'items 1 and 2 (2 of 4', 'item 1 (1 of 2'] },
    {
      poison: 3,
      groups: ['items 1–4 (4 of 8', 'items 1 and 2 (2 of 4', 'item 3 (1 of 2', 'item 4 (1 of 1']
    },
    { poison: 4, groups: ['items 1–4 (4 of 8', 'items 5 and 6 (2 of 4', 'item 5 (1 of 2'] },
    {
      poison: 7,
      groups: ['items 1–4 (4 of 8', 'items 5 and 6 (2 of 4', 'item 7 (1 of 2', 'item 8 (1 of 1']
    }
  ];

  /** Whether a group line ("items 1–4 (", "items 5 and 6 (", "item 3 (") holds item `n`. */
  function groupHolds(group: string, n: number): boolean {
    const items = group.slice(0, group.indexOf(' (')).replace(/^items? /, '');
    const range = /^(\d+)–(\d+)$/.exec(items);
    if (range) return n >= Number(range[1]) && n <= Number(range[2]);
    return items
      .split(/, | and /)
      .map(Number)
      .includes(n);
  }

  for (const { poison, groups: expected } of SEARCHES) {
    it(`a poison item among 8 in flight (item ${poison + 1}) is found by halving: at most 4 lone or halved runs, its 7 neighbours complete, the plan stays`, async () => {
      const engine = eightEngine();
      engine.poison.add(poison);
      const { store, outcome, log, groups } = await runEight(engine, 24);
      expect(outcome.state).toBe('completed');
      expect(store.results.get(poison)).toMatchObject({
        status: 'failed',
        error: { code: 'device-lost', message: expect.stringContaining('attempts did not finish') }
      });
      for (let i = 0; i < 24; i++)
        if (i !== poison) expect(store.results.get(i)?.status).toBe('done');
      expect(groups[0]).toBe(
        'items 1–8 run again with nothing beside them: the device was lost while they ran'
      );
      const halved = groups.slice(1);
      expect(halved.map((line) => line.slice(0, line.indexOf(' suspects)')))).toEqual(expected);
      expect(halved.length).toBeLessThanOrEqual(4);
      const holding = expected.filter((group) => groupHolds(group, poison + 1));
      expect(engine.losses).toBe(2 + holding.length);
      expect(log.filter((line) => line.kind === 'poison').map((line) => line.message)).toEqual([
        `item ${poison + 1} failed after ${2 + holding.length} attempts, the last alone (device-lost); moving on`
      ]);
      // None of the losses lowered the job's plan: 8 at once after the search, as before it.
      expect(log.some((line) => line.kind === 'step-down')).toBe(false);
      expect(store.progress).toMatchObject({
        done: 23,
        failed: 1,
        suspects: [],
        cursor: 24,
        sequencesCap: null,
        windowCap: null
      });
      expect(engine.maxRunning).toBe(8);
    });
  }

  it("a loss that was nobody's (a crash, once) costs one batch: the 8 run again together and the job goes on", async () => {
    const engine = eightEngine();
    engine.loseOnce.add(2);
    const { store, outcome, log, groups } = await runEight(engine, 24);
    expect(outcome.state).toBe('completed');
    expect(groups).toEqual([
      'items 1–8 run again with nothing beside them: the device was lost while they ran'
    ]);
    expect(engine.losses).toBe(1);
    expect(log.filter((line) => line.kind === 'restart')).toHaveLength(1);
    expect(store.progress).toMatchObject({ done: 24, failed: 0, suspects: [], cursor: 24 });
    // No item ran more than twice: once in the lost batch, once again.
    for (let i = 0; i < 8; i++) expect(store.results.get(i)?.attempts).toBeLessThanOrEqual(2);
  });

  it('the suspects and how they run are saved with the progress: a run stopped mid-search resumes it', async () => {
    const engine = eightEngine();
    engine.poison.add(5);
    const store = new MemoryStore(job(16), inputs(16));
    const r = runner(store, engine);
    let losses = 0;
    const first = await r.run('job-1', (event) => {
      if (event.type === 'log' && event.entry.kind === 'restart' && ++losses === 2)
        r.pause('job-1');
    });
    expect(first.state).toBe('paused');
    // Lost together twice: the 8 are halved next.
    expect(store.progress).toMatchObject({
      suspects: [0, 1, 2, 3, 4, 5, 6, 7],
      suspectRun: 'half'
    });
    const log: string[] = [];
    const second = await r.run('job-1', (event) => {
      if (event.type === 'log' && event.entry.kind === 'suspects') log.push(event.entry.message);
    });
    expect(second.state).toBe('completed');
    expect(log[0]).toMatch(/^items 1–4 \(4 of 8 suspects\)/);
    expect(store.results.get(5)?.status).toBe('failed');
    expect(store.progress).toMatchObject({ done: 15, failed: 1 });
  });

  it('a lone item lost at 4 sequences at once runs alone until its attempts run out, then fails: no endless restarts', async () => {
    const engine = new ConcurrentEngine(4);
    engine.poison.add(0);
    const { store, outcome, log } = await runEight(engine, 1);
    expect(outcome.state).toBe('completed');
    expect(store.results.get(0)).toMatchObject({ status: 'failed' });
    expect(engine.losses).toBe(3);
    expect(log.filter((line) => line.kind === 'poison').map((line) => line.message)).toEqual([
      'item 1 failed after 3 attempts, the last alone (device-lost); moving on'
    ]);
  });

  it('a Pause stored before the run started (its message was lost) pauses it before anything runs', async () => {
    const store = new MemoryStore(job(8), inputs(8));
    store.pauseAt = 1;
    const engine = new ConcurrentEngine(4);
    const outcome = await runner(store, engine).run('job-1', () => undefined);
    expect(outcome.state).toBe('paused');
    expect([store.progress.state, store.commits, engine.maxRunning]).toEqual(['paused', 0, 0]);
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
