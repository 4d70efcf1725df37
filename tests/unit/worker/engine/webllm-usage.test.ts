import { describe, expect, it } from 'vitest';
import type { CompletionUsage } from '@mlc-ai/web-llm';
import { webllmUsage } from '$lib/worker/engine/webllm';

/** WebLLM 0.2.79's usage chunk, as the real runtime sent it for `max_tokens: 2` (finish "length"). */
function reported(decodeSteps: number): CompletionUsage {
  return {
    prompt_tokens: 14,
    completion_tokens: decodeSteps,
    total_tokens: 14 + decodeSteps,
    extra: {
      e2e_latency_s: 60,
      prefill_tokens_per_s: 0.4,
      decode_tokens_per_s: 0.06,
      time_to_first_token_s: 40,
      time_per_output_token_s: 16
    }
  };
}

describe('webllmUsage', () => {
  it('counts the token sampled at the end of prefill, which WebLLM 0.2.79 leaves out', () => {
    expect(webllmUsage(reported(1))).toEqual({
      prompt_tokens: 14,
      completion_tokens: 2,
      total_tokens: 16,
      prefill_tokens_per_s: 0.4,
      decode_tokens_per_s: 0.06
    });
  });

  it('one token (the prefill one, no decode step) counts as one', () => {
    expect(webllmUsage(reported(0))).toMatchObject({ completion_tokens: 1, total_tokens: 15 });
  });

  it('no usage at all: zeros, not a guess', () => {
    expect(webllmUsage(undefined)).toEqual({
      prompt_tokens: 0,
      completion_tokens: 0,
      total_tokens: 0,
      prefill_tokens_per_s: undefined,
      decode_tokens_per_s: undefined
    });
  });
});
