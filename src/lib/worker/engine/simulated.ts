/**
 * The simulated engine: holds a real WebGPU device, allocates a weights buffer
 * and a KV buffer, runs one small compute pass per token and streams
 * placeholder text (see simulated-text.ts). When its device is lost it throws
 * the same EngineError('device-lost') as the WebLLM engine, so everything
 * above it (runner, recovery, tests) runs the real code paths.
 */
import { allocatorFor, type Allocation } from '$lib/gpu/allocator';
import { planBuffers } from '$lib/gpu/preflight';
import { EngineError, deviceLostError, engineAdapter, translateEngineError } from './errors';
import {
  brokenJson,
  countPromptTokens,
  jsonCompletion,
  simulatedCompletion,
  simulatedJson,
  type SimulatedCompletion
} from './simulated-text';
import type {
  Engine,
  EngineInfo,
  GenerateResult,
  ItemContext,
  LoadPlan,
  LoadProgress
} from './types';
import type { GenerateRequest } from '$lib/shared/request';

const SIMULATED_MODEL = 'simulated-Qwen2.5-7B-Instruct';

const WEIGHTS_BYTES = 8 * 1024 * 1024;
const KV_BYTES = 4 * 1024 * 1024;
const WORKGROUP = 64;

const SHADER = /* wgsl */ `
struct Step { token: u32, salt: u32 }
@group(0) @binding(0) var<storage, read> weights: array<u32>;
@group(0) @binding(1) var<storage, read_write> kv: array<u32>;
@group(0) @binding(2) var<uniform> step: Step;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let slot = (step.token * ${WORKGROUP}u + id.x) % arrayLength(&kv);
  kv[slot] = weights[id.x % arrayLength(&weights)] ^ (step.salt + id.x);
}`;

export interface SimulatedOptions {
  tokenDelayMs: number;
  /** Behave like a GPU with this many MB: the plan's buffers are accounted against it. */
  simMemoryMB: number | null;
  /** Hang (stop producing tokens, forever) on the first attempt at this item index. */
  hangAtItem: number | null;
  /** Each answer starts by quoting the prompt, as a model may: output must show as text. */
  echo?: boolean;
  /** A JSON answer is cut short (not valid JSON) the first time this engine answers every Nth item. */
  breakEvery?: number | null;
  /** Items it runs at once (as a server would), so the runner's in-flight paths can be tested. */
  concurrency?: number;
  /** This item crashes the GPU whenever it runs: every item running with it loses the device. */
  poisonItem?: number | null;
  /** Items whose first attempt stops after one token until a fault ends it (listed n times: n attempts). */
  holdAt?: readonly number[];
  /** A wait before each item's first token, on top of the tokens' own (a fixed cost per item). */
  itemDelayMs?: number;
  /** One GPU pass per item instead of one per token (the benchmark's near-free engine). */
  gpuPassPerItem?: boolean;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/**
 * Attempts held in this worker ("index:attempt"). Engines are made again after a lost device,
 * and "Retry failed" counts an item's attempts from 1 again: each is still held once only.
 */
const heldAttempts = new Set<string>();

/** Resolves when the device is lost or the signal aborts, whichever comes first. */
function untilFault(lost: Promise<unknown>, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- device.lost never rejects
    void lost.then(done);
  });
}

export class SimulatedEngine implements Engine {
  readonly concurrency: number;
  #options: SimulatedOptions;
  #device: GPUDevice | null = null;
  #lost: GPUDeviceLostInfo | null = null;
  #lostPromise: Promise<GPUDeviceLostInfo> | null = null;
  #pipeline: GPUComputePipeline | null = null;
  #bindGroup: GPUBindGroup | null = null;
  #uniform: GPUBuffer | null = null;
  #buffers: GPUBuffer[] = [];
  #contextWindow = 0;
  /** Items whose answer the breakEvery knob has broken once already. */
  #broken = new Set<number>();

  constructor(options: SimulatedOptions) {
    this.#options = options;
    this.concurrency = Math.max(1, Math.floor(options.concurrency ?? 1));
  }

