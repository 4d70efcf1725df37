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
 * The simulated model's tokenizer: one token per word and per punctuation mark, plus four per
 * message and two for the reply header. Its counts differ from the estimates made before load
 * (as a real tokenizer's do), so the switch to exact counts is exercised; its ids are a hash of
 * the word, so a prompt's ids depend on its text only.
 */
export function simulatedPromptIds(request: GenerateRequest): number[] {
  const ids: number[] = [];
  for (const message of request.messages) {
    ids.push(1, 2, 3, 4);
    for (const word of message.content.match(/\w+|[^\w\s]/g) ?? [])
      ids.push(5 + (hashString(word) % 50_000));
  }
  ids.push(1, 2);
  return ids;
}

export interface SimulatedCompletion {
  /** Pieces streamed one per token; joined they make the text. */
  tokens: string[];
  finishReason: FinishReason;
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
  return { tokens, finishReason: length < wanted ? 'length' : 'stop' };
}

/** The pairs of a scoring prompt (presets/score-pairs.ts lays each out in these tags). */
const PAIR_BLOCK = /<pair id="([^"]*)">\n([\s\S]*?)\n<\/pair>/g;

type Schema = Record<string, unknown>;

/**
 * A deterministic value valid for `schema`. Each value comes from a hash of its
 * seed and path, so a pair's score depends on the pair's own text only: the same
 * whether it is scored alone or with others in one prompt.
 */
function valueFor(schema: Schema, seed: string, path: string, id?: string): unknown {
  const pick = (n: number) => hashString(`${seed}\u0000${path}`) % n;
  if (Array.isArray(schema.enum) && schema.enum.length)
    return schema.enum[pick(schema.enum.length)];
  if ('const' in schema) return schema.const;
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'object': {
      const properties = (schema.properties ?? {}) as Record<string, Schema>;
      const value: Record<string, unknown> = {};
      for (const [key, child] of Object.entries(properties)) {
        value[key] =
          key === 'id' && id !== undefined
            ? child.type === 'integer' || child.type === 'number'
              ? Number(id)
              : id
            : valueFor(child, seed, `${path}/${key}`);
      }
      return value;
    }
    case 'array': {
      const items = (schema.items ?? {}) as Schema;
      const length = typeof schema.minItems === 'number' ? Math.max(1, schema.minItems) : 1;
      return Array.from({ length }, (_, i) => valueFor(items, seed, `${path}/${i}`));
    }
    case 'integer':
    case 'number': {
      const min = typeof schema.minimum === 'number' ? schema.minimum : 0;
      const max = typeof schema.maximum === 'number' ? schema.maximum : min + 100;
      return min + pick(Math.floor(max - min) + 1);
    }
    case 'boolean':
      return pick(2) === 0;
    case 'null':
      return null;
    default:
      return `simulated ${WORDS[pick(WORDS.length)] ?? 'text'}`;
  }
}

/**
 * A JSON answer valid for the request's schema. When the prompt holds pairs to
 * score and the schema asks for a list, there is one entry per pair, named by
 * its id and seeded by its text; one pair seeds the whole answer.
 */
export function simulatedJson(request: GenerateRequest & { schema: Schema }): string {
  const prompt = request.messages.map((message) => message.content).join('\n');
  const pairs = [...prompt.matchAll(PAIR_BLOCK)].map((m) => ({ id: m[1] ?? '', text: m[2] ?? '' }));
  const { schema } = request;
  if (schema.type === 'array' && pairs.length > 0) {
    const items = (schema.items ?? {}) as Schema;
    const max = typeof schema.maxItems === 'number' ? schema.maxItems : pairs.length;
    return JSON.stringify(
      pairs.slice(0, max).map((pair) => valueFor(items, pair.text, '', pair.id))
    );
  }
  const seed = pairs.length === 1 ? (pairs[0]?.text ?? '') : `${prompt}\u0000${request.seed}`;
  return JSON.stringify(valueFor(schema, seed, ''));
}

/** A JSON answer cut short, as a model stopped mid-answer would leave it: not valid JSON. */
export function brokenJson(json: string): string {
  return json.slice(0, Math.max(1, json.length - 2));
}

/** The answer streamed in pieces of a few characters, as tokens. */
export function jsonCompletion(json: string): SimulatedCompletion {
  const tokens = json.match(/[\s\S]{1,4}/g) ?? [json];
  return { tokens, finishReason: 'stop' };
}
