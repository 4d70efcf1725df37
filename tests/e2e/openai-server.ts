/**
 * A small OpenAI-compatible server for tests, on 127.0.0.1, started and stopped by
 * the test itself: GET /v1/models and POST /v1/chat/completions streamed as vLLM
 * streams them (`data: {chunk}` events, a finish chunk, a usage chunk, `data: [DONE]`,
 * a `: ping` comment, events split across writes). Answers are a pure function of the
 * request, so a run with faults must export exactly what a run without them does.
 * Faults are given per request number: 429 with Retry-After, 500, 503, a connection
 * dropped mid-stream, a stalled first token, a restart of the whole server, and a 400
 * that repeats the request's Authorization header (as a careless server might). A test can
 * hold every answer after the first few, so a job cannot finish before the test's fault lands.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export const SERVER_MODEL = 'Qwen/Qwen2.5-7B-Instruct';

export type Fault = '400' | '429' | '500' | '503' | 'drop' | 'stall' | 'restart';

export interface OpenAIServerOptions {
  /** Fault for the n-th chat request (1-based), if any. */
  faultAt?: (n: number) => Fault | null;
  /** Requests must bring `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** A fixed delay before each answer (ms), so several are in flight. */
  delayMs?: number;
}

export interface OpenAIServer {
  url: string;
  port: number;
  /** Chat requests received, faults included. */
  requests: number;
  faults: Record<Fault, number>;
  /** Every request's Authorization header and body, for privacy checks. */
  seen: { authorization: string; body: string }[];
  setFaults(faultAt: ((n: number) => Fault | null) | null): void;
  /** Answer `n` more chat requests, then hold every later one (it never answers). */
  holdAfter(n: number): void;
  /** Answer everything again (held requests stay held until their connection closes). */
  release(): void;
  /** Stops listening (and cuts every connection) until `start` again. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'authorization, content-type',
  'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
  'Access-Control-Expose-Headers': 'Retry-After'
};

/** FNV-1a: the same text, the same number. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const WORDS = 'the answer is plain and short because this server is only a test fixture'.split(' ');

/** The answer to a request: words picked by the request's messages, or JSON for a schema. */
function answerFor(body: {
  messages?: { content?: string }[];
  response_format?: unknown;
  max_tokens?: number;
}): string {
  const prompt = JSON.stringify(body.messages ?? []);
  const h = hash(prompt);
  if (body.response_format) return JSON.stringify({ score: 1 + (h % 5) });
  const count = 3 + (h % 6);
  return Array.from({ length: count }, (_, i) => WORDS[(h >>> i) % WORDS.length]).join(' ') + '.';
}

async function readBody(req: IncomingMessage): Promise<string> {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data;
}

export async function startOpenAIServer(options: OpenAIServerOptions = {}): Promise<OpenAIServer> {
  let faultAt = options.faultAt ?? null;
  let answersLeft = Infinity;
  const sockets = new Set<Socket>();
  const faults: Record<Fault, number> = {
    '400': 0,
    '429': 0,
    '500': 0,
    '503': 0,
    drop: 0,
    stall: 0,
    restart: 0
  };
  const state: OpenAIServer = {
    url: '',
    port: 0,
    requests: 0,
    faults,
    seen: [],
    setFaults: (next) => (faultAt = next),
    holdAfter: (n) => void (answersLeft = n),
    release: () => void (answersLeft = Infinity),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
    start: () =>
      new Promise<void>((resolve) => server.listen(state.port, '127.0.0.1', () => resolve())),
    close: () => state.stop()
  };

  async function chat(req: IncomingMessage, res: ServerResponse) {
    const text = await readBody(req);
    const n = ++state.requests;
    state.seen.push({ authorization: req.headers.authorization ?? '', body: text });
    if (answersLeft <= 0) return; // Held: nothing, until the connection closes.
    answersLeft--;
    const fault = faultAt?.(n) ?? null;
    if (fault) faults[fault]++;
    if (fault === '429') {
      res.writeHead(429, { ...CORS, 'Content-Type': 'application/json', 'Retry-After': '1' });
      res.end(
        JSON.stringify({ error: { message: 'Too many requests: slow down', type: 'rate_limit' } })
      );
      return;
    }
    if (fault === '500' || fault === '503') {
      res.writeHead(Number(fault), { ...CORS, 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({ object: 'error', message: `Injected ${fault}`, code: Number(fault) })
      );
      return;
    }
    if (fault === 'restart') {
      // The whole server goes away (this request with it) and comes back a little later.
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- the test server restarts in the background, as a real one would
      void state.stop().then(() => setTimeout(() => void state.start(), 1500));
      return;
    }
    if (fault === 'stall') return; // Nothing, ever: the client's first-token limit must end it.
    let body: { messages?: { content?: string }[]; response_format?: unknown; model?: string };
    try {
      body = JSON.parse(text);
    } catch {
      res.writeHead(400, { ...CORS, 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ object: 'error', message: 'not JSON', code: 400 }));
      return;
    }
    if (
      fault === '400' ||
      (options.apiKey && req.headers.authorization !== `Bearer ${options.apiKey}`)
    ) {
      res.writeHead(400, { ...CORS, 'Content-Type': 'application/json' });
      // A careless server repeats what it was sent: the app must never show or keep it.
      res.end(
        JSON.stringify({
          object: 'error',
          message: `Bad request for key ${req.headers.authorization ?? '(none)'}`,
          code: 400
        })
      );
      return;
    }
    const answer = answerFor(body);
    const id = `chatcmpl-${n}`;
    const created = 1_700_000_000;
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: SERVER_MODEL,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }]
      })}\n\n`;
    const pieces = answer.match(/\S+\s*/g) ?? [answer];
    const stream = [
      chunk({ role: 'assistant', content: '' }, null),
      ': ping\n\n',
      ...pieces.map((piece) => chunk({ content: piece }, null)),
      chunk({}, 'stop'),
      `data: ${JSON.stringify({
        id,
        object: 'chat.completion.chunk',
        created,
        model: SERVER_MODEL,
        choices: [],
        usage: {
          prompt_tokens: 10 + (text.length % 50),
          completion_tokens: pieces.length,
          total_tokens: 10 + (text.length % 50) + pieces.length
        }
      })}\n\n`,
      'data: [DONE]\n\n'
    ].join('');
    await new Promise((resolve) => setTimeout(resolve, options.delayMs ?? 0));
    res.writeHead(200, {
      ...CORS,
      'Content-Type': 'text/event-stream',
      'Cache-Control': 'no-cache'
    });
    // Written in uneven pieces, so events are split across reads.
    const cut = fault === 'drop' ? Math.floor(stream.length / 2) : stream.length;
    for (let i = 0; i < cut; i += 37) res.write(stream.slice(i, Math.min(cut, i + 37)));
    if (fault === 'drop') {
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.socket?.destroy();
      return;
    }
    res.end();
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'OPTIONS') {
      res.writeHead(204, CORS);
      res.end();
      return;
    }
    if (req.method === 'GET' && req.url === '/v1/models') {
      res.writeHead(200, { ...CORS, 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify({
          object: 'list',
          data: [{ id: SERVER_MODEL, object: 'model', owned_by: 'vllm', max_model_len: 32768 }]
        })
      );
      return;
    }
    if (req.method === 'POST' && req.url === '/v1/chat/completions') {
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- chat() answers every request itself, errors included
      void chat(req, res);
      return;
    }
    res.writeHead(404, CORS);
    res.end();
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  state.url = `http://127.0.0.1:${state.port}/v1`;
  return state;
}
