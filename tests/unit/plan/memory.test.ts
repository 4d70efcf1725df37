import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_FAMILY,
  MODELS,
  WEBLLM_DEFAULT_CONTEXT,
  kvBytesPerToken,
  modelById,
  largestScratchOf,
  q4Bytes,
  q4WeightBytes
} from '$lib/plan/catalog';
import { DEFAULT_SAFETY_MARGIN, planMemory, stepDown } from '$lib/plan/memory';
import { chooseSequences } from '$lib/plan/sequences';
import type { JobNeeds } from '$lib/shared/job';
import type { AdapterFacts, Plan } from '$lib/plan/types';
import {
  MiB,
  adapter,
  SWIFTSHADER,
  NVIDIA,
  NVIDIA_NO_F16,
  AMD,
  APPLE,
  INTEL,
  INTEL_ARC,
  MOBILE_256,
  MOBILE_BUFFER_512,
  LAVAPIPE,
  LAVAPIPE_UNNAMED,
  SMALL_WORKGROUP,
  FEW_BUFFERS
} from './adapters';

const TYPICAL: JobNeeds = { longestPromptTokens: 3000, maxAnswerTokens: 512, exact: false };
const LONG: JobNeeds = { longestPromptTokens: 12000, maxAnswerTokens: 512, exact: false };

interface Profile {
  name: string;
  adapter: AdapterFacts;
  userMB?: number;
  family?: string;
  needs?: JobNeeds;
  maxWindow?: number;
  expect:
    | {
        ok: true;
        model: string;
        window: number;
        kvBytes: number;
        maxPromptTokens: number;
        budgetMB: number | null;
        reasons: string[];
      }
    | { ok: false; suggestion: string | null; reasons: string[] };
}

