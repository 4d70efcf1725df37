/**
 * A tiny model mirror for tests, in the layout of src/lib/models/source.ts:
 * every catalog model gets a chat config, a tokenizer placeholder, a
 * ndarray-cache.json and a few small shards, and a fake wasm library (not
 * WebAssembly, so WebLLM fails at instantiating it, before any GPU work).
 *
 * The server runs inside the test on a port of its own (127.0.0.1: WebLLM
 * skips its wasm cache for URLs with "localhost"), sends shards slowly
 * enough to be interrupted, logs every request, can hold requests to stall
 * a download at a known shard, and can be killed and restarted on the same
 * port (a lost connection).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { MODEL_LIB_FILES, MODEL_LIB_VERSION } from '../../src/lib/models/source';

export const SHARDS = 8;
export const SHARD_BYTES = 256 * 1024;

/** Deterministic bytes: shard i, byte j = (i * 31 + j) mod 256. */
function shardBytes(index: number, size = SHARD_BYTES): Uint8Array {
  const bytes = new Uint8Array(size);
  for (let j = 0; j < size; j++) bytes[j] = (index * 31 + j) & 255;
  return bytes;
}

function json(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function shardPath(modelId: string, index: number): string {
  return `/${modelId}/resolve/main/params_shard_${index}.bin`;
}

/** Every file of the mirror by path ("/<model_id>/resolve/main/…", "/libs/…"). */
export function fakeMirrorFiles(shards = SHARDS, size = SHARD_BYTES): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const [modelId, libFile] of Object.entries(MODEL_LIB_FILES)) {
    const folder = `/${modelId}/resolve/main/`;
    const quantization = /q4f(16|32)_1/.exec(modelId)?.[0] ?? 'q4f16_1';
    files.set(
      folder + 'mlc-chat-config.json',
      json({
        version: '0.1.0',
        model_type: 'qwen2',
        quantization,
        context_window_size: 32768,
        prefill_chunk_size: 1024,
        tokenizer_files: ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json'],
        conv_template: { name: 'qwen2', system_template: '<|im_start|>system\n{system_message}' }
      })
    );
    files.set(
      folder + 'tokenizer.json',
      json({ version: '1.0', model: { type: 'BPE' }, note: 'LocalBatch test placeholder' })
    );
    files.set(
      folder + 'ndarray-cache.json',
      json({
        metadata: { ParamSize: shards, ParamBytes: shards * size, BitsPerParam: 4.5 },
        records: Array.from({ length: shards }, (_, i) => ({
          dataPath: `params_shard_${i}.bin`,
          format: 'raw-shard',
          nbytes: size,
          records: [
            {
              name: `param_${i}`,
              shape: [size / 4],
              dtype: 'uint32',
              format: 'raw',
              nbytes: size,
              byteOffset: 0
            }
          ]
        }))
      })
    );
    for (let i = 0; i < shards; i++) files.set(shardPath(modelId, i), shardBytes(i, size));
    files.set(
      `/libs/${MODEL_LIB_VERSION}/${libFile}`,
      new TextEncoder().encode('Not a model library: a LocalBatch test placeholder.\n')
    );
  }
  return files;
}

interface MirrorRequest {
  method: string;
  path: string;
  /** The whole body was sent. */
  completed: boolean;
}

export interface FakeMirror {
  url: string;
  port: number;
  requests: MirrorRequest[];
  /** Paths of shard GETs since the log was last cleared. */
  shardRequests(modelId?: string): string[];
  /** Shard responses sent whole since the log was last cleared. */
  completedShards(): string[];
  clearLog(): void;
  /** Serve `n` more shards, then hold every later shard request (it never answers). */
  holdAfter(n: number): void;
  /** Serve everything again (held requests stay held until their connection closes). */
  release(): void;
  /** Stop listening and cut every open connection, as a lost network would. */
  kill(): Promise<void>;
  restart(): Promise<void>;
  close(): Promise<void>;
}

const SHARD = /\/params_shard_\d+\.bin$/;

/** Ports the tests may use for servers of their own. */
const MIRROR_PORTS = [4340, 4341, 4342, 4343, 4344, 4345, 4346, 4347, 4348, 4349];

/** Starts a mirror on the first free port of MIRROR_PORTS (tests may run side by side). */
export async function startFakeMirror(
  options: { chunkBytes?: number; chunkDelayMs?: number; files?: Map<string, Uint8Array> } = {}
): Promise<FakeMirror> {
  const files = options.files ?? fakeMirrorFiles();
  const chunkBytes = options.chunkBytes ?? 32 * 1024;
  const chunkDelayMs = options.chunkDelayMs ?? 60;
  const requests: MirrorRequest[] = [];
  let shardsAllowed = Infinity;
  let server: Server;
  let port = 0;

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://mirror').pathname);
    const entry: MirrorRequest = { method: req.method ?? 'GET', path, completed: false };
    requests.push(entry);
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Cache-Control', 'no-store');
    const body = files.get(path);
    if (!body) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found');
      return;
    }
    const isShard = SHARD.test(path);
    const type = path.endsWith('.json')
      ? 'application/json'
      : path.endsWith('.wasm')
        ? 'application/wasm'
        : 'application/octet-stream';
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.byteLength }).end();
      entry.completed = true;
      return;
    }
    if (isShard) {
      if (shardsAllowed <= 0) return; // held: no answer until the connection closes
      shardsAllowed--;
    }
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.byteLength });
    if (!isShard) {
      res.end(body);
      entry.completed = true;
      return;
    }
    for (let offset = 0; offset < body.byteLength; offset += chunkBytes) {
      if (res.destroyed) return;
      res.write(body.subarray(offset, offset + chunkBytes));
      await new Promise((resolve) => setTimeout(resolve, chunkDelayMs));
    }
    if (res.destroyed) return;
    res.end(() => (entry.completed = true));
  }

  function listen(on: number): Promise<void> {
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- handle() answers every request itself, errors included
    server = createServer((req, res) => void handle(req, res));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(on, '127.0.0.1', () => resolve());
    });
  }

  async function stop(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  for (const candidate of MIRROR_PORTS) {
    try {
      await listen(candidate);
      port = candidate;
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    }
  }
  if (!port) throw new Error(`Every port of ${MIRROR_PORTS.join(', ')} is in use.`);
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    requests,
    shardRequests: (modelId) =>
      requests
        .filter((r) => r.method === 'GET' && SHARD.test(r.path))
        .filter((r) => !modelId || r.path.startsWith(`/${modelId}/`))
        .map((r) => r.path),
    completedShards: () =>
      requests.filter((r) => r.completed && SHARD.test(r.path)).map((r) => r.path),
    clearLog: () => void requests.splice(0),
    holdAfter: (n) => void (shardsAllowed = n),
    release: () => void (shardsAllowed = Infinity),
    kill: stop,
    restart: () => listen(port),
    close: stop
  };
}
