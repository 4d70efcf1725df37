/**
 * The simulated model under the step loop, on a fake GPU (a pass that resolves, a device that
 * can be lost): the loop's actions one at a time, and the model's answers and fault knobs.
 */
import { describe, expect, it } from 'vitest';
import type { GenerateRequest } from '$lib/shared/request';
import { EngineError, type LostInfo } from '$lib/worker/engine/errors';
import { admit } from '$lib/worker/engine/loop/actions/admit';
import { decode } from '$lib/worker/engine/loop/actions/decode';
import { prefill } from '$lib/worker/engine/loop/actions/prefill';
import { checkDevice, failAll, stepFailure } from '$lib/worker/engine/loop/actions/recover';
import { retire } from '$lib/worker/engine/loop/actions/retire';
import { sample } from '$lib/worker/engine/loop/actions/sample';
import { LoopGenerator } from '$lib/worker/engine/loop/generator';
import { StepLoop } from '$lib/worker/engine/loop/loop';
import type { StepModel } from '$lib/worker/engine/loop/model';
import { Sequence, type LoopAnswer } from '$lib/worker/engine/loop/sequence';
import { simulatedModel, type SimulatedKnobs } from '$lib/worker/engine/loop/simulated-model';
import { loopState } from '$lib/worker/engine/loop/state';
import {
  simulatedCompletion,
  simulatedJson,
  simulatedPromptIds
} from '$lib/worker/engine/simulated-text';

function fakeDevice() {
  let lose: (info: LostInfo) => void = () => undefined;
  const deviceLost = new Promise<LostInfo>((resolve) => (lose = resolve));
  const gpu = { passes: 0, destroyed: false };
  return {
    gpu,
    deviceLost,
    lose: (info: LostInfo) => lose(info),
    gpuPass: () => {
      gpu.passes++;
      return Promise.resolve();
    },
    destroyDevice: () => {
      gpu.destroyed = true;
      lose({ reason: 'destroyed', message: '' });
    }
  };
}

function model(slots: number, knobs: Partial<SimulatedKnobs> = {}) {
  const device = fakeDevice();
  const sim = simulatedModel({ slots, tokenDelayMs: 0, hangAtItem: null, ...knobs, ...device });
  return { sim, device };
}

const ask = (content: string, extra: Partial<GenerateRequest> = {}): GenerateRequest => ({
  messages: [{ role: 'user', content }],
  temperature: 0.7,
  top_p: 0.9,
  max_tokens: 64,
  seed: 3,
  ...extra
});

const PROMPTS = ['one', 'two words', 'three words here', 'four', 'five five', 'six'];

/** The text, finish and token counts the simulated engine gives each prompt. */
async function run(
  slots: number,
  requests: GenerateRequest[],
  knobs: Partial<SimulatedKnobs> = {}
) {
  const { sim } = model(slots, knobs);
  const loop = new LoopGenerator(sim, 4096);
  const controller = new AbortController();
  return Promise.all(
    requests.map((request, index) =>
      loop.generate(request, () => undefined, controller.signal, { index, attempt: 1 })
    )
  );
}

