import { describe, expect, it } from 'vitest';
import { EngineError } from '$lib/worker/engine/errors';
import { StepLoop } from '$lib/worker/engine/loop/loop';
import { aloneAnswer, toyGrammars, toyModel, type ToyModel } from './toy-model';
import { loopRequest } from './loop-request';

const request = loopRequest;

function loop(model: ToyModel, window = 64) {
  return new StepLoop(model, { window });
}

const PROMPTS = [[1, 2], [3], [4, 5, 6], [7, 8], [9], [10, 11, 12, 13, 14, 15]];
const MAX = [3, 6, 2, 5, 4, 3];

const range = (n: number) => Array.from({ length: n }, (_, i) => 1 + i);

describe('StepLoop (on a toy model)', () => {
  it('gives every request the answer it gets alone, with slots reused as sequences finish', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const runs = PROMPTS.map((prompt, i) => request(prompt, MAX[i]!));
    const answers = await Promise.all(runs.map((run) => steps.generate(run.req)));
    runs.forEach((run, i) => {
      expect(run.streamed.join('')).toBe(aloneAnswer(PROMPTS[i]!, MAX[i]!));
      expect(answers[i]!.promptTokens).toBe(PROMPTS[i]!.length);
    });
    const decodes = model.calls.filter((call) => call.fn === 'decode');
    expect(Math.max(...decodes.map((call) => call.slots.length))).toBe(2);
    expect(model.removed.length).toBe(PROMPTS.length);
    expect(new Set(model.removed)).toEqual(new Set([0, 1]));
    // Fewer forward passes than one at a time: decodes were shared.
    const alone = runs.reduce((sum, _, i) => sum + MAX[i]! - 1, 0);
    expect(decodes.length).toBeLessThan(alone);
    expect(steps.size).toBe(0);
  });

  it('a batch of one: one sequence at a time, in the order asked, each in slot 0', async () => {
    const model = toyModel(1);
    const steps = loop(model);
    const runs = PROMPTS.slice(0, 3).map((prompt, i) => request(prompt, MAX[i]!));
    await Promise.all(runs.map((run) => steps.generate(run.req)));
    runs.forEach((run, i) => expect(run.streamed.join('')).toBe(aloneAnswer(PROMPTS[i]!, MAX[i]!)));
    expect(model.added).toEqual([0, 0, 0]);
    expect(model.calls.every((call) => call.slots.length === 1)).toBe(true);
  });

  it('counts every sampled token, a stop token included, and finishes on its own stop', async () => {
    // The toy model says STOP (19) after the prompt [1]: (7 * 31 + 1 + 1) % 20 = 19.
    const steps = loop(toyModel(4));
    const run = request([1], 5);
    const answer = await steps.generate(run.req);
    expect(answer).toEqual({
      finishReason: 'stop',
      promptTokens: 1,
      completionTokens: 1,
      cachedTokens: 0
    });
    expect(run.streamed.join('')).toBe('');
    const long = await steps.generate(request([1, 2], 3).req);
    expect(long).toEqual({
      finishReason: 'length',
      promptTokens: 2,
      completionTokens: 3,
      cachedTokens: 0
    });
  });

  it('prefills a long prompt in chunks of the model’s size, one sequence a call', async () => {
    const model = toyModel(2, 4);
    const steps = loop(model);
    const run = request([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2);
    await steps.generate(run.req);
    expect(model.calls.filter((call) => call.fn === 'prefill').map((c) => c.lengths)).toEqual([
      [4],
      [4],
      [2]
    ]);
    expect(run.streamed.join('')).toBe(aloneAnswer([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 2));
  });

  it('a cancelled request leaves the loop and frees its slot; the others finish', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const stop = new AbortController();
    const first = request([1, 2], 30);
    first.req.onText = () => stop.abort();
    const cancelled = steps.generate(first.req, stop.signal);
    const others = [request([3], 4), request([7, 8], 3)];
    const done = Promise.all(others.map((run) => steps.generate(run.req)));
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    await done;
    others.forEach((run, i) =>
      expect(run.streamed.join('')).toBe(aloneAnswer([[3], [7, 8]][i]!, [4, 3][i]!))
    );
    expect(model.removed).toHaveLength(3);
  });

  it('a failed step fails every sequence with one typed error, and every later request', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const results = [request([1], 9), request([2], 9), request([3], 9)].map((run) =>
      steps.generate(run.req)
    );
    model.failNext = new Error('The kernel said no.');
    for (const result of results) {
      const error = (await result.catch((e: unknown) => e)) as EngineError;
      expect(error).toBeInstanceOf(EngineError);
      expect([error.code, error.message]).toEqual([
        'generation-failed',
        'Generation failed: The kernel said no.'
      ]);
    }
    await expect(steps.generate(request([4], 2).req)).rejects.toThrow('The kernel said no.');
  });

  it('a device lost under a step fails every sequence as a lost device, with its reason', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const results = [request([1], 9), request([2], 9)].map((run) => steps.generate(run.req));
    // As a GPU-process kill in the real runtime: the forward call throws a plain object
    // (no Error, no message), and device.lost settles a moment later.
    model.failNext = {};
    setTimeout(
      () =>
        model.loseDevice({
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
    await expect(steps.generate(request([4], 2).req)).rejects.toThrow('The GPU device was lost');
  });

  it('logits that never come back are no answer, though device.lost says so only later', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const runs = [request([1], 9), request([2], 9)];
    const results = runs.map((run) => steps.generate(run.req));
    model.loseDuringRead = { reason: 'destroyed', message: '', lostAfterMs: 30 };
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

  it('a lost device stops the next step before it reads anything', async () => {
    const model = toyModel(1);
    const steps = loop(model);
    model.loseDevice({ reason: 'unknown', message: 'gone' });
    await Promise.resolve();
    await expect(steps.generate(request([1], 3).req)).rejects.toMatchObject({
      code: 'device-lost',
      message: 'The GPU device was lost (unknown: gone).'
    });
    expect(model.calls).toEqual([]);
  });

  it('a schema that does not compile fails its own request only', async () => {
    const steps = loop(toyModel(2));
    const bad = steps.generate(request([1], 3, { schema: 'bad' }).req);
    const good = request([3], 3, { schema: '{"type":"object"}' });
    await expect(bad).rejects.toMatchObject({
      code: 'generation-failed',
      message: 'Generation failed: Invalid JSON schema'
    });
    await steps.generate(good.req);
    expect(good.streamed.join('')).toBe(aloneAnswer([3], 3));
  });

  it('a seed the generator refuses, or a token the grammar rejects, fails that request only', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const badSeed = steps.generate(request([1], 3, { seed: -5 }).req);
    const refused = steps.generate(request([2], 3, { schema: 'refuse' }).req);
    const good = request([3], 3);
    const answer = steps.generate(good.req);
    await expect(badSeed).rejects.toThrow('not strictly positive');
    await expect(refused).rejects.toThrow('Grammar matcher rejected the newly sampled token.');
    await expect(answer).resolves.toMatchObject({ finishReason: 'length' });
    expect(good.streamed.join('')).toBe(aloneAnswer([3], 3));
    // The failed sequence's slot was freed, and the loop still takes requests.
    await expect(steps.generate(request([7, 8], 2).req)).resolves.toMatchObject({
      completionTokens: 2
    });
    expect(steps.size).toBe(0);
  });

  it('a top-p out of range fails that request only, saying so', async () => {
    const steps = loop(toyModel(2));
    const bad = steps.generate(request([1], 3, { topP: 0 }).req);
    await expect(bad).rejects.toMatchObject({
      message: 'Generation failed: top_p must be in (0, 1].'
    });
    await expect(steps.generate(request([3], 2).req)).resolves.toMatchObject({
      completionTokens: 2
    });
  });

  it('a cancelled request hears no more text, and close fails what is left and frees the model', async () => {
    const model = toyModel(2);
    const steps = loop(model);
    const stop = new AbortController();
    const heard: string[] = [];
    const cancelled = steps.generate(
      request([1, 2], 30, {
        onText: (delta) => {
          heard.push(delta);
          stop.abort();
        }
      }).req,
      stop.signal
    );
    const other = steps.generate(request([3], 30).req);
    await expect(cancelled).rejects.toMatchObject({ name: 'AbortError' });
    expect(heard).toHaveLength(1);
    await steps.close();
    await expect(other).rejects.toMatchObject({
      code: 'device-lost',
      message: 'The model was unloaded while it ran.'
    });
    await expect(steps.generate(request([4], 2).req)).rejects.toThrow('unloaded');
    expect(model.disposed).toBe(true);
  });

  it('refuses a prompt that leaves no room in the window, and an empty one, with typed errors', async () => {
    const steps = loop(toyModel(2), 8);
    await expect(steps.generate(request([1, 2, 3, 4, 5, 6, 7, 8], 2).req)).rejects.toMatchObject({
      code: 'context-exceeded'
    });
    await expect(steps.generate(request([], 2).req)).rejects.toMatchObject({
      code: 'generation-failed',
      message: 'The prompt has no tokens.'
    });
  });

  it('a schema is asked of the model’s grammars once a sequence, when it is admitted', async () => {
    const compiled: string[] = [];
    const steps = loop(toyModel(2, 4, toyGrammars(compiled)));
    const schemas = ['{"a":1}', '{"a":1}', '{"b":2}'];
    await Promise.all(
      schemas.map((schema, i) => steps.generate(request([i + 1], 2, { schema }).req))
    );
    expect(compiled).toEqual(schemas);
  });

  it('the job’s prefix is a chunk of its own; a slot keeps it, trimmed back, for the next prompt that begins with it, which reads only the rest, with the answers they get alone', async () => {
    const model = toyModel(1, 4);
    const prefix = [1, 2, 3, 4, 5, 6];
    const steps = new StepLoop(model, { window: 64, prefixTokens: prefix.length });
    const prompts = [
      [...prefix, 9],
      [...prefix, 10, 11],
      [2, 3],
      prefix,
      [...prefix, 12, 13, 14, 15, 16],
      [...prefix, 17]
    ];
    const answers = [];
    for (const prompt of prompts) {
      const run = request(prompt, 3);
      answers.push(await steps.generate(run.req));
      expect(run.streamed.join('')).toBe(aloneAnswer(prompt, 3));
    }
    expect(answers.map((answer) => answer.cachedTokens)).toEqual([0, 6, 0, 0, 0, 6]);
    expect(answers.map((answer) => answer.promptTokens)).toEqual([7, 8, 2, 6, 11, 7]);
    // The prefix is read in chunks of 4 up to its end, then the rest; a kept one is not read.
    const prefills = model.calls.filter((call) => call.fn === 'prefill');
    expect(prefills.map((call) => call.lengths[0])).toEqual([4, 2, 1, 2, 2, 4, 2, 4, 2, 4, 1, 1]);
    // A slot is trimmed back to the prefix after each prompt that read it whole; one that does
    // not begin with it (or is only the prefix) frees it.
    expect(model.trimmed.map((trim) => trim.slot)).toEqual([0, 0, 0, 0]);
    expect(model.reused).toEqual([0, 0]);
    expect(model.removed).toEqual([0, 0, 0]);
    await steps.close();
    expect(model.disposed).toBe(true);
  });

  it('several slots each keep the prefix: answers as alone, and the prefix read once a slot', async () => {
    const model = toyModel(2, 4);
    const prefix = [1, 2, 3, 4, 5, 6, 7, 8];
    const steps = new StepLoop(model, { window: 64, prefixTokens: prefix.length });
    const prompts = Array.from({ length: 8 }, (_, i) => [...prefix, 9 + i, ...range(i)]);
    const runs = prompts.map((prompt) => request(prompt, 3));
    const answers = await Promise.all(runs.map((run) => steps.generate(run.req)));
    runs.forEach((run, i) => expect(run.streamed.join('')).toBe(aloneAnswer(prompts[i]!, 3)));
    expect(answers.filter((answer) => answer.cachedTokens === 8)).toHaveLength(6);
    const read = model.calls
      .filter((call) => call.fn === 'prefill')
      .reduce((sum, call) => sum + call.lengths[0]!, 0);
    const whole = prompts.reduce((sum, prompt) => sum + prompt.length, 0);
    expect(whole - read).toBe(6 * 8);
  });

  it('sharing off: the prefix is still a chunk of its own, read for every prompt, and no slot keeps it', async () => {
    const shared = toyModel(1, 4);
    const unshared = toyModel(1, 4);
    const prefix = [1, 2, 3, 4, 5, 6];
    const prompts = [
      [...prefix, 9],
      [...prefix, 10, 11]
    ];
    const streams = async (model: ToyModel, sharePrefix: boolean) => {
      const steps = new StepLoop(model, { window: 64, prefixTokens: 6, sharePrefix });
      const out = [];
      for (const prompt of prompts)
        out.push((await steps.generate(request(prompt, 3).req)).cachedTokens);
      return out;
    };
    expect(await streams(unshared, false)).toEqual([0, 0]);
    expect(await streams(shared, true)).toEqual([0, 6]);
    const lengths = (model: ToyModel) =>
      model.calls.filter((call) => call.fn === 'prefill').map((call) => call.lengths[0]);
    expect(lengths(unshared)).toEqual([4, 2, 1, 4, 2, 2]);
    expect(lengths(shared)).toEqual([4, 2, 1, 2]);
    expect(unshared.trimmed).toEqual([]);
    expect(unshared.removed).toEqual([0, 0]);
  });

  it('a model that cannot keep a prefix reads it as a chunk of its own for every prompt', async () => {
    const model: ToyModel = Object.assign(toyModel(2, 4), { sharing: undefined });
    const prefix = [1, 2, 3, 4, 5, 6];
    const steps = new StepLoop(model, { window: 64, prefixTokens: prefix.length });
    const answer = await steps.generate(request([...prefix, 5], 2).req);
    expect(answer.cachedTokens).toBe(0);
    expect(model.calls.filter((call) => call.fn === 'prefill').map((c) => c.lengths[0])).toEqual([
      4, 2, 1
    ]);
  });

  it('usePrefix between jobs: the slots keeping the last job’s prefix are freed; the next job’s prompts, of the same length of prefix, read theirs', async () => {
    const model = toyModel(2, 4);
    const steps = new StepLoop(model, { window: 64, prefixTokens: 4 });
    const first = [1, 2, 3, 4];
    const next = [5, 6, 7, 8];
    const run = async (prefix: number[], lasts: number[]) => {
      const runs = lasts.map((last) => request([...prefix, last], 3));
      const answers = await Promise.all(runs.map((r) => steps.generate(r.req)));
      runs.forEach((r, i) =>
        expect(r.streamed.join('')).toBe(aloneAnswer([...prefix, lasts[i]!], 3))
      );
      return answers.map((answer) => answer.cachedTokens);
    };
    expect(await run(first, [9, 10, 11])).toEqual([0, 0, 4]);
    const removed = model.removed.length;
    steps.usePrefix(4, true);
    // Both slots kept the first prefix: freed at once.
    expect(model.removed.length - removed).toBe(2);
    expect(await run(next, [9, 10, 11])).toEqual([0, 0, 4]);
    // A prompt whose first tokens differ from the kept prefix only in the last of them reads whole.
    expect(await run([5, 6, 7, 9], [12])).toEqual([0]);
    steps.usePrefix(0, true);
    expect(await run(next, [13])).toEqual([0]);
  });

  it('a sequence cancelled before it has read the whole prefix frees its slot; the next reads the prefix again', async () => {
    const model = toyModel(1, 4);
    const prefix = [1, 2, 3, 4, 5, 6, 7, 8];
    const steps = new StepLoop(model, { window: 64, prefixTokens: prefix.length });
    const controller = new AbortController();
    const read = model.prefill.bind(model);
    model.prefill = async (...args) => {
      const out = await read(...args);
      controller.abort();
      return out;
    };
    const cancelled = steps.generate(request([...prefix, 9], 3).req, controller.signal);
    await expect(cancelled).rejects.toThrow('cancelled');
    model.prefill = read;
    expect(model.removed).toEqual([0]);
    const next = request([...prefix, 10], 2);
    expect((await steps.generate(next.req)).cachedTokens).toBe(0);
    expect(next.streamed.join('')).toBe(aloneAnswer([...prefix, 10], 2));
    expect((await steps.generate(request([...prefix, 11], 2).req)).cachedTokens).toBe(8);
  });
});