const PROFILES: Profile[] = [
  {
    name: 'SwiftShader (CPU fallback, no f16, 1 GiB limits, deviceMemory 8): 7B refused',
    adapter: SWIFTSHADER,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-3B-Instruct-q4f32_1-MLC',
      reasons: [
        'q4f32_1 chosen because this GPU lacks shader-f16.',
        'This is a software GPU (SwiftShader, running on the CPU): it uses system RAM',
        '4,096 MiB',
        'Keeping 15% free leaves 3,482 MiB',
        'needs at least 5,566 MiB',
        '2,084 MiB more than the 3,482 MiB usable',
        'Qwen2.5-3B-Instruct (q4f32_1) would fit'
      ]
    }
  },
  {
    name: "lavapipe (Mesa's llvmpipe, 128 MiB bindings, deviceMemory 8): a software GPU, 7B refused naming the binding limit",
    adapter: LAVAPIPE,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-1.5B-Instruct-q4f32_1-MLC',
      reasons: [
        'q4f32_1 chosen because this GPU lacks shader-f16.',
        "This is a software GPU (Mesa's llvmpipe, running on the CPU): it uses system RAM",
        "Qwen2.5-7B-Instruct's largest weight tensor is 260 MiB (272,498,688 bytes), more than the 128 MiB maxStorageBufferBindingSize of this GPU. Qwen2.5-7B-Instruct cannot run on this GPU.",
        'Qwen2.5-1.5B-Instruct (q4f32_1) would fit'
      ]
    }
  },
  {
    name: 'lavapipe unnamed (no developer features): the size is unknown, and so said',
    adapter: LAVAPIPE_UNNAMED,
    family: 'Qwen2.5-0.5B-Instruct',
    expect: {
      ok: true,
      model: 'Qwen2.5-0.5B-Instruct-q4f32_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 24_576,
      maxPromptTokens: 3584,
      budgetMB: null,
      reasons: [
        'The browser does not name this GPU (no vendor, architecture or description), so whether it has memory of its own and how much is unknown until you say'
      ]
    }
  },
  {
    name: 'SwiftShader running the suggested 3B',
    adapter: SWIFTSHADER,
    family: 'Qwen2.5-3B-Instruct',
    expect: {
      ok: true,
      model: 'Qwen2.5-3B-Instruct-q4f32_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 73_728,
      maxPromptTokens: 3584,
      budgetMB: 3482,
      reasons: ['q4f32_1 chosen', 'A context window of 4,096 tokens fits', 'fits: weights']
    }
  },
  {
    name: 'NVIDIA discrete with f16, user says 8192 MiB',
    adapter: NVIDIA,
    userMB: 8192,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 57_344,
      maxPromptTokens: 3584,
      budgetMB: 6963,
      reasons: [
        'q4f16_1 chosen because this GPU has shader-f16.',
        'You said this GPU has 8,192 MiB.',
        'Keeping 15% free leaves 6,963 MiB',
        'A context window of 4,096 tokens fits the longest prompt, about 3,000 tokens (estimated), plus answers of up to 512 tokens',
        'KV cache 225 MiB (4,096 tokens and a spare page of 16, x 57,344 bytes) = 5,108 MiB, within the 6,963 MiB usable'
      ]
    }
  },
  {
    name: 'NVIDIA without shader-f16, user says 8192 MiB: q4f32_1, f32 KV',
    adapter: NVIDIA_NO_F16,
    userMB: 8192,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f32_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 114_688,
      maxPromptTokens: 3584,
      budgetMB: 6963,
      reasons: ['q4f32_1 chosen because this GPU lacks shader-f16.', 'KV cache 450 MiB']
    }
  },
  {
    name: 'AMD discrete, no figure from the user: size unknown, plans what the job needs',
    adapter: AMD,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 57_344,
      maxPromptTokens: 3584,
      budgetMB: null,
      reasons: [
        'No web API tells a discrete GPU',
        'unknown until you say how much this GPU has or "Check this GPU" shows it',
        'needs weights 4,086 MiB + activations 797 MiB + KV cache 225 MiB'
      ]
    }
  },
  {
    name: 'Apple M-series (f16, integrated, deviceMemory 8): 7B refused, 3B offered',
    adapter: APPLE,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-3B-Instruct-q4f16_1-MLC',
      reasons: [
        'q4f16_1 chosen',
        'integrated GPU',
        'two thirds',
        'Chrome reports at most 8 GB',
        '5,461 MiB',
        '297 MiB more than the 4,642 MiB usable',
        'If this machine has more memory, say how much.'
      ]
    }
  },
  {
    name: 'Apple M-series with 16 GB stated by the user',
    adapter: APPLE,
    userMB: 16384,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 57_344,
      maxPromptTokens: 3584,
      budgetMB: 13926,
      reasons: ['You said this GPU has 16,384 MiB.']
    }
  },
  {
    name: 'Intel integrated, deviceMemory 8: half of RAM, 7B refused',
    adapter: INTEL,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-3B-Instruct-q4f16_1-MLC',
      reasons: ['integrated GPU', 'about half of it', '4,096 MiB', 'more than the 3,482 MiB usable']
    }
  },
  {
    name: 'Intel integrated running 3B',
    adapter: INTEL,
    family: 'Qwen2.5-3B-Instruct',
    expect: {
      ok: true,
      model: 'Qwen2.5-3B-Instruct-q4f16_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 36_864,
      maxPromptTokens: 3584,
      budgetMB: 3482,
      reasons: ['fits']
    }
  },
  {
    name: 'Intel Arc (discrete): size unknown',
    adapter: INTEL_ARC,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 4096,
      kvBytes: (4096 + 16) * 57_344,
      maxPromptTokens: 3584,
      budgetMB: null,
      reasons: ['No web API tells']
    }
  },
  {
    name: 'Mobile GPU, 256 MiB binding limit: WebLLM gets 128 MiB, so 7B and 3B refused, 1.5B offered',
    adapter: MOBILE_256,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-1.5B-Instruct-q4f16_1-MLC',
      reasons: [
        "Qwen2.5-7B-Instruct's largest weight tensor is 260 MiB (272,498,688 bytes)",
        'more than the 128 MiB maxStorageBufferBindingSize',
        'this one offers 256 MiB, so it gets 128 MiB',
        'Qwen2.5-1.5B-Instruct (q4f16_1) would fit'
      ]
    }
  },
  {
    name: 'Mobile GPU, 1 GiB binding but 512 MiB buffers: WebLLM gets 256 MiB buffers, 7B refused, 3B offered',
    adapter: MOBILE_BUFFER_512,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-3B-Instruct-q4f16_1-MLC',
      reasons: ['more than the 256 MiB maxBufferSize', 'Qwen2.5-3B-Instruct (q4f16_1) would fit']
    }
  },
  {
    name: 'Budget below the 7B weights (user says 4096 MiB)',
    adapter: NVIDIA,
    userMB: 4096,
    expect: {
      ok: false,
      suggestion: 'Qwen2.5-3B-Instruct-q4f16_1-MLC',
      reasons: [
        'needs at least 4,940 MiB (weights 4,086 MiB + activations 797 MiB + KV cache for 1,024 tokens 57 MiB)',
        '1,458 MiB more than the 3,482 MiB usable',
        'Qwen2.5-3B-Instruct (q4f16_1) would fit'
      ]
    }
  },
  {
    name: 'Budget fits no model at all (user says 512 MiB)',
    adapter: NVIDIA,
    userMB: 512,
    expect: { ok: false, suggestion: null, reasons: ['more than the 435 MiB usable'] }
  },
  {
    name: '12k-token prompt with room: window 13312',
    adapter: NVIDIA,
    userMB: 8192,
    needs: LONG,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 13312,
      kvBytes: (13312 + 16) * 57_344,
      maxPromptTokens: 12800,
      budgetMB: 6963,
      reasons: ['A context window of 13,312 tokens fits']
    }
  },
  {
    name: '12k-token prompt with a small budget (6144 MiB): largest window that fits, longer items listed',
    adapter: NVIDIA,
    userMB: 6144,
    needs: LONG,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 6144,
      kvBytes: (6144 + 16) * 57_344,
      maxPromptTokens: 5632,
      budgetMB: 5222,
      reasons: [
        'The job needs a context of 13,312 tokens',
        'but only 6,144 fit in memory',
        'items whose prompt + answer exceed 6,144 tokens (prompts over 5,632 tokens) will be failed with that reason'
      ]
    }
  },
  {
    name: '12k-token prompt after a step-down to 8192',
    adapter: NVIDIA,
    userMB: 8192,
    needs: LONG,
    maxWindow: 8192,
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 8192,
      kvBytes: (8192 + 16) * 57_344,
      maxPromptTokens: 7680,
      budgetMB: 6963,
      reasons: ['the step-down after a memory error caps it at 8,192', 'will be failed']
    }
  },
  {
    name: 'A 40k-token prompt: capped at the model maximum of 32768',
    adapter: NVIDIA,
    userMB: 24576,
    needs: { longestPromptTokens: 40000, maxAnswerTokens: 1000, exact: true },
    expect: {
      ok: true,
      model: 'Qwen2.5-7B-Instruct-q4f16_1-MLC',
      window: 32768,
      kvBytes: (32768 + 16) * 57_344,
      maxPromptTokens: 31768,
      budgetMB: 20890,
      reasons: ['handles at most 32,768', 'the longest prompt, 40,000 tokens, plus']
    }
  },
  {
    name: 'Answers longer than the window that fits: refused',
    adapter: NVIDIA,
    userMB: 6144,
    needs: { longestPromptTokens: 100, maxAnswerTokens: 8000, exact: false },
    expect: { ok: false, suggestion: null, reasons: ['Lower the maximum answer length'] }
  },
  {
    name: 'maxComputeWorkgroupStorageSize 16 KiB: refused naming the limit',
    adapter: SMALL_WORKGROUP,
    userMB: 8192,
    expect: {
      ok: false,
      suggestion: null,
      reasons: [
        "This GPU's maxComputeWorkgroupStorageSize is 16,384 bytes (16 KiB), but WebLLM needs at least 32,768 bytes (32 KiB)"
      ]
    }
  },
  {
    name: 'maxStorageBuffersPerShaderStage 8: refused naming the limit',
    adapter: FEW_BUFFERS,
    expect: {
      ok: false,
      suggestion: null,
      reasons: ["This GPU's maxStorageBuffersPerShaderStage is 8, but WebLLM needs at least 10"]
    }
  },
  {
    name: 'maxStorageBufferBindingSize 64 MiB: refused naming the limit',
    adapter: adapter({}, { maxStorageBufferBindingSize: 64 * MiB }),
    expect: {
      ok: false,
      suggestion: null,
      reasons: ['maxStorageBufferBindingSize is 64 MiB, but WebLLM needs at least 128 MiB']
    }
  }
];