describe('the simulated model under the step loop', () => {
  it('spells the placeholder text of each request, the same at 1 and 4 sequences at once', async () => {
    const requests = PROMPTS.map((prompt, i) => ask(prompt, { max_tokens: i === 2 ? 5 : 64 }));
    const alone = await run(1, requests);
    const four = await run(4, requests);
    const shape = (results: typeof alone) =>
      results.map((r) => [
        r.text,
        r.finishReason,
        r.usage.prompt_tokens,
        r.usage.completion_tokens
      ]);
    expect(shape(four)).toEqual(shape(alone));
    requests.forEach((request, i) => {
      const expected = simulatedCompletion(request);
      expect(alone[i]!.text).toBe(expected.tokens.join(''));
      expect(alone[i]!.finishReason).toBe(expected.finishReason);
      expect(alone[i]!.usage.prompt_tokens).toBe(simulatedPromptIds(request).length);
      // Every token sampled counts, the stop token included, as on the real runtime.
      expect(alone[i]!.usage.completion_tokens).toBe(
        expected.tokens.length + (expected.finishReason === 'stop' ? 1 : 0)
      );
    });
    expect(alone[2]).toMatchObject({ finishReason: 'length' });
    expect(alone[2]!.usage.completion_tokens).toBe(5);
  });

  it('answers a schema with its JSON; breakEvery cuts every Nth item’s answer once', async () => {
    const schema = { type: 'object', properties: { score: { type: 'integer', enum: [1, 2, 3] } } };
    const requests = [0, 1, 2, 3].map((i) => ask(`pair ${i}`, { schema }));
    const answers = await run(2, requests, { breakEvery: 2 });
    expect(answers[0]!.text).toBe(simulatedJson({ ...requests[0]!, schema }));
    expect(() => JSON.parse(answers[1]!.text) as unknown).toThrow();
    expect(() => JSON.parse(answers[3]!.text) as unknown).toThrow();
    expect(JSON.parse(answers[2]!.text)).toEqual(
      JSON.parse(simulatedJson({ ...requests[2]!, schema }))
    );
  });

  it('echo: each answer quotes the prompt first', async () => {
    const [answer] = await run(1, [ask('<b>hi</b>')], { echo: true });
    expect(answer!.text.startsWith('You said: <b>hi</b>\n')).toBe(true);
  });

  it('a poison item crashes the GPU: every sequence in flight fails as a lost device', async () => {
    const { sim, device } = model(3, { poisonItem: 1 });
    const loop = new LoopGenerator(sim, 4096);
    const signal = new AbortController().signal;
    const results = [0, 1, 2].map((index) =>
      loop
        .generate(ask(PROMPTS[index]!), () => undefined, signal, { index, attempt: 1 })
        .catch((e: unknown) => e)
    );
    const errors = (await Promise.all(results)) as EngineError[];
    for (const error of errors) {
      expect(error).toBeInstanceOf(EngineError);
      expect([error.code, error.lostReason, error.message]).toEqual([
        'device-lost',
        'unknown',
        'The GPU device was lost (unknown: the simulated crash at item 2).'
      ]);
    }
    expect(device.gpu.destroyed).toBe(true);
  });

  it('a held item stops after one token until Pause or a lost device ends it', async () => {
    const { sim, device } = model(1, { holdAt: [7] });
    const loop = new LoopGenerator(sim, 4096);
    const heard: string[] = [];
    const stop = new AbortController();
    const held = loop.generate(ask('hold me'), (d) => heard.push(d), stop.signal, {
      index: 7,
      attempt: 1
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(heard).toHaveLength(1);
    stop.abort();
    await expect(held).rejects.toMatchObject({ code: 'cancelled' });
    // Held once: the next attempt runs through; a lost device ends a hold as well.
    const again = await loop.generate(
      ask('hold me'),
      () => undefined,
      new AbortController().signal,
      {
        index: 7,
        attempt: 2
      }
    );
    expect(again.finishReason).toBe('stop');
    const { sim: sim2, device: device2 } = model(1, { holdAt: [8] });
    const loop2 = new LoopGenerator(sim2, 4096);
    const lostHold = loop2.generate(ask('x'), () => undefined, new AbortController().signal, {
      index: 8,
      attempt: 1
    });
    setTimeout(() => device2.lose({ reason: 'unknown', message: 'killed' }), 20);
    await expect(lostHold).rejects.toMatchObject({ code: 'device-lost', lostReason: 'unknown' });
    expect(device.gpu.destroyed).toBe(false);
  });

  it('one GPU pass a prefill and a decode step; one per item with gpuPassPerItem', async () => {
    const counted = async (knobs: Partial<SimulatedKnobs>) => {
      const { sim, device } = model(1, knobs);
      await new LoopGenerator(sim, 4096).generate(
        ask('one', { max_tokens: 4 }),
        () => undefined,
        new AbortController().signal
      );
      return device.gpu.passes;
    };
    // A 4-token answer: its prompt's prefill, then 3 decode steps.
    expect(await counted({})).toBe(4);
    expect(await counted({ gpuPassPerItem: true })).toBe(1);
  });

  it('a request counted and then run is laid out once', async () => {
    const { sim } = model(1);
    let layouts = 0;
    const promptIds = sim.promptIds.bind(sim);
    sim.promptIds = (request) => (layouts++, promptIds(request));
    const generator = new LoopGenerator(sim, 4096);
    const request = ask('one', { max_tokens: 2 });
    expect(generator.promptIds(request)).toEqual(simulatedPromptIds(request));
    const result = await generator.generate(request, () => undefined, new AbortController().signal);
    expect(result.usage.prompt_tokens).toBe(simulatedPromptIds(request).length);
    expect(layouts).toBe(1);
  });

  it('prefix: a kept system prompt is read once a slot, kept for the next prompt; the answers are those read whole', async () => {
    const system = { role: 'system' as const, content: 'Rate the answer from 1 to 5, as JSON.' };
    const requests = ['one', 'two words', 'three words here', 'four'].map((content) => ({
      ...ask(content, { max_tokens: 6 }),
      messages: [system, { role: 'user' as const, content }]
    }));
    const prefix = simulatedPromptIds({ ...requests[0]!, messages: [system] }).slice(0, -2);
    const answers = async (prefixTokens: number, sharePrefix = true) => {
      const { sim } = model(2);
      const passes: number[] = [];
      const prefill = sim.prefill.bind(sim);
      sim.prefill = (slot, ids, logits) => (passes.push(ids.length), prefill(slot, ids, logits));
      const loop = new StepLoop(sim, { window: 4096, prefixTokens, sharePrefix });
      const out = await Promise.all(
        requests.map((request) => {
          const text: string[] = [];
          const promptIds = simulatedPromptIds(request);
          const req = {
            request,
            promptIds,
            maxTokens: 6,
            seed: 3,
            onText: (d: string) => text.push(d)
          };
          return loop.generate(req).then((answer) => ({ ...answer, text: text.join('') }));
        })
      );
      return { out, read: passes.reduce((a, b) => a + b, 0) };
    };
    const whole = await answers(0);
    const unshared = await answers(prefix.length, false);
    const shared = await answers(prefix.length);
    expect(shared.out.map((a) => a.text)).toEqual(whole.out.map((a) => a.text));
    expect(unshared.out.map((a) => a.text)).toEqual(whole.out.map((a) => a.text));
    // Two slots: the first two prompts read the prefix, one each; the next two find it kept.
    expect(shared.out.map((a) => a.cachedTokens)).toEqual([0, 0, prefix.length, prefix.length]);
    expect(whole.out.map((a) => a.cachedTokens)).toEqual([0, 0, 0, 0]);
    expect(unshared.out.map((a) => a.cachedTokens)).toEqual([0, 0, 0, 0]);
    expect(whole.read - shared.read).toBe(2 * prefix.length);
    expect(unshared.read).toBe(whole.read);
  });
});

/** A sequence for `model`'s state, its promise's end recorded. */
function sequenceOf(sim: StepModel, content: string, extra: Partial<GenerateRequest> = {}) {
  const request = ask(content, extra);
  const ended: { answer?: LoopAnswer; error?: unknown } = {};
  const sequence = new Sequence(
    {
      request,
      promptIds: simulatedPromptIds(request),
      maxTokens: request.max_tokens,
      seed: request.seed,
      onText: () => undefined,
      ...(extra.schema ? { schema: JSON.stringify(extra.schema) } : {})
    },
    { resolve: (answer) => (ended.answer = answer), reject: (error) => (ended.error = error) }
  );
  return { sequence, ended };
}

describe('the step loop’s actions, one at a time (on the simulated model)', () => {
  it('admit: waiting sequences take the free slots in the order they asked; the rest wait', async () => {
    const { sim } = model(2);
    const state = loopState(sim, 4096);
    const made = ['a', 'b', 'c'].map((content) => sequenceOf(sim, content));
    state.waiting.push(...made.map((m) => m.sequence));
    await admit(state);
    expect(state.live.map((s) => s.slot)).toEqual([0, 1]);
    expect(state.live.map((s) => s.status)).toEqual(['live', 'live']);
    expect(state.waiting).toEqual([made[2]!.sequence]);
    expect(state.freeSlots).toEqual([]);
  });

  it('prefill: reads the oldest reading sequence’s prompt, then samples its first token', async () => {
    const { sim } = model(2);
    const state = loopState(sim, 4096);
    const a = sequenceOf(sim, 'first prompt');
    const b = sequenceOf(sim, 'second');
    state.waiting.push(a.sequence, b.sequence);
    await admit(state);
    expect(await prefill(state)).toBe(a.sequence.promptTokens);
    expect(a.sequence.reading).toBe(false);
    expect(a.sequence.sampled).toBe(1);
    expect(b.sequence.reading).toBe(true);
    expect(await prefill(state)).toBe(b.sequence.promptTokens);
    expect(await prefill(state)).toBe(0);
  });

  it('decode: one token for every sequence with one to feed back', async () => {
    const { sim } = model(2);
    const state = loopState(sim, 4096);
    const a = sequenceOf(sim, 'first');
    const b = sequenceOf(sim, 'second');
    state.waiting.push(a.sequence, b.sequence);
    await admit(state);
    await prefill(state);
    expect(await decode(state)).toBe(1);
    await prefill(state);
    expect(await decode(state)).toBe(2);
    expect([a.sequence.sampled, b.sequence.sampled]).toEqual([3, 2]);
  });

  it('sample: a grammar’s mask holds the token; a row’s own failure fails it alone', async () => {
    const { sim } = model(2);
    const state = loopState(sim, 4096);
    const good = sequenceOf(sim, 'good');
    const bad = sequenceOf(sim, 'bad');
    Object.assign(bad.sequence.request, { topP: 0 });
    state.waiting.push(good.sequence, bad.sequence);
    await admit(state);
    // Only token 1 may come next for the good row, though its logits put token 0 first.
    good.sequence.matcher = {
      getNextTokenBitmask: () => Promise.resolve(new Int32Array([1 << 1])),
      acceptToken: (token) => token === 1,
      dispose() {}
    };
    const vocab = sim.vocabSize;
    const logits = new Float32Array(2 * vocab);
    logits[0] = 5;
    logits[vocab] = 5;
    await sample(state, [good.sequence, bad.sequence], logits);
    expect(good.sequence.outputIds).toEqual([1]);
    expect(good.sequence.failure).toBeNull();
    expect(bad.sequence.failure?.message).toBe('Generation failed: top_p must be in (0, 1].');
    expect(bad.sequence.sampled).toBe(0);
  });

  it('retire: a finished sequence leaves its slot at once and settles with its answer', async () => {
    const { sim } = model(1);
    const state = loopState(sim, 4096);
    const a = sequenceOf(sim, 'one', { max_tokens: 1 });
    state.waiting.push(a.sequence);
    await admit(state);
    await prefill(state);
    expect(a.sequence.finish).toBe('length');
    retire(state);
    expect(state.live).toEqual([]);
    expect(state.freeSlots).toEqual([0]);
    expect(a.ended.answer).toEqual({
      finishReason: 'length',
      promptTokens: a.sequence.promptTokens,
      completionTokens: 1,
      cachedTokens: 0
    });
  });

  it('recover: a step’s error waits for the device to say it is lost, then fails every sequence', async () => {
    const { sim, device } = model(2);
    const state = loopState(sim, 4096);
    const live = sequenceOf(sim, 'live');
    const waiting = sequenceOf(sim, 'waiting');
    state.live.push(live.sequence);
    state.waiting.push(waiting.sequence);
    setTimeout(() => device.lose({ reason: 'unknown', message: 'killed' }), 20);
    const error = await stepFailure(state, {});
    expect([error.code, error.message]).toEqual([
      'device-lost',
      'The GPU device was lost (unknown: killed).'
    ]);
    expect(() => checkDevice(state)).toThrow('The GPU device was lost');
    failAll(state, error);
    expect([live.ended.error, waiting.ended.error]).toEqual([error, error]);
    expect(state.live.length + state.waiting.length).toBe(0);
    // Not a loss: the runtime's own error, typed once.
    const { sim: other } = model(1);
    const failure = await stepFailure(
      loopState(other, 4096),
      new Error('Out of memory in a kernel')
    );
    expect([failure.code, failure.message]).toEqual([
      'out-of-memory',
      'The GPU ran out of memory (Out of memory in a kernel).'
    ]);
  });
});
