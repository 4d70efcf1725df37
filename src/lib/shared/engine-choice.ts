/**
 * Which engine a job runs on, saved with the job at creation so a job resumes
 * on the engine it was made for. No DOM: read by the page and the worker.
 */

export type EngineChoice = WebLLMChoice | SimulatedChoice | ServerChoice;

/** An engine on this machine's GPU: the memory plan is for these. */
export type LocalChoice = WebLLMChoice | SimulatedChoice;

/**
 * An OpenAI-compatible server (vLLM, llama.cpp server, Ollama, LM Studio). Its API key is
 * not here: it stays in this browser's settings, never in a job, an export or a log.
 */
export interface ServerChoice {
  kind: 'server';
  /** The API's base URL, e.g. http://localhost:8000/v1 (no trailing slash). */
  baseUrl: string;
  /** The model's id as the server lists it (GET /models). */
  model: string;
  /** Requests kept in flight. */
  concurrency: number;
  /** A first token later than this counts as a dropped connection (ms). */
  firstTokenMs: number;
}

/** Requests in flight by default: vLLM batches them; a browser opens 6 connections per host. */
export const DEFAULT_SERVER_CONCURRENCY = 8;
export const DEFAULT_FIRST_TOKEN_MS = 120_000;

/** The real model on this GPU. */
interface WebLLMChoice {
  kind: 'webllm';
  /** WebLLM model id; null lets the plan pick the variant by adapter features. */
  modelId: string | null;
  /**
   * Sequences at once (1 to 16; above 1 the batched path decodes them in one pass); null
   * lets the plan choose; absent (a job made before it existed): 1.
   */
  sequences?: number | null;
  /** Whether each sequence's KV slot keeps the prefix every prompt shares (absent: yes). */
  prefixSharing?: boolean;
}

/**
 * The job as planned after a memory loss lowered its sequences at once to `cap`: at most
 * that many (a job that left the number to the plan gets the cap). Other engines as they are.
 */
/**
 * The sequences at once a job on this GPU asks for: its number, null for the plan's choice.
 * A job made before the setting existed (none saved): 1, or, for a simulated job, the items it
 * kept at once (`simConcurrency`, which its sequences at once replaced). A server: 1.
 */
export function askedSequences(choice: EngineChoice): number | null {
  if (choice.kind === 'server') return 1;
  if (choice.sequences !== undefined) return choice.sequences;
  const legacy = (choice as { simConcurrency?: unknown }).simConcurrency;
  return typeof legacy === 'number' && Number.isInteger(legacy) && legacy >= 1 ? legacy : 1;
}

export function withSequencesCap<T extends { engine: EngineChoice }>(
  job: T,
  cap: number | null | undefined
): T {
  if (cap === null || cap === undefined || job.engine.kind === 'server') return job;
  const asked = askedSequences(job.engine) ?? cap;
  return { ...job, engine: { ...job.engine, sequences: Math.min(cap, asked) } };
}

/**
 * Whether a job keeps the prompt prefix its prompts share in each sequence's KV slot, so it is
 * read once a slot instead of once a prompt: on unless the job was made with it off. A server
 * keeps its own prefix cache (vLLM's automatic prefix caching).
 */
export function sharesPrefix(choice: EngineChoice): boolean {
  return choice.kind !== 'server' && choice.prefixSharing !== false;
}

/** The most sequences at once the form offers. */
export const MAX_SEQUENCES = 16;

/** Sequences at once from text: a whole number from 1 to 16, or null when it is not one. */
export function parseSequences(text: string | null): number | null {
  if (text === null || text.trim() === '') return null;
  const value = Number(text);
  return Number.isInteger(value) && value >= 1 && value <= MAX_SEQUENCES ? value : null;
}

/** A real WebGPU device and placeholder text, with fault knobs for tests. */
interface SimulatedChoice {
  kind: 'simulated';
  /** Plan as for this WebLLM model; null: the default family. */
  modelId: string | null;
  /** Delay per token in ms. */
  tokenDelayMs: number;
  /** Behave like a GPU with this many MB (a fault knob for tests); null: no cap. */
  simMemoryMB: number | null;
  /** Hang on the first attempt at this item index (a fault knob for tests). */
  simHangAtItem: number | null;
  /** Each answer quotes the prompt (to test that output is shown as text). */
  simEcho?: boolean;
  /** A JSON answer is cut short the first time the engine answers every Nth item (to test unparsed answers). */
  simBreakEvery?: number | null;
  /**
   * Sequences at once in its step loop, as for WebLLM (1 to 16); null lets the plan choose;
   * absent (a job made before it existed): 1.
   */
  sequences?: number | null;
  /** Whether each sequence's KV slot keeps the prefix every prompt shares (absent: yes). */
  prefixSharing?: boolean;
  /** This item index crashes the GPU whenever it runs (a fault knob for tests). */
  simPoisonItem?: number | null;
  /**
   * Item indices whose first attempt stops after one token until a fault ends it (a lost
   * device, Pause, the worker gone), so a test's fault lands before the job can finish (a
   * knob for tests). An index listed n times holds its first n attempts.
   */
  simHoldAt?: number[];
  /** A wait before each item's first token in ms (a fixed cost per item, for the benchmark). */
  simItemDelayMs?: number | null;
  /** One GPU pass per item instead of per token (a near-free engine, for the benchmark). */
  simGpuPassPerItem?: boolean;
}