function plan(profile: Profile): Plan {
  return planMemory({
    adapter: profile.adapter,
    models: MODELS,
    family: profile.family ?? DEFAULT_FAMILY,
    needs: profile.needs ?? TYPICAL,
    budget: { userMB: profile.userMB ?? null },
    safetyMargin: DEFAULT_SAFETY_MARGIN,
    ...(profile.maxWindow === undefined ? {} : { maxWindow: profile.maxWindow })
  });
}

describe('planMemory: adapter profiles', () => {
  it('covers at least 8 profiles', () => {
    expect(PROFILES.length).toBeGreaterThanOrEqual(8);
  });

  for (const profile of PROFILES) {
    it(profile.name, () => {
      const result = plan(profile);
      const text = result.reasons.join('\n');
      for (const fragment of profile.expect.reasons) expect(text).toContain(fragment);
      const expected = profile.expect;
      if (expected.ok) {
        if (!result.ok) throw new Error(`refused: ${result.refusal}`);
        expect(result.model.id).toBe(expected.model);
        expect(result.contextWindow).toBe(expected.window);
        expect(result.contextWindow % 1024).toBe(0);
        expect(result.kvBytes).toBe(expected.kvBytes);
        expect(result.kvBytes).toBe((result.contextWindow + 16) * kvBytesPerToken(result.model));
        expect(result.weightsBytes).toBe(result.model.weightsBytes);
        expect(result.activationBytes).toBe(result.model.activationBytes);
        expect(result.totalBytes).toBe(
          result.weightsBytes + result.activationBytes + result.kvBytes
        );
        expect(result.maxPromptTokens).toBe(expected.maxPromptTokens);
        if (expected.budgetMB === null) expect(result.budgetBytes).toBeNull();
        else {
          expect(Math.round((result.budgetBytes ?? 0) / MiB)).toBe(expected.budgetMB);
          expect(result.totalBytes).toBeLessThanOrEqual(result.budgetBytes ?? 0);
        }
        // One sentence each for variant, budget, window and fit.
        expect(result.reasons).toHaveLength(4);
      } else {
        if (result.ok) throw new Error(`planned: ${result.reasons.join(' ')}`);
        expect(result.suggestion?.id ?? null).toBe(expected.suggestion);
        expect(result.refusal.length).toBeGreaterThan(0);
        expect(result.reasons.at(-1)).toBe(result.refusal);
      }
    });
  }
});

