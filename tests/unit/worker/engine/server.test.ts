import { describe, expect, it } from 'vitest';
import { backoffMs } from '$lib/shared/backoff';
import type { ServerChoice } from '$lib/shared/engine-choice';
import type { GenerateRequest } from '$lib/shared/request';
import { RETRY_POLICY, ServerEngine, serverErrorText } from '$lib/worker/engine/server';
import { sse, sseBody } from './sse';

const choice: ServerChoice = {
  kind: 'server',
  baseUrl: 'http://127.0.0.1:8000/v1',
  model: 'Qwen/Qwen2.5-7B-Instruct',
  concurrency: 8,
  firstTokenMs: 200
};
const KEY = 'sk-secret-123';

const request: GenerateRequest = {
  messages: [{ role: 'user', content: 'Say hi' }],
  temperature: 0,
  top_p: 1,
  max_tokens: 20,
  seed: 1
};

function streamResponse(pieces: string[], drop: { dropAfter?: number } = {}): Response {
  return new Response(sseBody(pieces, drop), {
    status: 200,
    headers: { 'Content-Type': 'text/event-stream' }
  });
}

const models = () =>
  new Response(JSON.stringify({ data: [{ id: choice.model, owned_by: 'vllm' }] }), { status: 200 });

type Step = (init: RequestInit | undefined) => Response | Promise<Response>;

function engine(steps: Step[], key: string | null = KEY) {
  const calls: { url: string; init?: RequestInit }[] = [];
  const waits: number[] = [];
  const retries: string[] = [];
  const fake = (async (url: string, init?: RequestInit) => {
    calls.push({ url, init });
    if (url.endsWith('/models')) return models();
    const step = steps.shift();
    if (!step) throw new Error('no more steps');
    return step(init);
  }) as typeof fetch;
  const e = new ServerEngine(choice, {
    apiKey: async () => key,
    fetch: fake,
    random: () => 0.5,
    sleep: async (ms) => {
      waits.push(ms);
    }
  });
  const run = async (r: GenerateRequest = request) => {
    await e.load(null, () => undefined);
    let streamed = '';
    const result = await e.generate(r, (d) => (streamed += d), new AbortController().signal, {
      index: 0,
      attempt: 1,
      onRetry: (retry) => retries.push(retry.reason)
    });
    return { result, streamed };
  };
  return { e, run, calls, waits, retries };
}

