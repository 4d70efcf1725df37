/** What is sent to an engine for one item. No DOM: read by the page and the worker. */
import type { JsonSchema } from './answer';
import type { ChatMessage, DatasetPair, JobSettings, ParsedItem } from './job';

export interface GenerateRequest {
  messages: ChatMessage[];
  temperature: number;
  top_p: number;
  max_tokens: number;
  seed: number;
  /** The answer must be JSON that follows this schema (the engine constrains it where it can). */
  schema?: JsonSchema;
}

/** The fields every OpenAI-style streamed chat request carries (WebLLM and servers alike). */
export function streamedChatFields(request: GenerateRequest) {
  return {
    messages: request.messages,
    temperature: request.temperature,
    top_p: request.top_p,
    max_tokens: request.max_tokens,
    seed: request.seed,
    stream: true as const,
    stream_options: { include_usage: true }
  };
}

/** What the model is asked for a dataset pair: its conversation up to (not with) its answer. */
export function pairPrompt(pair: Pick<DatasetPair, 'system' | 'turns'>): ChatMessage[] {
  const question = pair.turns.slice(0, -1);
  return pair.system ? [{ role: 'system', content: pair.system }, ...question] : question;
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
    seed: input.params.seed ?? settings.seed,
    ...(settings.answerSchema ? { schema: settings.answerSchema } : {})
  };
}
