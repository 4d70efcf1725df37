/** What is sent to an engine for one item. No DOM: read by the page and the worker. */
import type { ChatMessage, JobSettings, ParsedItem } from './job';

export interface GenerateRequest {
  messages: ChatMessage[];
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
}

/**
 * The item's own messages and settings (from an OpenAI batch line), the job's
 * settings for the rest, and the job's system prompt where the item brings none.
 */
export function buildRequest(
  job: { settings: Omit<JobSettings, 'name'> },
  input: Pick<ParsedItem, 'messages' | 'params'>
): GenerateRequest {
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