describe('the server engine', () => {
  it('streams an answer from server-sent events split anywhere, with the usage chunk', async () => {
    const t = engine([() => streamResponse(sse('Hello there friend'))]);
    const { result, streamed } = await t.run();
    expect(result).toEqual({
      text: 'Hello there friend',
      finishReason: 'stop',
      model: choice.model,
      usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 }
    });
    expect(streamed).toBe('Hello there friend');
    const post = t.calls.find((c) => c.url.endsWith('/chat/completions'))!;
    expect(post.init?.headers).toMatchObject({ Authorization: `Bearer ${KEY}` });
    expect(JSON.parse(String(post.init?.body))).toEqual({
      model: choice.model,
      messages: request.messages,
      temperature: 0,
      top_p: 1,
      max_tokens: 20,
      seed: 1,
      stream: true,
      stream_options: { include_usage: true }
    });
  });

  it('asks for structured answers with response_format json_schema', async () => {
    const schema = { type: 'object', properties: { score: { type: 'integer' } } };
    const t = engine([() => streamResponse(sse('{"score": 3}'))]);
    await t.run({ ...request, schema });
    const post = t.calls.find((c) => c.url.endsWith('/chat/completions'))!;
    expect(JSON.parse(String(post.init?.body)).response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'answer', schema, strict: true }
    });
  });

  it('tries again after 429 (honouring Retry-After), 500, a dropped stream and a stalled first token', async () => {
    const t = engine([
      () =>
        new Response('{"error": {"message": "slow down"}}', {
          status: 429,
          headers: { 'Retry-After': '3' }
        }),
      () => new Response('{"message": "boom"}', { status: 500 }),
      () => streamResponse(sse('cut short'), { dropAfter: 4 }),
      (init) =>
        new Promise<Response>((_, reject) =>
          init?.signal?.addEventListener('abort', () =>
            reject(new DOMException('aborted', 'AbortError'))
          )
        ),
      () => streamResponse(sse('finally'))
    ]);
    const { result } = await t.run();
    expect(result.text).toBe('finally');
    expect(t.retries).toEqual([
      'HTTP 429: slow down',
      'HTTP 500: boom',
      expect.stringMatching(/^the connection dropped/),
      'no first token within 0 s'
    ]);
    expect(t.waits[0]).toBe(3000);
    // Exponential with jitter (random 0.5: three quarters of the ceiling).
    expect(t.waits.slice(1)).toEqual([
      backoffMs(RETRY_POLICY, 1, { random: () => 0.5 }),
      backoffMs(RETRY_POLICY, 2, { random: () => 0.5 }),
      backoffMs(RETRY_POLICY, 3, { random: () => 0.5 })
    ]);
  });

  it('a stop while it waits to try again ends the wait at once, as cancelled', async () => {
    const e = new ServerEngine(choice, {
      fetch: (async (url: string) =>
        url.endsWith('/models') ? models() : new Response('busy', { status: 503 })) as typeof fetch,
      retry: { ...RETRY_POLICY, firstMs: 60_000, maxMs: 60_000 }
    });
    await e.load(null, () => undefined);
    const controller = new AbortController();
    const waits: number[] = [];
    const generating = e.generate(request, () => undefined, controller.signal, {
      index: 0,
      attempt: 1,
      onRetry: (retry) => {
        waits.push(retry.waitMs);
        controller.abort();
      }
    });
    await expect(generating).rejects.toMatchObject({ code: 'cancelled', message: 'Stopped.' });
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThanOrEqual(30_000);
  });

  it('an item the server refuses fails with the server text, not retried', async () => {
    const t = engine([
      () =>
        new Response(
          '{"object":"error","message":"This model\'s maximum context length is 32768 tokens.","code":400}',
          { status: 400 }
        )
    ]);
    await expect(t.run()).rejects.toMatchObject({
      code: 'generation-failed',
      message:
        "The server refused this item (HTTP 400): This model's maximum context length is 32768 tokens."
    });
    expect(t.retries).toEqual([]);
  });

  it('a server that stays down is server-down after its tries, and never repeats the API key', async () => {
    const refused = () => {
      throw new TypeError(`Failed to fetch (key ${KEY})`);
    };
    const t = engine(Array.from({ length: RETRY_POLICY.tries }, () => refused));
    const error = (await t.run().then(
      () => null,
      (e: unknown) => e
    )) as Error & { code: string };
    expect(error.code).toBe('server-down');
    expect(error.message).toContain('The server at 127.0.0.1:8000 does not answer');
    expect(error.message).not.toContain(KEY);
    expect(error.message).toContain('[API key]');
    expect(t.retries).toHaveLength(RETRY_POLICY.tries - 1);
    for (const reason of t.retries) expect(reason).not.toContain(KEY);
  });

  it('a refused API key stops with a clear message', async () => {
    const t = engine([
      () => new Response(`{"error": {"message": "bad key ${KEY}"}}`, { status: 401 })
    ]);
    await expect(t.run()).rejects.toMatchObject({
      code: 'load-failed',
      message: expect.stringContaining('refused the API key (HTTP 401: bad key [API key])')
    });
  });

  it('a model the server does not serve is named at load, with the ones it does', async () => {
    const e = new ServerEngine(
      { ...choice, model: 'other' },
      { fetch: (async () => models()) as unknown as typeof fetch }
    );
    await expect(e.load(null, () => undefined)).rejects.toMatchObject({
      message: `The server at 127.0.0.1:8000 has no model "other"; it serves "${choice.model}". Create the job again with one of those.`
    });
  });
});

// Reading Retry-After is tested with the schedule, in tests/unit/shared/backoff.test.ts.
describe('retry timing', () => {
  it('backs off exponentially with jitter, up to a ceiling, Retry-After capped', () => {
    // Retry 0 is the wait before try 2.
    expect(backoffMs(RETRY_POLICY, 0, { random: () => 0 })).toBe(250);
    expect(backoffMs(RETRY_POLICY, 0, { random: () => 1 })).toBe(500);
    expect(backoffMs(RETRY_POLICY, 3, { random: () => 1 })).toBe(4000);
    expect(backoffMs(RETRY_POLICY, 18, { random: () => 1 })).toBe(RETRY_POLICY.maxMs);
    expect(backoffMs(RETRY_POLICY, 0, { retryAfterMs: 600_000, random: () => 0 })).toBe(
      RETRY_POLICY.maxRetryAfterMs
    );
  });

  it("reads the server's error text from OpenAI's, vLLM's or plain bodies", () => {
    expect(serverErrorText('{"error": {"message": "x"}}')).toBe('x');
    expect(serverErrorText('{"object": "error", "message": "y"}')).toBe('y');
    expect(serverErrorText('Bad Gateway')).toBe('Bad Gateway');
  });
});