/** Default per-token delay of the simulated engine, in ms. */
export const SIMULATED_TOKEN_DELAY_MS = 2;

/** A comma-separated list of item indices, or undefined when there is none. */
function indexListParam(params: URLSearchParams, name: string): number[] | undefined {
  const indices = (params.get(name) ?? '')
    .split(',')
    .filter((part) => part.trim() !== '')
    .map(Number)
    .filter((value) => Number.isInteger(value) && value >= 0);
  return indices.length ? indices : undefined;
}

function numberParam(params: URLSearchParams, name: string): number | null {
  const raw = params.get(name);
  if (raw === null || raw.trim() === '') return null;
  const value = Number(raw);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * The engine a new job will use, from the page's URL: `?engine=simulated`
 * (with optional `tokenDelayMs`, `simMemoryMB`, `simHangAtItem`, `simEcho`, `simBreakEvery`,
 * `simPoisonItem`, `simHoldAt` (indices: `8,24`), `simItemDelayMs`, `simGpuPassPerItem`)
 * picks the simulated engine; anything else the real model (`model=<WebLLM id>` picks one).
 * Both take `sequences=<1..16>`, their sequences at once, and `prefixSharing=off`, which reads
 * the prompts' shared prefix with every prompt instead of keeping it. Read only when a job is created:
 * the choice is then saved with the job.
 */
export function engineFromUrl(url: URL): LocalChoice {
  const params = url.searchParams;
  const prefixSharing = params.get('prefixSharing') !== 'off';
  if (params.get('engine') === 'simulated') {
    return {
      kind: 'simulated',
      modelId: params.get('model'),
      tokenDelayMs: numberParam(params, 'tokenDelayMs') ?? SIMULATED_TOKEN_DELAY_MS,
      simMemoryMB: numberParam(params, 'simMemoryMB'),
      simHangAtItem: numberParam(params, 'simHangAtItem'),
      simEcho: params.get('simEcho') === '1',
      simBreakEvery: numberParam(params, 'simBreakEvery'),
      sequences: parseSequences(params.get('sequences')) ?? 1,
      simPoisonItem: numberParam(params, 'simPoisonItem'),
      simHoldAt: indexListParam(params, 'simHoldAt'),
      simItemDelayMs: numberParam(params, 'simItemDelayMs'),
      simGpuPassPerItem: params.get('simGpuPassPerItem') === '1',
      prefixSharing
    };
  }
  return {
    kind: 'webllm',
    modelId: params.get('model'),
    sequences: parseSequences(params.get('sequences')),
    prefixSharing
  };
}

export type ServerUrl = { ok: true; base: string } | { ok: false; message: string };

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks a server's base URL and normalizes it (no trailing slash). An https page
 * cannot call a plain-http server unless it is this machine (the browser blocks
 * mixed content), so that is said up front.
 */
export function parseServerUrl(text: string, pageIsHttps: boolean): ServerUrl {
  const trimmed = text.trim();
  if (!trimmed)
    return { ok: false, message: 'Enter the server URL, e.g. http://localhost:8000/v1.' };
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return {
      ok: false,
      message: `"${trimmed}" is not a URL: write it in full, e.g. http://localhost:8000/v1.`
    };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      ok: false,
      message: `The server URL must start with http:// or https://, not ${url.protocol}//.`
    };
  }
  if (url.username || url.password || url.search || url.hash) {
    return {
      ok: false,
      message:
        'The server URL must not hold a user name, password, query or fragment (the API key has its own field).'
    };
  }
  if (pageIsHttps && url.protocol === 'http:' && !LOCAL_HOSTS.has(url.hostname)) {
    return {
      ok: false,
      message: `This page is https, so the browser blocks plain-http servers other than this machine: serve ${url.host} over https (e.g. behind a reverse proxy).`
    };
  }
  return { ok: true, base: url.href.replace(/\/+$/, '') };
}

/** "127.0.0.1:8000" from the base URL, for the page. */
export function serverHost(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

/** The GPU memory cap the simulated engine acts under, or null (none, or the real GPU). */
export function simulatedMemoryMB(choice: EngineChoice): number | null {
  return choice.kind === 'simulated' ? choice.simMemoryMB : null;
}

export function describeEngine(choice: EngineChoice): string {
  if (choice.kind === 'server') {
    return `OpenAI-compatible server at ${serverHost(choice.baseUrl)}: ${choice.model}, up to ${choice.concurrency} requests in flight.`;
  }
  if (choice.kind === 'simulated') {
    const cap =
      choice.simMemoryMB !== null ? ` It acts as a GPU with ${choice.simMemoryMB} MiB.` : '';
    return `Simulated engine: a real WebGPU device, but the answers are placeholder text, not a model.${cap}`;
  }
  return `WebLLM on this GPU: ${choice.modelId ?? 'Qwen2.5-7B-Instruct, 4-bit (q4f16_1, or q4f32_1 where the GPU lacks shader-f16)'}.`;
}