describe('planMemory: window rules', () => {
  it('picks the smallest multiple of 1024 that holds the job, never more', () => {
    for (const [prompt, answer, window] of [
      [1, 0, 1024],
      [0, 0, 1024],
      [512, 512, 1024],
      [513, 512, 2048],
      [3000, 1096, 4096],
      [3000, 1097, 5120]
    ] as const) {
      const result = planMemory({
        adapter: NVIDIA,
        models: MODELS,
        family: DEFAULT_FAMILY,
        needs: { longestPromptTokens: prompt, maxAnswerTokens: answer, exact: true },
        budget: { userMB: 8192 },
        safetyMargin: DEFAULT_SAFETY_MARGIN
      });
      expect(result.ok && result.contextWindow).toBe(window);
    }
  });

  it('the largest window that fits is exactly the budget boundary', () => {
    const model = modelById('Qwen2.5-7B-Instruct-q4f16_1-MLC');
    if (!model) throw new Error('missing');
    const kv = kvBytesPerToken(model);
    // A budget whose usable part holds exactly 5 * 1024 tokens of KV, one byte short of 6k.
    const usable = model.weightsBytes + model.activationBytes + 6144 * kv - 1;
    const userMB = usable / (1 - DEFAULT_SAFETY_MARGIN) / MiB;
    const result = planMemory({
      adapter: NVIDIA,
      models: MODELS,
      family: DEFAULT_FAMILY,
      needs: LONG,
      budget: { userMB },
      safetyMargin: DEFAULT_SAFETY_MARGIN
    });
    expect(result.ok && result.contextWindow).toBe(5120);
  });

  it('a larger margin gives a smaller window', () => {
    const at = (safetyMargin: number) => {
      const result = planMemory({
        adapter: NVIDIA,
        models: MODELS,
        family: DEFAULT_FAMILY,
        needs: LONG,
        budget: { userMB: 6144 },
        safetyMargin
      });
      return result.ok ? result.contextWindow : 0;
    };
    expect(at(0)).toBeGreaterThan(at(0.15));
    expect(at(0.9)).toBe(0);
  });
});

