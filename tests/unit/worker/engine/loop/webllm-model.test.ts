import { describe, expect, it } from 'vitest';
import { kvCapacity } from '$lib/plan/kv-cache';
import { EngineError } from '$lib/worker/engine/errors';
import { StepLoop } from '$lib/worker/engine/loop/loop';
import { webllmModel, type Xgrammar } from '$lib/worker/engine/loop/webllm-model';
import { aloneAnswer, fakeRuntime, fakeXgrammar, type FakeRuntime } from '../fake-webllm-runtime';
import { loopRequest } from './loop-request';

const request = loopRequest;

function loopOn(runtime: FakeRuntime, sequences: number, window = 64, xgrammar = fakeXgrammar) {
  return new StepLoop(webllmModel(runtime.engine, 'm', { sequences, window, xgrammar }), {
    window
  });
}

describe('webllmModel (WebLLM 0.2.79’s runtime, faked)', () => {
  it('one sequence at a time runs WebLLM’s own functions: prefill, decode for a one-token chunk, decode', async () => {
    const runtime = fakeRuntime(4);
    const steps = loopOn(runtime, 1);
    const long = request([1, 2, 3, 4, 5], 3);
    const short = request([6], 2);
    await Promise.all([steps.generate(long.req), steps.generate(short.req)]);
    expect(long.streamed.join('')).toBe(aloneAnswer([1, 2, 3, 4, 5], 3));
    expect(short.streamed.join('')).toBe(aloneAnswer([6], 2));
    expect(runtime.calls.map((call) => `${call.fn} ${call.lengths.join(',')}`)).toEqual([
      'prefill 4',
      'decoding 1', // the last chunk of [1..5] is one token: WebLLM runs it through decode
      'decoding 1',
      'decoding 1',
      'decoding 1', // [6] alone
      'decoding 1'
    ]);
  });

  it('several sequences run the batch functions, sharing decode passes', async () => {
    const runtime = fakeRuntime(4);
    const steps = loopOn(runtime, 2);
    const runs = [request([1, 2], 4), request([3], 4)];
    await Promise.all(runs.map((run) => steps.generate(run.req)));
    expect(runs.map((run) => run.streamed.join(''))).toEqual([
      aloneAnswer([1, 2], 4),
      aloneAnswer([3], 4)
    ]);
    expect(new Set(runtime.calls.map((call) => call.fn))).toEqual(
      new Set(['batch_prefill', 'batch_decode'])
    );
    expect(Math.max(...runtime.calls.map((call) => call.slots.length))).toBe(2);
  });

  it('a kept prefix: each slot trimmed back to it by the library’s own pop-n, the next prompt reads the rest; no page more in the cache', async () => {
    for (const sequences of [1, 2]) {
      const runtime = fakeRuntime(4);
      const prefix = Array.from({ length: 16 }, (_, i) => i + 1);
      const model = webllmModel(runtime.engine, 'm', {
        sequences,
        window: 64,
        xgrammar: fakeXgrammar
      });
      expect(runtime.caches[0]!.made[1]).toBe(kvCapacity(64, sequences));
      const steps = new StepLoop(model, { window: 64, prefixTokens: 16 });
      // Two tokens after the prefix: a one-token chunk would go through `decoding` at 1 sequence.
      const prompts = [17, 18, 19, 20].map((last) => [...prefix, last, last]);
      const runs = prompts.map((prompt) => request(prompt, 3));
      const answers = await Promise.all(runs.map((run) => steps.generate(run.req)));
      expect(runs.map((run) => run.streamed.join(''))).toEqual(
        prompts.map((prompt) => aloneAnswer(prompt, 3))
      );
      // The first `sequences` prompts read the prefix, one a slot; the rest find it kept.
      expect(answers.map((answer) => answer.cachedTokens)).toEqual(
        prompts.map((_, i) => (i < sequences ? 0 : 16))
      );
      // Trimmed back to the prefix: the prompt's last two tokens and the answer's fed back.
      expect(runtime.popped.map((pop) => pop.count)).toEqual([4, 4, 4, 4]);
      const read = runtime.calls
        .filter((call) => call.fn.endsWith('prefill'))
        .reduce((sum, call) => sum + call.lengths[0]!, 0);
      expect(read).toBe(4 * 18 - (4 - sequences) * 16);
    }
  });

  it('a library without pop-n reads every prompt whole', async () => {
    const runtime = fakeRuntime(4);
    runtime.hasPopN = false;
    const model = webllmModel(runtime.engine, 'm', {
      sequences: 1,
      window: 64,
      xgrammar: fakeXgrammar
    });
    expect(model.sharing).toBeUndefined();
    const steps = new StepLoop(model, { window: 64, prefixTokens: 16 });
    const prompts = [17, 18].map((last) => [...Array.from({ length: 16 }, (_, i) => i), last]);
    for (const prompt of prompts)
      expect((await steps.generate(request(prompt, 2).req)).cachedTokens).toBe(0);
    expect(runtime.removed).toEqual([0, 0]);
  });

  it('frees WebLLM’s own KV cache before it makes the loop’s: a window for each slot', () => {
    const runtime = fakeRuntime(4);
    webllmModel(runtime.engine, 'm', { sequences: 3, window: 1000, xgrammar: fakeXgrammar });
    expect(runtime.webllmKv.disposed).toBe(true);
    expect(runtime.caches.map((kv) => kv.made)).toEqual([[3, kvCapacity(1000, 3), 4, 16]]);
    expect(kvCapacity(1000, 3)).toBe(3 * 1008);
  });

  it('a device lost while the logits are read back: no answer, every sequence fails as a lost device', async () => {
    const runtime = fakeRuntime();
    const steps = loopOn(runtime, 2);
    const runs = [request([1], 9), request([2], 9)];
    const results = runs.map((run) => steps.generate(run.req));
    runtime.loseDuringSync = { reason: 'destroyed', message: '' };
    for (const result of results) {
      const error = (await result.catch((e: unknown) => e)) as EngineError;
      expect([error.code, error.lostReason]).toEqual(['device-lost', 'destroyed']);
    }
    expect(runs.map((run) => run.streamed.join(''))).toEqual(['', '']);
  });

  it('a read-back that never lands is seen (NaN), though device.lost settles only after the sync', async () => {
    const runtime = fakeRuntime();
    const steps = loopOn(runtime, 1);
    const run = request([1], 9);
    const result = steps.generate(run.req);
    runtime.loseDuringSync = { reason: 'unknown', message: 'gone', lostAfterMs: 30 };
    const error = (await result.catch((e: unknown) => e)) as EngineError;
    expect([error.code, error.message]).toEqual([
      'device-lost',
      'The GPU device was lost (unknown: gone).'
    ]);
    expect(run.streamed.join('')).toBe('');
  });

  it('compiles a schema once for the sequences that share it, again for another', async () => {
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
    const steps = loopOn(fakeRuntime(), 2, 64, xgrammar);
    const schemas = ['{"a":1}', '{"a":1}', '{"a":1}', '{"b":2}'];
    const answers = await Promise.all(
      schemas.map((schema, i) => steps.generate(request([i + 1], 2, { schema }).req))
    );
    expect(answers.map((answer) => answer.completionTokens > 0)).toEqual([true, true, true, true]);
    expect(compiled).toEqual(['{"a":1}', '{"b":2}']);
  });

  it('lays a request out with the pipeline’s template, its conv_config over it', () => {
    const runtime = fakeRuntime();
    (runtime.pipeline.config as { conv_config?: object }).conv_config = { system_message: 'ab' };
    const model = webllmModel(runtime.engine, 'm', {
      sequences: 1,
      window: 64,
      xgrammar: fakeXgrammar
    });
    const ids = model.promptIds({
      messages: [{ role: 'user', content: 'cd' }],
      temperature: 0,
      top_p: 1,
      max_tokens: 2,
      seed: 1
    });
    // One token a character: the system message, the user's, nothing else in this template.
    expect(ids).toEqual([0, 1, 2, 3]);
  });

  it('a WebLLM that keeps its runtime elsewhere is refused at load, in words', () => {
    const runtime = fakeRuntime();
    const pipeline: Partial<typeof runtime.pipeline> = { ...runtime.pipeline };
    delete pipeline.kvCache;
    const engine = { loadedModelIdToPipeline: new Map([['m', pipeline]]) };
    expect(() =>
      webllmModel(engine, 'm', { sequences: 1, window: 64, xgrammar: fakeXgrammar })
    ).toThrow(
      "WebLLM's runtime is not shaped as LocalBatch reads it (WebLLM 0.2.79): its pipeline lacks kvCache. The installed WebLLM is not the pinned one."
    );
    expect(() =>
      webllmModel({}, 'm', { sequences: 1, window: 64, xgrammar: fakeXgrammar })
    ).toThrow('no loaded pipelines');
  });
});
