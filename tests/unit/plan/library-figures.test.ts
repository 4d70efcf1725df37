import { describe, expect, it } from 'vitest';
import { withLibraryFigures } from '$lib/plan/library-figures';
import type { LibraryMetadata } from '$lib/plan/library-metadata';
import { planJob } from '$lib/plan/job-plan';
import { kvBytesPerToken, modelById } from '$lib/plan/catalog';
import type { AdapterFacts, ModelSpec } from '$lib/plan/types';
import type { MachineSettings } from '$lib/shared/settings';

const MODEL_ID = 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC';
const LIB_FILE = 'Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm';

/** The v0_2_48 Qwen2-0.5B-Instruct-q4f32_1 library's own figures (its params cut to two). */
function metadata(over: Partial<LibraryMetadata> = {}): LibraryMetadata {
  const params = [
    { name: 'model.embed_tokens.q_weight', shape: [151936, 112], dtype: 'uint32' },
    { name: 'model.embed_tokens.q_scale', shape: [151936, 28], dtype: 'float32' }
  ];
  return {
    modelType: 'qwen2',
    quantization: 'q4f32_1',
    contextWindowSize: 4096,
    prefillChunkSize: 1024,
    maxBatchSize: 80,
    slidingWindowSize: -1,
    kvCache: { numHiddenLayers: 24, numAttentionHeads: 14, numKeyValueHeads: 2, headDim: 64 },
    memoryUsage: {
      alloc_embedding_tensor: 3670016,
      batch_decode: 54845440,
      batch_prefill: 128598016,
      batch_verify: 702021632,
      create_tir_paged_kv_cache: 0,
      decode: 685568,
      embed: 3670016,
      prefill: 80303104,
      softmax_with_temperature: 0
    },
    params,
    paramBytes: 151936 * 112 * 4 + 151936 * 28 * 4,
    ...over
  };
}

function spec(): ModelSpec {
  const found = modelById(MODEL_ID);
  if (!found) throw new Error('the catalog lost its 0.5B');
  return found;
}

describe('withLibraryFigures', () => {
  it("takes the runtime's figures: weights, KV shape, the scratch of the functions WebLLM runs, the compiled context", () => {
    const figures = withLibraryFigures(spec(), metadata(), LIB_FILE);
    if ('mismatch' in figures) throw new Error(figures.mismatch);
    expect(figures.spec).toMatchObject({
      id: MODEL_ID,
      weightsBytes: 151936 * 140 * 4,
      largestTensorBytes: 151936 * 112 * 4,
      layers: 24,
      kvHeads: 2,
      headDim: 64,
      kvBytesPerElement: 4,
      // prefill (the larger step) + embed, never batch_verify's 669 MiB.
      activationBytes: 80303104 + 3670016,
      // The batched path: batch_prefill + batch_decode (each its own storage) + embed.
      batchScratchBytes: 128598016 + 54845440 + 3670016,
      maxContext: 4096,
      prefillChunk: 1024
    });
    expect(kvBytesPerToken(figures.spec)).toBe(24_576);
    expect(figures.reason).toBe(
      `Figures from the model library ${LIB_FILE} itself: weights 81 MiB (2 tensors), KV cache 24,576 bytes a token (24 layers x 2 KV heads x 64), scratch 80 MiB (prefill 77 MiB + embed 4 MiB; 178 MiB for several sequences at once), at most 4,096 tokens of context.`
    );
  });

  it('the largest scratch buffer from the library: its chunk through its widest projection, or its batch of logits', () => {
    const params = [
      ...metadata().params,
      { name: 'model.layers.0.self_attn.c_attn.q_weight', shape: [1152, 112], dtype: 'uint32' },
      { name: 'model.layers.0.mlp.gate_up_proj.q_weight', shape: [9728, 112], dtype: 'uint32' },
      { name: 'model.layers.0.mlp.down_proj.q_weight', shape: [896, 608], dtype: 'uint32' }
    ];
    const figures = withLibraryFigures(spec(), metadata({ params }), LIB_FILE);
    if ('mismatch' in figures) throw new Error(figures.mismatch);
    // What WebLLM 0.2.79 allocated for this library on the real runtime (tests/real).
    expect(figures.spec.largestScratch).toEqual({
      single: 1024 * 9728 * 4,
      batch: 80 * 151936 * 4
    });
    const bigger = withLibraryFigures(
      spec(),
      metadata({ params, prefillChunkSize: 2048, maxBatchSize: 4 }),
      LIB_FILE
    );
    if ('mismatch' in bigger) throw new Error(bigger.mismatch);
    expect(bigger.spec.largestScratch).toEqual({ single: 2048 * 9728 * 4, batch: 2048 * 9728 * 4 });
  });

  it('refuses a library of another quantization, saying so', () => {
    expect(withLibraryFigures(spec(), metadata({ quantization: 'q4f16_1' }), LIB_FILE)).toEqual({
      mismatch: `The model library ${LIB_FILE} is q4f16_1, not q4f32_1: the catalog's figures are used.`
    });
  });
});