describe("planMemory: one layer's KV cache is one buffer the kernels bind", () => {
  const QWEN_15B = 'Qwen2.5-1.5B-Instruct-q4f32_1-MLC';
  const at = (
    sequences: number,
    needs: JobNeeds,
    models = MODELS,
    facts: AdapterFacts = LAVAPIPE
  ): Plan =>
    planMemory({
      adapter: facts,
      models,
      family: 'Qwen2.5-1.5B-Instruct',
      needs,
      budget: { userMB: 16_000 },
      safetyMargin: DEFAULT_SAFETY_MARGIN,
      sequences
    });
  const WINDOW_4K: JobNeeds = { longestPromptTokens: 3000, maxAnswerTokens: 1096, exact: true };

  it('16 sequences x 4,096 tokens of Qwen2.5-1.5B f32 is just over 128 MiB a layer: 15 sequences, saying so', () => {
    const model = modelById(QWEN_15B)!;
    // 2 (K, V) x 2 KV heads x 128 x 4 bytes a token a layer; 16 windows and the spare page.
    expect(kvBytesPerToken(model) / model.layers).toBe(2048);
    expect((16 * 4096 + 16) * 2048).toBeGreaterThan(128 * MiB);
    expect((15 * 4096 + 16) * 2048).toBeLessThanOrEqual(128 * MiB);
    const result = at(16, WINDOW_4K);
    if (!result.ok) throw new Error(result.refusal);
    expect(result.sequences).toBe(15);
    expect(result.contextWindow).toBe(4096);
    expect(result.reasons.join('\n')).toContain(
      "16 sequences at once would make one layer's KV cache 134,250,496 bytes (16 x 4,096 tokens and a spare page), more than this GPU's maxStorageBufferBindingSize of 134,217,728 bytes (128 MiB): 15 sequences at once."
    );
  });

  it('the same job binds at 15 sequences and on a 1 GiB binding at 16: nothing lowered, nothing said', () => {
    for (const [sequences, facts] of [
      [15, LAVAPIPE],
      [16, SWIFTSHADER]
    ] as const) {
      const result = at(sequences, WINDOW_4K, MODELS, facts);
      if (!result.ok) throw new Error(result.refusal);
      expect(result.sequences).toBe(sequences);
      expect(result.contextWindow).toBe(4096);
      expect(result.reasons.join('\n')).not.toContain('buffer binding');
    }
  });

  it('one sequence whose window does not bind: the window is lowered to what binds, saying so', () => {
    // A 1.5B compiled for 128k tokens and a 100k-token prompt: 64,528 tokens bind (128 MiB / 2,048 B).
    const long = MODELS.map((m) => (m.id === QWEN_15B ? { ...m, maxContext: 131_072 } : m));
    const result = at(4, { longestPromptTokens: 100_000, maxAnswerTokens: 100, exact: true }, long);
    if (!result.ok) throw new Error(result.refusal);
    expect(result.sequences).toBe(1);
    expect(result.contextWindow).toBe(64_512);
    const text = result.reasons.join('\n');
    expect(text).toContain(
      "4 sequences at once would make one layer's KV cache 822,116,352 bytes (4 x 100,352 tokens and a spare page), more than this GPU's maxStorageBufferBindingSize of 134,217,728 bytes (128 MiB): 1 sequence at once."
    );
    expect(text).toContain(
      "one layer's KV cache for more than 64,512 tokens would not fit in one buffer binding (128 MiB maxStorageBufferBindingSize)"
    );
    expect(result.maxPromptTokens).toBe(64_412);
  });

  it('a KV cache whose smallest window does not bind: refused, naming the limit', () => {
    // A model whose layers each keep 256 KiB a token: 1,040 tokens are 260 MiB.
    const wide = MODELS.map((m) =>
      m.id === QWEN_15B ? { ...m, kvHeads: 256, headDim: 128, kvBytesPerElement: 4 } : m
    );
    const result = at(1, WINDOW_4K, wide);
    if (result.ok) throw new Error('planned');
    expect(result.refusal).toContain(
      "Qwen2.5-1.5B-Instruct's KV cache for 1,024 tokens is 260 MiB a layer, more than the 128 MiB maxStorageBufferBindingSize of this GPU: it cannot run on it."
    );
  });

  it('a prefill chunk through the widest layer that does not bind: refused, naming the limit', () => {
    // Qwen2.5-1.5B f32 from a library compiled for 2,048-token prefill chunks: 2,048 x 17,920 x 4 B.
    const big = MODELS.map((m) =>
      m.id === QWEN_15B
        ? {
            ...m,
            prefillChunk: 2048,
            largestScratch: largestScratchOf(2048, 17920, 151936, 'q4f32_1', 80)
          }
        : m
    );
    const result = at(1, WINDOW_4K, big);
    if (result.ok) throw new Error('planned');
    expect(result.refusal).toBe(
      "Qwen2.5-1.5B-Instruct's largest scratch buffer (a prefill chunk through its widest layer) is 140 MiB (146,800,640 bytes), more than the 128 MiB maxStorageBufferBindingSize of this GPU. Qwen2.5-1.5B-Instruct cannot run on this GPU. Qwen2.5-0.5B-Instruct (q4f32_1) would fit."
    );
  });

  it("batch functions' logits that do not bind: one sequence at once, saying so", () => {
    // A library whose batch functions take 256 rows: 256 x 151,936 x 4 B of logits.
    const wide = MODELS.map((m) =>
      m.id === QWEN_15B
        ? { ...m, largestScratch: largestScratchOf(1024, 17920, 151936, 'q4f32_1', 256) }
        : m
    );
    const result = at(4, WINDOW_4K, wide);
    if (!result.ok) throw new Error(result.refusal);
    expect(result.sequences).toBe(1);
    expect(result.reasons.join('\n')).toContain(
      "Qwen2.5-1.5B-Instruct's largest scratch buffer with several sequences at once (a prefill chunk through its widest layer, or the batch functions’ logits) is 148 MiB (155,582,464 bytes), more than the 128 MiB maxStorageBufferBindingSize of this GPU. 1 sequence at once."
    );
  });

  it('the default choice of sequences takes none a layer cannot bind', () => {
    // 8 x 8,192 tokens of the 1.5B would be 128 MiB and a page: 4 at once, the largest of 8, 4, 2 that binds.
    const result = chooseSequences(null, (sequences) =>
      at(sequences, { longestPromptTokens: 7000, maxAnswerTokens: 1000, exact: true })
    );
    if (!result.ok) throw new Error(result.refusal);
    expect(result.contextWindow).toBe(8192);
    expect(result.sequences).toBe(4);
  });
});

