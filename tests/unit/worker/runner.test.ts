import { describe, expect, it } from 'vitest';
import { EchoEngine, MemoryStore, inputs, job, runner } from './runner-fakes';

describe('Runner', () => {
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