  async load(
    plan: LoadPlan | null,
    onProgress: (progress: LoadProgress) => void
  ): Promise<EngineInfo> {
    if (!plan) throw new EngineError('load-failed', 'A model on this GPU needs a memory plan.');
    onProgress({
      phase: 'gpu',
      text: 'Requesting a WebGPU device',
      fraction: 0,
      loadedMB: null,
      totalMB: null,
      mbPerSecond: null,
      etaSeconds: null
    });
    const adapter = await engineAdapter();
    const device = await adapter.requestDevice();
    this.#device = device;
    this.#contextWindow = plan.contextWindow;
    this.#lost = null;
    this.#lostPromise = device.lost.then((info) => {
      this.#lost = info;
      return info;
    });
    if (this.#options.simMemoryMB !== null) await this.#allocatePlan(device, plan);

    const weights = device.createBuffer({
      size: WEIGHTS_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST
    });
    const kv = device.createBuffer({ size: KV_BYTES, usage: GPUBufferUsage.STORAGE });
    const uniform = device.createBuffer({
      size: 8,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST
    });
    const seedWords = new Uint32Array(1024).map((_, i) => Math.imul(i + 1, 2654435761));
    device.queue.writeBuffer(weights, 0, seedWords);
    const module = device.createShaderModule({ code: SHADER });
    this.#pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module, entryPoint: 'main' }
    });
    this.#bindGroup = device.createBindGroup({
      layout: this.#pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: weights } },
        { binding: 1, resource: { buffer: kv } },
        { binding: 2, resource: { buffer: uniform } }
      ]
    });
    this.#uniform = uniform;
    this.#buffers.push(weights, kv, uniform);
    await this.#step(0, 0);
    onProgress({
      phase: 'ready',
      text: 'Simulated engine ready',
      fraction: 1,
      loadedMB: null,
      totalMB: null,
      mbPerSecond: null,
      etaSeconds: null
    });
    const info = adapter.info;
    return {
      model: SIMULATED_MODEL,
      placeholder: true,
      adapter: [info.vendor, info.architecture, info.description].filter(Boolean).join(' ')
    };
  }

  /**
   * With a memory cap, the plan's buffers (weights, activations, KV cache) are
   * allocated like WebLLM would; past the cap the device is destroyed, as TVM
   * does on an allocation error.
   */
  async #allocatePlan(device: GPUDevice, plan: LoadPlan): Promise<void> {
    const allocator = allocatorFor(device, this.#options.simMemoryMB);
    for (const chunk of planBuffers(plan, device.limits.maxBufferSize)) {
      const allocation: Allocation | null = await allocator.allocate(chunk.bytes, chunk.label);
      if (!allocation) {
        await this.#lostPromise;
        throw new EngineError(
          'device-lost',
          `The GPU device was lost (destroyed) while allocating the ${chunk.label} (${Math.round(
            allocator.used / 1048576
          )} MiB held, ${Math.round(chunk.bytes / 1048576)} MiB more asked, ${this.#options.simMemoryMB} MiB in all).`,
          [],
          'destroyed'
        );
      }
      this.#buffers.push(allocation.buffer);
    }
  }

  #deviceLostError(): EngineError {
    return deviceLostError(this.#lost);
  }

  /** One token's worth of GPU work; resolves when the GPU has done it. */
  async #step(token: number, salt: number): Promise<void> {
    const device = this.#device;
    if (!device || !this.#pipeline || !this.#bindGroup || !this.#uniform || !this.#lostPromise) {
      throw new EngineError('device-lost', 'The simulated engine has no GPU device.');
    }
    if (this.#lost) throw this.#deviceLostError();
    try {
      device.queue.writeBuffer(this.#uniform, 0, new Uint32Array([token, salt]));
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(this.#pipeline);
      pass.setBindGroup(0, this.#bindGroup);
      pass.dispatchWorkgroups(4);
      pass.end();
      device.queue.submit([encoder.finish()]);
      await Promise.race([device.queue.onSubmittedWorkDone(), this.#lostPromise]);
    } catch (error) {
      // A dying GPU process can make a call throw before device.lost says so; wait a moment for it.
      await Promise.race([this.#lostPromise, new Promise((resolve) => setTimeout(resolve, 1000))]);
      if (this.#lost) throw this.#deviceLostError();
      throw translateEngineError(error, { phase: 'generate', model: SIMULATED_MODEL });
    }
    if (this.#lost) throw this.#deviceLostError();
  }

  async generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal,
    item?: ItemContext
  ): Promise<GenerateResult> {
    if (item && item.index === this.#options.poisonItem) {
      // As a GPU-process crash: the device goes, with every item on it.
      this.#device?.destroy();
      throw new EngineError(
        'device-lost',
        `The GPU device was lost (unknown: the simulated crash at item ${item.index + 1}).`,
        [],
        'unknown'
      );
    }
    const completion = this.#completion(request, item);
    if (completion.promptTokens > this.#contextWindow) {
      // As WebLLM refuses a prompt longer than the window (ContextWindowSizeExceededError).
      const error = new Error(
        `Prompt tokens exceed context window size: number of prompt tokens: ${completion.promptTokens}; context window size: ${this.#contextWindow}`
      );
      error.name = 'ContextWindowSizeExceededError';
      throw translateEngineError(error, { phase: 'generate', model: SIMULATED_MODEL });
    }
    const hang =
      this.#options.hangAtItem !== null &&
      item?.index === this.#options.hangAtItem &&
      item.attempt === 1;
    const hold = this.#holds(item);
    const started = performance.now();
    let firstTokenAt = started;
    let text = '';
    await sleep(this.#options.itemDelayMs ?? 0, signal);
    for (let i = 0; i < completion.tokens.length; i++) {
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      if (i === 0 || !this.#options.gpuPassPerItem) await this.#step(i, completion.promptTokens);
      await sleep(this.#options.tokenDelayMs, signal);
      if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
      if (i === 0) firstTokenAt = performance.now();
      const piece = completion.tokens[i] ?? '';
      text += piece;
      onText(piece);
      // The hold knob: the item runs, visibly, until the test's fault ends this attempt.
      if (hold && i === 0 && this.#lostPromise) {
        await untilFault(this.#lostPromise, signal);
        if (signal.aborted) throw new EngineError('cancelled', 'Stopped.');
        throw this.#deviceLostError();
      }
      // The hung-engine knob: after a few tokens, nothing more, ever (only terminating the worker ends it).
      if (hang && i === Math.min(2, completion.tokens.length - 1))
        await new Promise<never>(() => {});
    }
    const finished = performance.now();
    const decodeSeconds = Math.max((finished - firstTokenAt) / 1000, 1e-6);
    const prefillSeconds = Math.max((firstTokenAt - started) / 1000, 1e-6);
    return {
      text,
      finishReason: completion.finishReason,
      model: SIMULATED_MODEL,
      usage: {
        prompt_tokens: completion.promptTokens,
        completion_tokens: completion.tokens.length,
        total_tokens: completion.promptTokens + completion.tokens.length,
        prefill_tokens_per_s: completion.promptTokens / prefillSeconds,
        decode_tokens_per_s: Math.max(completion.tokens.length - 1, 0) / decodeSeconds
      }
    };
  }

  /** Whether the hold knob holds this attempt (each once in this worker). */
  #holds(item?: ItemContext): boolean {
    if (!item) return false;
    const listed = (this.#options.holdAt ?? []).filter((index) => index === item.index).length;
    const key = `${item.index}:${item.attempt}`;
    if (item.attempt > listed || heldAttempts.has(key)) return false;
    heldAttempts.add(key);
    return true;
  }

  #completion(request: GenerateRequest, item?: ItemContext): SimulatedCompletion {
    if (!request.schema) return simulatedCompletion(request, this.#options.echo === true);
    const json = simulatedJson({ ...request, schema: request.schema });
    const every = this.#options.breakEvery ?? null;
    const broken =
      every !== null &&
      every > 0 &&
      item !== undefined &&
      (item.index + 1) % every === 0 &&
      !this.#broken.has(item.index);
    if (broken) this.#broken.add(item.index);
    return jsonCompletion(request, broken ? brokenJson(json) : json);
  }

  /** The simulated model's tokenizer: words and punctuation (see simulated-text.ts). */
  tokenCounter(): ((request: GenerateRequest) => number) | null {
    return this.#device ? countPromptTokens : null;
  }

  async unload(): Promise<void> {
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
    this.#device?.destroy();
    this.#device = null;
    this.#pipeline = null;
    this.#bindGroup = null;
    this.#uniform = null;
  }
}