describe('stepDown', () => {
  it('halves, rounds down to 1024, never below 1024', () => {
    expect(stepDown(16384)).toBe(8192);
    expect(stepDown(13312)).toBe(6144);
    expect(stepDown(5120)).toBe(2048);
    expect(stepDown(3072)).toBe(1024);
    expect(stepDown(2048)).toBe(1024);
    expect(stepDown(1500)).toBe(1024);
  });
  it('returns null at the smallest window', () => {
    expect(stepDown(1024)).toBeNull();
    expect(stepDown(512)).toBeNull();
  });
  it('goes straight to what the job needs when that is below half', () => {
    expect(stepDown(16384, 3000)).toBe(3072);
    expect(stepDown(16384, 12000)).toBe(8192);
    expect(stepDown(4096, 100)).toBe(1024);
    expect(stepDown(1024, 100)).toBeNull();
  });
});

describe('catalog', () => {
  it('KV bytes per token', () => {
    const f16 = modelById('Qwen2.5-7B-Instruct-q4f16_1-MLC');
    const f32 = modelById('Qwen2.5-7B-Instruct-q4f32_1-MLC');
    expect(f16 && kvBytesPerToken(f16)).toBe(57_344);
    expect(f32 && kvBytesPerToken(f32)).toBe(114_688);
    expect(f16 && 4096 * kvBytesPerToken(f16)).toBe(234_881_024);
    expect(f32 && 4096 * kvBytesPerToken(f32)).toBe(469_762_048);
  });

  it('largest tensors: the 7B embedding does not fit a 256 MiB binding, the 3B one does', () => {
    expect(q4WeightBytes(152064, 3584)).toBe(272_498_688);
    expect(q4Bytes(152064, 3584, 2)).toBe(272_498_688 + 34_062_336);
    expect(modelById('Qwen2.5-7B-Instruct-q4f16_1-MLC')?.largestTensorBytes).toBe(272_498_688);
    expect(modelById('Qwen2.5-7B-Instruct-q4f32_1-MLC')?.largestTensorBytes).toBe(272_498_688);
    expect(272_498_688).toBeGreaterThan(256 * MiB);
    expect(modelById('Qwen2.5-3B-Instruct-q4f16_1-MLC')?.largestTensorBytes).toBe(155_582_464);
    expect(modelById('Qwen2.5-1.5B-Instruct-q4f16_1-MLC')?.largestTensorBytes).toBe(116_686_848);
    expect(modelById('Qwen2.5-0.5B-Instruct-q4f16_1-MLC')?.largestTensorBytes).toBe(68_067_328);
  });

  it('largest scratch buffers: what the real runtime allocates for the 0.5B, and the 7B f32 past 128 MiB', () => {
    // Measured (tests/real, the buffers WebLLM 0.2.79 created for Qwen2-0.5B q4f32_1): 1,024 x
    // 9,728 x 4 one at a time; 80 x 151,936 x 4 (the batch functions' logits) with several.
    expect(modelById('Qwen2.5-0.5B-Instruct-q4f32_1-MLC')?.largestScratch).toEqual({
      single: 39_845_888,
      batch: 48_619_520
    });
    expect(modelById('Qwen2.5-0.5B-Instruct-q4f16_1-MLC')?.largestScratch).toEqual({
      single: 1024 * 9728 * 2,
      batch: 48_619_520
    });
    expect(modelById('Qwen2.5-7B-Instruct-q4f32_1-MLC')?.largestScratch.single).toBe(
      1024 * 37_888 * 4
    );
    expect(1024 * 37_888 * 4).toBeGreaterThan(128 * MiB);
  });

  it('weights: 7B q4f16_1 and q4f32_1', () => {
    expect(modelById('Qwen2.5-7B-Instruct-q4f16_1-MLC')?.weightsBytes).toBe(4_284_263_424);
    expect(modelById('Qwen2.5-7B-Instruct-q4f32_1-MLC')?.weightsBytes).toBe(4_760_885_248);
  });

  it('activations = WebLLM vram figure - weights - KV at its default context', () => {
    for (const model of MODELS) {
      expect(model.activationBytes).toBe(
        Math.round(model.vramRequiredMB * MiB) -
          model.weightsBytes -
          WEBLLM_DEFAULT_CONTEXT * kvBytesPerToken(model)
      );
      expect(model.activationBytes).toBeGreaterThan(0);
      expect(model.maxContext).toBe(32768);
      expect(model.prefillChunk).toBe(1024);
      expect(model.needsShaderF16).toBe(model.quantization === 'q4f16_1');
      expect(model.kvBytesPerElement).toBe(model.quantization === 'q4f16_1' ? 2 : 4);
    }
  });

  it('default family first; every id and vram figure matches WebLLM 0.2.86 prebuiltAppConfig', () => {
    expect(MODELS[0]?.family).toBe(DEFAULT_FAMILY);
    expect(MODELS).toHaveLength(8);
    const source = readFileSync('node_modules/@mlc-ai/web-llm/lib/index.js', 'utf8');
    for (const model of MODELS) {
      const at = source.indexOf(`model_id: "${model.id}"`);
      expect(at, model.id).toBeGreaterThan(0);
      const record = source.slice(at, source.indexOf('},', source.indexOf('overrides', at)));
      expect(record).toContain(`vram_required_MB: ${model.vramRequiredMB},`);
      expect(record).toContain('context_window_size: 4096');
      expect(record).toContain('_cs1k-webgpu.wasm');
    }
  });
});
