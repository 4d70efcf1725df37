import { afterEach, describe, expect, it, vi } from 'vitest';
import { FirstTokenTimer, readChatStream } from '$lib/worker/engine/server-stream';
import { sse, sseBody } from './sse';

/** Reads `body` with a first-token timer of `ms`; the deltas as they came. */
function read(body: ReadableStream<BufferSource>, ms = 1000, outer = new AbortController().signal) {
  const deltas: string[] = [];
  const timer = new FirstTokenTimer(ms, outer);
  const done = readChatStream(body, (delta) => deltas.push(delta), timer).finally(() =>
    timer.stop()
  );
  return { done, deltas, timer };
}

const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
const delta = (content: string, finish: string | null = null) =>
  event({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] });

describe('reading a chat completion stream', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('reads events split anywhere, handing on each delta as it comes', async () => {
    for (const cut of [1, 3, 7, 1000]) {
      const { done, deltas, timer } = read(sseBody(sse('Hello there friend', cut)));
      expect(await done).toEqual({
        text: 'Hello there friend',
        finishReason: 'stop',
        model: null,
        usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 },
        error: null,
        done: true
      });
      expect(deltas).toEqual(['Hello', ' there', ' friend']);
      expect(timer.stalled).toBe(false);
    }
  });

  it('passes over comment lines, empty deltas and events that are not JSON', async () => {
    const body = [
      ': keep-alive\n\n',
      delta('a'),
      ':ping\n\n',
      event({ choices: [{ index: 0, delta: { content: null }, finish_reason: null }] }),
      'data: {not json\n\n',
      ': another comment\ndata: ' + JSON.stringify({ choices: [{ delta: { content: 'b' } }] }),
      '\n\n',
      'data: [DONE]\n\n'
    ];
    const { done, deltas } = read(sseBody(body));
    expect(await done).toMatchObject({ text: 'ab', done: true, usage: null });
    expect(deltas).toEqual(['a', 'b']);
  });

  it('knows an answer is whole only once [DONE] came', async () => {
    const whole = read(sseBody([delta('a'), 'data: [DONE]\n\n']));
    expect(await whole.done).toMatchObject({ text: 'a', done: true });
    const cut = read(sseBody([delta('a'), delta('b')]));
    expect(await cut.done).toMatchObject({ text: 'ab', done: false });
    // Split inside the word itself.
    const split = read(sseBody([delta('a'), 'data: [DO', 'NE]\n', '\n']));
    expect(await split.done).toMatchObject({ done: true });
  });

  it('reads the usage chunk (the total from its parts when missing), the model and a cut by length', async () => {
    const body = [
      event({ model: 'served-name', choices: [{ delta: { content: 'x' } }] }),
      delta('', 'length'),
      event({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 1 } }),
      'data: [DONE]\n\n'
    ];
    expect(await read(sseBody(body)).done).toEqual({
      text: 'x',
      finishReason: 'length',
      model: 'served-name',
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      error: null,
      done: true
    });
  });

  it("keeps the server's error event as it sent it", async () => {
    const body = [delta('a'), event({ error: { message: 'out of KV cache' } }), 'data: [DONE]\n\n'];
    const stream = await read(sseBody(body)).done;
    expect(JSON.parse(stream.error ?? '')).toEqual({ error: { message: 'out of KV cache' } });
  });

  it('a first token that does not come in time cuts the stream as stalled; comments do not count', async () => {
    vi.useFakeTimers();
    const { done, timer } = read(
      sseBody([': keep-alive\n\n', ': ping\n\n'], { hangAfter: 2 }),
      200
    );
    const settled = done.then(
      () => 'resolved',
      () => 'rejected'
    );
    await vi.advanceTimersByTimeAsync(199);
    expect(timer.stalled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled).toBe('rejected');
    await expect(done).rejects.toMatchObject({ name: 'AbortError' });
    expect(timer.stalled).toBe(true);
  });

  it('once a token came, a slow stream is not a stall', async () => {
    vi.useFakeTimers();
    const { done, timer } = read(sseBody([delta('a')], { hangAfter: 1 }), 200);
    let outcome = 'pending';
    done.then(
      () => (outcome = 'resolved'),
      () => (outcome = 'rejected')
    );
    await vi.advanceTimersByTimeAsync(5000);
    expect(outcome).toBe('pending');
    expect(timer.stalled).toBe(false);
  });

  it('a stop from outside cuts it, and is not a stall', async () => {
    const outer = new AbortController();
    const { done, timer } = read(sseBody([': hi\n\n'], { hangAfter: 1 }), 60_000, outer.signal);
    outer.abort();
    await expect(done).rejects.toMatchObject({ name: 'AbortError' });
    expect(timer.stalled).toBe(false);
  });

  it('a dropped connection rejects with its error', async () => {
    const { done, timer } = read(sseBody(sse('cut short'), { dropAfter: 4 }));
    await expect(done).rejects.toThrow('network error');
    expect(timer.stalled).toBe(false);
  });
});
