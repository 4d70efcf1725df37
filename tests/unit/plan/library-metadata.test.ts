import { describe, expect, it } from 'vitest';
import { LibraryMetadataError, readLibraryMetadata } from '$lib/plan/library-metadata';

/** The shape of Qwen2-0.5B-Instruct-q4f32_1's metadata (v0_2_48), with two layers. */
function qwenMetadata(): Record<string, unknown> {
  const layer = (n: number) => [
    { name: `model.layers.${n}.self_attn.c_attn.q_weight`, shape: [1152, 112], dtype: 'uint32' },
    { name: `model.layers.${n}.self_attn.c_attn.q_scale`, shape: [1152, 28], dtype: 'float32' },
    { name: `model.layers.${n}.self_attn.c_attn.bias`, shape: [1152], dtype: 'float32' },
    { name: `model.layers.${n}.input_layernorm.weight`, shape: [896], dtype: 'float32' }
  ];
  return {
    model_type: 'qwen2',
    quantization: 'q4f32_1',
    context_window_size: 4096,
    sliding_window_size: -1,
    attention_sink_size: -1,
    prefill_chunk_size: 1024,
    tensor_parallel_shards: 1,
    kv_state_kind: 'kv_cache',
    max_batch_size: 80,
    params: [
      { name: 'model.embed_tokens.q_weight', shape: [151936, 112], dtype: 'uint32', preprocs: [] },
      { name: 'model.embed_tokens.q_scale', shape: [151936, 28], dtype: 'float32', preprocs: [] },
      ...layer(0),
      ...layer(1),
      { name: 'model.norm.weight', shape: [896], dtype: 'float32', preprocs: [] }
    ],
    kv_cache: {
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      head_dim: 64
    },
    memory_usage: { batch_verify: 702021632, decode: 685568, prefill: 80303104 }
  };
}

/** Deterministic noise (xorshift32), as the bytes of compiled code around the data segment. */
function noise(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    bytes[i] = s & 255;
  }
  return bytes;
}

/** A fake library: noise, the metadata as a C string (NUL-terminated), noise. */
function fakeLibrary(parts: (string | Uint8Array)[]): Uint8Array {
  const chunks = parts.map((part) =>
    typeof part === 'string' ? new TextEncoder().encode(part) : part
  );
  const bytes = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}

function libraryWith(meta: unknown, before = 200_000, after = 100_000): Uint8Array {
  return fakeLibrary([noise(before, 7), JSON.stringify(meta), '\0', noise(after, 11)]);
}

