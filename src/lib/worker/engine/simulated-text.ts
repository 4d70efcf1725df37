/**
 * The simulated engine's output: placeholder text that is a pure function of
 * (messages, sampling settings, seed), so the same job gives the same results
 * in any run, however often it was interrupted.
 */
import type { FinishReason } from '$lib/shared/job';
import type { GenerateRequest } from '$lib/shared/request';

const WORDS = (
  'the a model answer batch prompt token local result score pair question data ' +
  'simulated placeholder text value item job check plan memory device resume ' +
  'commit export window context output input keep run step line'
).split(' ');

/** FNV-1a over the UTF-16 code units: small, fast, stable across browsers. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** mulberry32: a tiny seeded generator. */
function generator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The simulated model's tokenizer: one token per word and per punctuation
 * mark, plus a few per message for the chat template. Its counts differ from
 * the estimates made before load (as a real tokenizer's do), so the switch to
 * exact counts is exercised.
 */
export function countPromptTokens(request: GenerateRequest): number {
  let count = 0;
  for (const message of request.messages) {
    count += 4 + (message.content.match(/\w+|[^\w\s]/g)?.length ?? 0);
  }
  return count + 2;
}

export interface SimulatedCompletion {
  /** Pieces streamed one per token; joined they make the text. */
  tokens: string[];
  finishReason: FinishReason;
  promptTokens: number;
}

export function simulatedCompletion(request: GenerateRequest, echo = false): SimulatedCompletion {
  const key = JSON.stringify([
    request.messages,
    request.temperature,
    request.top_p,
    request.max_tokens,
    request.seed
  ]);
  const random = generator(hashString(key));
  const wanted = 12 + Math.floor(random() * 36);
  const length = Math.min(wanted, Math.max(1, request.max_tokens));
  const tokens: string[] = [];
  for (let i = 0; i < length; i++) {
    const word = WORDS[Math.floor(random() * WORDS.length)] ?? 'token';
    tokens.push(i === 0 ? '[simulated] ' + word : ' ' + word);
  }
  if (length === wanted) tokens[tokens.length - 1] += '.';
  if (echo) tokens.unshift(`You said: ${request.messages.at(-1)?.content ?? ''}\n`);
  return {
    tokens,
    finishReason: length < wanted ? 'length' : 'stop',
    promptTokens: countPromptTokens(request)
  };
}
