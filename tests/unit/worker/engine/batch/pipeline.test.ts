import { describe, expect, it } from 'vitest';
import { BatchPipeline, type BatchRequest } from '$lib/worker/engine/batch/pipeline';
import { EngineError } from '$lib/worker/engine/errors';
import type { Xgrammar } from '$lib/worker/engine/batch/runtime';
import { aloneAnswer, fakeRuntime, fakeXgrammar, type FakeRuntime } from './fake-runtime';

function request(promptIds: number[], maxTokens: number, extra: Partial<BatchRequest> = {}) {
  const streamed: string[] = [];
  const req: BatchRequest = {
    promptIds,
    maxTokens,
    seed: 1,
    temperature: 0,
    topP: 1,
    onText: (delta) => streamed.push(delta),
    ...extra
  };
  return { req, streamed };
}

function pipeline(runtime: FakeRuntime, sequences: number, window = 64) {
  return new BatchPipeline(runtime, { sequences, window, xgrammar: fakeXgrammar });
}

const PROMPTS = [[1, 2], [3], [4, 5, 6], [7, 8], [9], [10, 11, 12, 13, 14, 15]];
const MAX = [3, 6, 2, 5, 4, 3];

describe('BatchPipeline (on a toy runtime)', () => {
  it('gives every request the answer it gets alone, with slots reused as sequences finish', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const runs = PROMPTS.map((prompt, i) => request(prompt, MAX[i]!));
    const answers = await Promise.all(runs.map((run) => batch.generate(run.req)));
    runs.forEach((run, i) => {
      expect(run.streamed.join('')).toBe(aloneAnswer(PROMPTS[i]!, MAX[i]!));
      expect(answers[i]!.promptTokens).toBe(PROMPTS[i]!.length);
    });
    const decodes = runtime.calls.filter((call) => call.fn === 'decode');
    expect(Math.max(...decodes.map((call) => call.slots.length))).toBe(2);
    // A decode of two sequences ran with a sequence admitted after another finished (slot reuse).
    expect(runtime.removed.length).toBe(PROMPTS.length);
    expect(new Set(runtime.removed)).toEqual(new Set([0, 1]));
    // Fewer forward passes than one at a time: decodes were shared.
    const alone = runs.reduce((sum, _, i) => sum + MAX[i]! - 1, 0);
    expect(decodes.length).toBeLessThan(alone);
    expect(batch.size).toBe(0);
  });

  it('counts every sampled token, a stop token included, and finishes on its own stop', async () => {
    // The toy model says STOP (19) after the prompt [4]: 1 * 7 + 4 * 3 = 19.
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 4);
    const run = request([4], 5);
    const answer = await batch.generate(run.req);
    expect(answer).toEqual({ finishReason: 'stop', promptTokens: 1, completionTokens: 1 });
    expect(run.streamed.join('')).toBe('');
    const long = await batch.generate(request([1, 2], 3).req);
    expect(long).toEqual({ finishReason: 'length', promptTokens: 2, completionTokens: 3 });
  });

  it('prefills a long prompt in chunks of the library’s size, one sequence a call', async () => {
    const runtime = fakeRuntime(4);
    const batch = pipeline(runtime, 2);
    const run = request([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2);
    await batch.generate(run.req);
    expect(runtime.calls.filter((call) => call.fn === 'prefill').map((c) => c.lengths)).toEqual([
      [4],
      [4],
      [2]
    ]);
    expect(run.streamed.join('')).toBe(aloneAnswer([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2));
  });

  it('a cancelled request leaves the batch and frees its slot; the others finish', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const stop = new AbortController();
    const first = request([1, 2], 30);
    first.req.onText = () => stop.abort();
    const cancelled = batch.generate(first.req, stop.signal);
    const others = [request([3], 4), request([7, 8], 3)];
    const done = Promise.all(others.map((run) => batch.generate(run.req)));
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    await done;
    others.forEach((run, i) =>
      expect(run.streamed.join('')).toBe(aloneAnswer([[3], [7, 8]][i]!, [4, 3][i]!))
    );
    expect(runtime.removed).toHaveLength(3);
  });

  it('a failed step fails every sequence with its error, and every later request', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const runs = [request([1], 9), request([2], 9), request([3], 9)];
    const results = runs.map((run) => batch.generate(run.req));
    runtime.failNext = new Error('A valid external Instance reference no longer exists.');
    for (const result of results)
      await expect(result).rejects.toThrow('A valid external Instance reference no longer exists.');
    await expect(batch.generate(request([4], 2).req)).rejects.toThrow('external Instance');
  });

  it('a device lost under a step fails every sequence as a lost device, with its reason', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const runs = [request([1], 9), request([2], 9)];
    const results = runs.map((run) => batch.generate(run.req));
    // As a GPU-process kill in the real runtime: the forward call throws a plain object
    // (no Error, no message), and device.lost settles a moment later.
    runtime.failNext = {};
    setTimeout(
      () =>
        runtime.loseDevice({
          reason: 'unknown',
          message: 'A valid external Instance reference no longer exists.'
        }),
      20
    );
    for (const result of results) {
      const error = (await result.catch((e: unknown) => e)) as EngineError;
      expect(error).toBeInstanceOf(EngineError);
      expect([error.code, error.lostReason, error.message]).toEqual([
        'device-lost',
        'unknown',
        'The GPU device was lost (unknown: A valid external Instance reference no longer exists.).'
      ]);
    }
    await expect(batch.generate(request([4], 2).req)).rejects.toThrow('The GPU device was lost');
  });

  it('logits read after the device is lost are no answer: the step fails, no text is streamed', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const runs = [request([1], 9), request([2], 9)];
    const results = runs.map((run) => batch.generate(run.req));
    // The device goes while the first step waits to read its logits back.
    runtime.loseDuringSync = { reason: 'destroyed', message: '' };
    for (const result of results) {
      const error = (await result.catch((e: unknown) => e)) as EngineError;
      expect([error.code, error.lostReason, error.message]).toEqual([
        'device-lost',
        'destroyed',
        'The GPU device was lost (destroyed).'
      ]);
    }
    expect(runs.map((run) => run.streamed.join(''))).toEqual(['', '']);
  });

  it('compiles a schema once for the requests that share it, again for another', async () => {
    const compiled: string[] = [];
    const xgrammar: Xgrammar = {
      ...fakeXgrammar,
      GrammarCompiler: {
        createGrammarCompiler: async (info) => {
          const compiler = await fakeXgrammar.GrammarCompiler.createGrammarCompiler(info);
          return {
            ...compiler,
            compileJSONSchema: (schema: string) => {
              compiled.push(schema);
              return compiler.compileJSONSchema(schema);
            }
          };
        }
      }
    };
    const batch = new BatchPipeline(fakeRuntime(), { sequences: 2, window: 64, xgrammar });
    const schemas = ['{"a":1}', '{"a":1}', '{"a":1}', '{"b":2}'];
    const answers = await Promise.all(
      schemas.map((schema, i) => batch.generate(request([i + 1], 2, { schema }).req))
    );
    expect(answers.map((answer) => answer.completionTokens > 0)).toEqual([true, true, true, true]);
    expect(compiled).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('logits that never arrive are no answer, though device.lost says so only later', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const runs = [request([1], 9), request([2], 9)];
    const results = runs.map((run) => batch.generate(run.req));
    // The read-back is dropped and the sync resolves before `lost` settles: the array still
    // holds what was there before the copy.
    runtime.loseDuringSync = { reason: 'unknown', message: 'gone', lostAfterMs: 30 };
    for (const result of results) {
      const error = (await result.catch((e: unknown) => e)) as EngineError;
      expect([error.code, error.message]).toEqual([
        'device-lost',
        'The GPU device was lost (unknown: gone).'
      ]);
    }
    expect(runs.map((run) => run.streamed.join(''))).toEqual(['', '']);
  });

  it('a schema xgrammar cannot compile fails its own request only', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const bad = batch.generate(request([1], 3, { schema: 'bad' }).req);
    const good = request([3], 3, { schema: '{"type":"object"}' });
    await expect(bad).rejects.toThrow('Invalid JSON schema');
    await batch.generate(good.req);
    expect(good.streamed.join('')).toBe(aloneAnswer([3], 3));
  });

  it('a seed the generator refuses, or a token the grammar rejects, fails that request only', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const badSeed = batch.generate(request([1], 3, { seed: -5 }).req);
    const refused = batch.generate(request([2], 3, { schema: 'refuse' }).req);
    const good = request([3], 3);
    const answer = batch.generate(good.req);
    await expect(badSeed).rejects.toThrow('not strictly positive');
    await expect(refused).rejects.toThrow('Grammar matcher rejected the newly sampled token.');
    await expect(answer).resolves.toMatchObject({ finishReason: 'length' });
    expect(good.streamed.join('')).toBe(aloneAnswer([3], 3));
    // The failed sequence's slot was freed, and the batch still takes requests.
    await expect(batch.generate(request([7, 8], 2).req)).resolves.toMatchObject({
      completionTokens: 2
    });
    expect(batch.size).toBe(0);
  });

  it('a cancelled request hears no more text, and close fails what is left', async () => {
    const runtime = fakeRuntime();
    const batch = pipeline(runtime, 2);
    const stop = new AbortController();
    const heard: string[] = [];
    const cancelled = batch.generate(
      request([1, 2], 30, {
        onText: (delta) => {
          heard.push(delta);
          stop.abort();
        }
      }).req,
      stop.signal
    );
    const other = batch.generate(request([3], 30).req);
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    expect(heard).toHaveLength(1);
    await batch.close();
    await expect(other).rejects.toThrow('Module has already been disposed.');
    await expect(batch.generate(request([4], 2).req)).rejects.toThrow('disposed');
  });

  it('refuses a prompt that leaves no room in the window, and an empty one', async () => {
    const batch = pipeline(fakeRuntime(), 2, 8);
    await expect(batch.generate(request([1, 2, 3, 4, 5, 6, 7, 8], 2).req)).rejects.toThrow(
      'context window size'
    );
    await expect(batch.generate(request([], 2).req)).rejects.toThrow('no tokens');
  });
});
