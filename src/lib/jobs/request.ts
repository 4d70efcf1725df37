import type { GenerateRequest } from '$lib/engine/types';
import type { ItemInput, JobMeta } from './types';

/**
 * What is sent to the engine for one item: the item's own messages and
 * settings (from an OpenAI batch line), the job's settings for the rest, and
 * the job's system prompt where the item brings none.
 */
export function buildRequest(job: Pick<JobMeta, 'settings'>, input: ItemInput): GenerateRequest {
  const { settings } = job;
  const hasSystem = input.messages.some((message) => message.role === 'system');
  const messages =
    settings.systemPrompt.trim() && !hasSystem
      ? [{ role: 'system' as const, content: settings.systemPrompt }, ...input.messages]
      : input.messages;
  return {
    messages,
    temperature: input.params.temperature ?? settings.temperature,
    top_p: input.params.top_p ?? settings.top_p,
    max_tokens: input.params.max_tokens ?? settings.max_tokens,
    seed: input.params.seed ?? settings.seed
  };
}

export function jobLockName(jobId: string): string {
  return `localbatch:job:${jobId}`;
}