describe('planJob with the model library', () => {
  const swiftshader: AdapterFacts = {
    vendor: 'google',
    architecture: 'swiftshader',
    description: 'SwiftShader Device (Subzero)',
    isFallbackAdapter: true,
    features: [],
    limits: {
      maxBufferSize: 2 ** 30,
      maxStorageBufferBindingSize: 2 ** 30,
      maxComputeWorkgroupStorageSize: 32768,
      maxComputeInvocationsPerWorkgroup: 1024,
      maxComputeWorkgroupSizeX: 1024,
      maxStorageBuffersPerShaderStage: 10
    },
    deviceMemoryGB: 8
  };
  const job = {
    engine: { kind: 'webllm' as const, modelId: MODEL_ID },
    needs: { longestPromptTokens: 6000, maxAnswerTokens: 512, exact: true }
  };
  const settings: MachineSettings = {
    gpuMemoryMB: 16_000,
    safetyMargin: 0.15,
    autoResume: false,
    keepAwake: true,
    notifyOnEnd: false,
    modelMirror: null,
    modelMirrorPending: null,
    servers: [],
    serverKeys: {}
  };
  const library = { modelId: MODEL_ID, libFile: LIB_FILE, meta: metadata() };

  it("plans with the library's figures and says so first; the window stops at the library's compiled context", () => {
    const catalog = planJob(swiftshader, job, settings, null).plan;
    const real = planJob(swiftshader, job, settings, null, library).plan;
    if (!catalog.ok || !real.ok) throw new Error('both plans should fit in 16,000 MiB');
    // The catalog allows Qwen2.5's 32,768 tokens; this library was compiled for 4,096.
    expect(catalog.contextWindow).toBe(7168);
    expect(real.contextWindow).toBe(4096);
    // The runtime's 24 KV buffers hold one 16-token page more than the window (measured).
    expect(real.kvBytes).toBe((4096 + 16) * 24_576);
    expect(real.weightsBytes).toBe(151936 * 140 * 4);
    expect(real.activationBytes).toBe(83_973_120);
    expect(real.reasons[0]).toMatch(/^Figures from the model library Qwen2-0\.5B/);
    expect(real.reasons.join(' ')).toContain('but Qwen2.5-0.5B-Instruct handles at most 4,096');
    expect(real.totalBytes).toBe(151936 * 140 * 4 + 83_973_120 + (4096 + 16) * 24_576);
  });

  it("keeps the catalog's figures for a library of another model, saying why", () => {
    const other = { ...library, meta: metadata({ quantization: 'q4f16_1' }) };
    const plan = planJob(swiftshader, job, settings, null, other).plan;
    const catalog = planJob(swiftshader, job, settings, null).plan;
    expect(plan.reasons[0]).toContain('is q4f16_1, not q4f32_1');
    expect(plan.reasons.slice(1)).toEqual(catalog.reasons);
  });
});
