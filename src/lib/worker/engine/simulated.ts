/**
 * The simulated engine: a real WebGPU device (a weights buffer and a KV buffer of its own, the
 * plan's buffers where `simMemoryMB` caps it), one small compute pass for each step of the
 * step loop, and placeholder text: the same loop as WebLLM's (loop/), over the simulated
 * model (loop/simulated-model.ts). When its device is lost it fails with the same
 * EngineError('device-lost') as the WebLLM engine, so everything above it (runner, recovery,
 * tests) runs the real code paths.
 */
import { allocatorFor, type Allocation } from '$lib/gpu/allocator';
import { planBuffers } from '$lib/gpu/preflight';
import { EngineError, engineAdapter } from './errors';
import { LoopGenerator } from './loop/generator';
import { SIMULATED_MODEL, simulatedModel, type SimulatedKnobs } from './loop/simulated-model';
import type {
  Engine,
  EngineInfo,
  GenerateResult,
  ItemContext,
  LoadPlan,
  LoadProgress,
  PromptPrefix
} from './types';
import type { GenerateRequest } from '$lib/shared/request';

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

export interface SimulatedOptions extends SimulatedKnobs {
  /** Behave like a GPU with this many MB: the plan's buffers are accounted against it. */
  simMemoryMB: number | null;
}

export class SimulatedEngine implements Engine {
  #options: SimulatedOptions;
  #device: GPUDevice | null = null;
  #buffers: GPUBuffer[] = [];
  #loop: LoopGenerator | null = null;

  constructor(options: SimulatedOptions) {
    this.#options = options;
  }

  /** Sequences at once: the loop's slots. */
  get concurrency(): number {
    return this.#loop?.sequences ?? 1;
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
    const deviceLost = device.lost.then(({ reason, message }) => ({ reason, message }));
    if (this.#options.simMemoryMB !== null) await this.#allocatePlan(device, plan, deviceLost);

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
    const pipeline = await device.createComputePipelineAsync({
      layout: 'auto',
      compute: { module, entryPoint: 'main' }
    });
    const bindGroup = device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [
        { binding: 0, resource: { buffer: weights } },
        { binding: 1, resource: { buffer: kv } },
        { binding: 2, resource: { buffer: uniform } }
      ]
    });
    this.#buffers.push(weights, kv, uniform);
    let step = 0;
    /** One step's GPU work; resolves when the GPU has done it, throws on a lost device. */
    const gpuPass = async (salt: number) => {
      device.queue.writeBuffer(uniform, 0, new Uint32Array([step++, salt]));
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(4);
      pass.end();
      device.queue.submit([encoder.finish()]);
      const lost = await Promise.race([
        device.queue.onSubmittedWorkDone().then(() => null),
        deviceLost
      ]);
      if (lost) throw new Error(`The GPU device was lost (${lost.reason}).`);
    };
    await gpuPass(0);
    const model = simulatedModel({
      ...this.#options,
      slots: plan.sequences,
      deviceLost,
      gpuPass,
      destroyDevice: () => device.destroy()
    });
    this.#loop = new LoopGenerator(model, plan.contextWindow);
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
  async #allocatePlan(
    device: GPUDevice,
    plan: LoadPlan,
    deviceLost: Promise<unknown>
  ): Promise<void> {
    const allocator = allocatorFor(device, this.#options.simMemoryMB);
    for (const chunk of planBuffers(plan, device.limits.maxBufferSize)) {
      const allocation: Allocation | null = await allocator.allocate(chunk.bytes, chunk.label);
      if (!allocation) {
        await deviceLost;
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

  generate(
    request: GenerateRequest,
    onText: (delta: string) => void,
    signal: AbortSignal,
    item?: ItemContext
  ): Promise<GenerateResult> {
    const loop = this.#loop;
    if (!loop)
      return Promise.reject(
        new EngineError('device-lost', 'The simulated engine has no GPU device.')
      );
    return loop.generate(request, onText, signal, item);
  }

  /** The simulated model's tokenizer: words and punctuation (loop/simulated-model.ts). */
  tokenizer(): ((request: GenerateRequest) => readonly number[]) | null {
    const loop = this.#loop;
    return loop ? (request) => loop.promptIds(request) : null;
  }

  usePrefix(prefix: PromptPrefix): void {
    this.#loop?.usePrefix(prefix);
  }

  async unload(): Promise<void> {
    const loop = this.#loop;
    this.#loop = null;
    await loop?.close();
    for (const buffer of this.#buffers) buffer.destroy();
    this.#buffers = [];
    this.#device?.destroy();
    this.#device = null;
  }
}
