/**
 * Token counts before the tokenizer is loaded (it comes with the multi-GB
 * download). They size the context window, so they err high: a window a little
 * too big costs some memory; one too small fails items that would have fit.
 *
 * Qwen2.5's tokenizer is byte-level BPE with a 151k vocabulary:
 * - English prose averages ~4 characters per token and code ~3, so other text
 *   counts 1 token per 3 characters.
 * - Its pre-tokenizer splits numbers into single digits (`\p{N}` one at a time),
 *   so every digit is a token: "2024-01-31" is 10 tokens, not 4.
 * - Chinese, Japanese kana and Korean hangul: common characters and words have
 *   their own tokens, rare ones fall back to 2-3 byte tokens; 1 per character
 *   is the usual upper estimate for running text.
 * - Other non-ASCII letters (Cyrillic, Greek, Arabic, Hebrew, Thai, Devanagari,
 *   accented Latin): 1 token per 2 characters, as their words split into more,
 *   shorter pieces than English.
 * - Characters outside the BMP (emoji, rare CJK): 2 tokens each (4 UTF-8 bytes).
 */
import type { JobNeeds } from '$lib/shared/job';

/** Tokens around each message: `<|im_start|>`, the role, "\n", `<|im_end|>`, "\n" = 5; 8 with room. */
export const MESSAGE_OVERHEAD_TOKENS = 8;
/** `<|im_start|>assistant\n` (3 tokens), plus one. */
export const ASSISTANT_PREFIX_TOKENS = 4;
/**
 * Qwen2.5's chat template adds a system message when the request has none
 * (Hugging Face template; MLC's `qwen2` template uses a shorter one). Counted
 * with the longer of the two.
 */
export const DEFAULT_SYSTEM_PROMPT =
  'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.';

function isCjk(code: number): boolean {
  return (
    (code >= 0x2e80 && code <= 0x9fff) || // CJK radicals, kana, CJK punctuation, ideographs
    (code >= 0xa960 && code <= 0xa97f) || // hangul jamo extended-A
    (code >= 0xac00 && code <= 0xd7ff) || // hangul syllables, jamo extended-B
    (code >= 0xf900 && code <= 0xfaff) || // CJK compatibility ideographs
    (code >= 0xfe30 && code <= 0xfe4f) || // CJK compatibility forms
    (code >= 0xff00 && code <= 0xffef) || // half- and full-width forms
    (code >= 0x1100 && code <= 0x11ff) // hangul jamo
  );
}

/** A conservative token count for `text` (see the module comment). */
export function estimateTokens(text: string): number {
  let whole = 0; // digits, CJK, astral halves: one token each
  let ascii = 0; // other ASCII: a third of a token each
  let other = 0; // other non-ASCII: half a token each
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      if (code >= 0x30 && code <= 0x39) whole++;
      else ascii++;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      whole++; // each half of a surrogate pair: 2 tokens per astral character
    } else if (isCjk(code)) {
      whole++;
    } else {
      other++;
    }
  }
  return whole + Math.ceil(ascii / 3 + other / 2);
}

export interface NeedsMessage {
  role: string;
  content: string | null | undefined;
}

export interface NeedsRequest {
  messages: readonly NeedsMessage[];
  max_tokens: number;
}

/** Estimated prompt tokens of one chat request, chat template included. */
export function estimatePromptTokens(messages: readonly NeedsMessage[]): number {
  let tokens = ASSISTANT_PREFIX_TOKENS;
  let hasSystem = false;
  for (const message of messages) {
    if (message.role === 'system') hasSystem = true;
    tokens += MESSAGE_OVERHEAD_TOKENS + estimateTokens(message.content ?? '');
  }
  if (!hasSystem) tokens += MESSAGE_OVERHEAD_TOKENS + estimateTokens(DEFAULT_SYSTEM_PROMPT);
  return tokens;
}

/** Every request's estimated prompt tokens, and what the job asks of the model from them. */
export function estimateJobTokens(requests: readonly NeedsRequest[]): {
  promptTokens: number[];
  needs: JobNeeds;
} {
  const promptTokens: number[] = [];
  let longestPromptTokens = 0;
  let maxAnswerTokens = 0;
  for (const request of requests) {
    const prompt = estimatePromptTokens(request.messages);
    promptTokens.push(prompt);
    if (prompt > longestPromptTokens) longestPromptTokens = prompt;
    if (request.max_tokens > maxAnswerTokens) maxAnswerTokens = request.max_tokens;
  }
  return { promptTokens, needs: { longestPromptTokens, maxAnswerTokens, exact: false } };
}