describe('readLibraryMetadata', () => {
  it('finds the object among other bytes and reads every field', () => {
    const meta = readLibraryMetadata(libraryWith(qwenMetadata()));
    expect(meta).toMatchObject({
      modelType: 'qwen2',
      quantization: 'q4f32_1',
      contextWindowSize: 4096,
      prefillChunkSize: 1024,
      maxBatchSize: 80,
      slidingWindowSize: -1,
      kvCache: { numHiddenLayers: 24, numAttentionHeads: 14, numKeyValueHeads: 2, headDim: 64 },
      memoryUsage: { batch_verify: 702021632, decode: 685568, prefill: 80303104 }
    });
    expect(meta.params).toHaveLength(11);
    expect(meta.params[0]).toEqual({
      name: 'model.embed_tokens.q_weight',
      shape: [151936, 112],
      dtype: 'uint32'
    });
    const layerBytes = (1152 * 112 + 1152 * 28 + 1152 + 896) * 4;
    expect(meta.paramBytes).toBe(151936 * 112 * 4 + 151936 * 28 * 4 + 2 * layerBytes + 896 * 4);
  });

  it('finds it at the start or the very end of the file', () => {
    expect(readLibraryMetadata(libraryWith(qwenMetadata(), 0, 0)).modelType).toBe('qwen2');
    const noNul = fakeLibrary([noise(1000, 3), JSON.stringify(qwenMetadata())]);
    expect(readLibraryMetadata(noNul).maxBatchSize).toBe(80);
  });

  it('is not fooled by braces, quotes, backslashes or non-ASCII text inside strings', () => {
    const raw = qwenMetadata();
    const tricky = 'a}b{c"d\\e}}}"{ ü 中 \\"';
    (raw.params as { name: string }[])[1]!.name = tricky;
    raw.model_type = '{"model_type": "not this"}';
    const meta = readLibraryMetadata(libraryWith(raw));
    expect(meta.params[1]!.name).toBe(tricky);
    expect(meta.modelType).toBe('{"model_type": "not this"}');
    expect(meta.kvCache.headDim).toBe(64);
  });

  it('skips bytes that only start like the object', () => {
    const bytes = fakeLibrary([
      noise(5000, 5),
      '{"model_type": "cut short\0',
      noise(5000, 9),
      '{"model_type" garbage }\0',
      JSON.stringify(qwenMetadata()),
      '\0'
    ]);
    expect(readLibraryMetadata(bytes).quantization).toBe('q4f32_1');
  });

  it('says when the bytes hold no metadata', () => {
    expect(() => readLibraryMetadata(noise(100_000, 13))).toThrow(LibraryMetadataError);
    expect(() => readLibraryMetadata(noise(100_000, 13))).toThrow(/not an MLC model library/);
    expect(() => readLibraryMetadata(new Uint8Array(0))).toThrow(/no model metadata/);
  });

  it('says when the object is cut short or is not JSON', () => {
    const whole = JSON.stringify(qwenMetadata());
    const cut = fakeLibrary([noise(1000, 3), whole.slice(0, whole.length / 2)]);
    expect(() => readLibraryMetadata(cut)).toThrow(/not readable JSON \(1 candidate found\)/);
    const broken = fakeLibrary([whole.replace('"qwen2"', 'qwen2'), '\0']);
    expect(() => readLibraryMetadata(broken)).toThrow(LibraryMetadataError);
  });

  it('names every field that is missing or of the wrong type', () => {
    const raw = qwenMetadata();
    delete (raw.kv_cache as Record<string, unknown>).head_dim;
    delete raw.prefill_chunk_size;
    raw.max_batch_size = '80';
    expect(() => readLibraryMetadata(libraryWith(raw))).toThrow(
      "The model library's metadata lacks prefill_chunk_size, max_batch_size, kv_cache.head_dim."
    );
  });

  it('names a missing kv_cache, memory_usage or params, and broken params', () => {
    const raw = qwenMetadata();
    delete raw.kv_cache;
    delete raw.memory_usage;
    expect(() => readLibraryMetadata(libraryWith(raw))).toThrow(
      /lacks kv_cache\.num_hidden_layers, kv_cache\.num_attention_heads, kv_cache\.num_key_value_heads, kv_cache\.head_dim, memory_usage\./
    );
    const params = qwenMetadata();
    params.params = [{ name: 'x', shape: [2, -1], dtype: 'float32' }, { shape: [1] }];
    expect(() => readLibraryMetadata(libraryWith(params))).toThrow(
      'lacks params[0].shape, params[1].name, params[1].dtype.'
    );
    const none = qwenMetadata();
    delete none.params;
    expect(() => readLibraryMetadata(libraryWith(none))).toThrow(/lacks params\./);
  });

  it('shortens a long list of missing fields', () => {
    expect(() => readLibraryMetadata(libraryWith({ model_type: 'qwen2' }))).toThrow(
      /lacks quantization, context_window_size, prefill_chunk_size, max_batch_size, sliding_window_size and \d+ more\./
    );
  });

  it('refuses a parameter of an unknown data type, naming it', () => {
    const raw = qwenMetadata();
    (raw.params as { dtype: string }[])[2]!.dtype = 'float4';
    expect(() => readLibraryMetadata(libraryWith(raw))).toThrow(
      /model\.layers\.0\.self_attn\.c_attn\.q_weight has a data type this app does not know: float4/
    );
  });
});
