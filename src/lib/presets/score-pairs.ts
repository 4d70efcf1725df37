/**
 * The preset "Score chat pairs (WeClone)": a rubric asks the model to score
 * question/answer pairs from a person's chat history from 1 to 5, as WeClone's
 * cleaning step does (temperature 0, a JSON answer, unparsed = 0, pairs with
 * images not scored, keep score >= 2). The rubric is our own, in English and
 * Chinese. Several pairs may share one prompt; the answer is then a list of
 * {id, score}, split back into one score per pair.
 */
import type { JsonSchema, ParsedAnswer } from '$lib/shared/answer';
import type {
  ChatMessage,
  DatasetPair,
  ItemResult,
  JobSettings,
  PresetSettings
} from '$lib/shared/job';
import type { GenerateRequest } from '$lib/shared/request';
import type { PromptItem, SharedPrompt } from './shared-prompt';

export const SCORE_PAIRS_LABEL = 'Score chat pairs (WeClone)';
/** WeClone's accept_score. */
export const DEFAULT_KEEP_SCORE = 2;
/** A pair is scored in one short JSON answer (WeClone's max_new_tokens). */
export const SCORE_ANSWER_TOKENS = 200;
/** Answer tokens per pair when several share a prompt: {"id": "...", "score": n} with room. */
const ANSWER_TOKENS_PER_PAIR = 24;
export const MAX_PAIRS_PER_PROMPT = 50;
export const SCORES = [1, 2, 3, 4, 5] as const;

const RUBRIC_EN = `You rate question/answer pairs taken from one person's chat history. The pairs that pass will teach a model to reply the way this person does. Give each pair a score from 1 to 5.

Judge in this order:
1. Relevance: does the answer (A) respond to the message before it (Q)? An answer that fits its question is relevant, however short.
2. Coherence: does the exchange make sense as a piece of conversation, without contradictions or garbled text?
3. Style: does the answer sound like this particular person (their tone, pet phrases, slang, emoji, punctuation)? Style only decides between a 4 and a 5: never lower a relevant, coherent pair for plain style.

These are not low quality:
- short acknowledgements such as "ok", "yes", "got it", "好的", "嗯", "收到", when they fit the message they answer;
- typos, and a typo followed by its correction (for example "see you at 3" and then "*4"): judge what the person meant.

Scores:
1 - the answer has nothing to do with the question, or the exchange is garbled.
2 - mostly unrelated, or clearly incoherent.
3 - related but weak: partly off topic, or it barely makes sense.
4 - relevant and coherent.
5 - relevant, coherent, and unmistakably this person's own way of chatting.`;

const RUBRIC_ZH = `你要为从某个人的聊天记录中提取的问答对打分。通过筛选的问答对将用来教模型像这个人一样回复。请给每个问答对打 1 到 5 分。

按以下顺序判断：
1. 相关性：回答（A）是否回应了它前面的消息（Q）？只要回答切合问题，再短也算相关。
2. 连贯性：这段交流作为对话是否说得通，没有自相矛盾或语无伦次？
3. 风格：回答是否像这个人本人说的话（语气、口头禅、俚语、表情符号、标点习惯）？风格只用来区分 4 分和 5 分：不要因为风格平淡就给相关且连贯的问答对降分。

以下情况不算低质量：
- “好的”“嗯”“收到”“是的”“ok”等简短的确认或应答，只要与所回应的消息相符；
- 错别字，以及打错字后紧接着的更正（例如先发“三点见”，再发“*四点”）：按这个人想表达的意思来判断。

评分：
1 分 - 回答与问题毫无关系，或交流内容混乱。
2 分 - 大部分不相关，或明显不连贯。
3 分 - 有关联但较弱：部分跑题，或勉强说得通。
4 分 - 相关且连贯。
5 分 - 相关、连贯，而且一看就是这个人自己的聊天方式。`;

export const RUBRICS: Readonly<Record<PresetSettings['language'], string>> = {
  en: RUBRIC_EN,
  zh: RUBRIC_ZH
};

/** The pairs laid out for the prompt, and how to answer, in the rubric's language. */
const WORDING = {
  en: {
    pairs: (n: number) => (n === 1 ? 'The pair:' : `The ${n} pairs:`),
    one: 'Answer with JSON only, no other text: {"score": <an integer from 1 to 5>}',
    many: (n: number) =>
      `Answer with JSON only, no other text: a list with one object for each of the ${n} pairs, in the order above: [{"id": "<the pair's id>", "score": <an integer from 1 to 5>}, ...]`
  },
  zh: {
    pairs: (n: number) => (n === 1 ? '问答对：' : `共 ${n} 个问答对：`),
    one: '只输出 JSON，不要其他文字：{"score": <1 到 5 的整数>}',
    many: (n: number) =>
      `只输出 JSON，不要其他文字：按上面的顺序，为 ${n} 个问答对各写一个对象组成列表：[{"id": "<问答对的 id>", "score": <1 到 5 的整数>}, ...]`
  }
} as const;

/** Han, kana and hangul, as a share of all letters, above which the data is taken as Chinese. */
const CJK_SHARE = 0.3;
/** Pairs read to judge the language. */
const LANGUAGE_SAMPLE = 200;

/** 'zh' when the pairs are mostly Chinese (or Japanese, Korean) text, else 'en'. */
export function detectLanguage(pairs: readonly Pick<DatasetPair, 'turns'>[]): 'en' | 'zh' {
  let cjk = 0;
  let letters = 0;
  for (const pair of pairs.slice(0, LANGUAGE_SAMPLE)) {
    for (const turn of pair.turns) {
      for (const char of turn.content) {
        if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u.test(char))
          cjk++;
        else if (/\p{L}/u.test(char)) letters++;
      }
    }
  }
  const total = cjk + letters;
  return total > 0 && cjk / total >= CJK_SHARE ? 'zh' : 'en';
}

const SCORE: JsonSchema = { type: 'integer', enum: [...SCORES] };

/** The answer's schema: {score} for one pair, a list of {id, score} for several. */
export function scoreSchema(pairsPerPrompt: number): JsonSchema {
  if (pairsPerPrompt <= 1) {
    return {
      type: 'object',
      properties: { score: SCORE },
      required: ['score'],
      additionalProperties: false
    };
  }
  return {
    type: 'array',
    items: {
      type: 'object',
      properties: { id: { type: 'string' }, score: SCORE },
      required: ['id', 'score'],
      additionalProperties: false
    },
    minItems: 1,
    maxItems: pairsPerPrompt
  };
}

/** Answer tokens a prompt of `pairs` pairs may use. */
function answerTokens(settings: Pick<JobSettings, 'max_tokens'>, pairs: number): number {
  return pairs <= 1
    ? settings.max_tokens
    : Math.max(settings.max_tokens, ANSWER_TOKENS_PER_PAIR * pairs);
}

export interface ScoredPair {
  /** The item's custom_id: the model names the pair by it. */
  id: string;
  turns: ChatMessage[];
}

/**
 * One pair as the model reads it: its turns as "Q: …" / "A: …" lines inside
 * <pair id="…"> … </pair>, so several pairs in one prompt stay apart.
 */
function pairBlock(pair: ScoredPair): string {
  const lines = pair.turns.map((turn) => `${turn.role === 'user' ? 'Q' : 'A'}: ${turn.content}`);
  return `<pair id="${pair.id}">\n${lines.join('\n')}\n</pair>`;
}

/** The user message that asks for the scores of `pairs`. */
export function scoringPrompt(
  preset: Pick<PresetSettings, 'rubric' | 'language'>,
  pairs: readonly ScoredPair[]
): string {
  const words = WORDING[preset.language];
  const answer = pairs.length === 1 ? words.one : words.many(pairs.length);
  return [preset.rubric.trim(), words.pairs(pairs.length), ...pairs.map(pairBlock), answer].join(
    '\n\n'
  );
}

/**
 * The score of each pair in a parsed answer, by id. One pair: {score}. Several:
 * the list's entries whose id is one of `ids` (a pair missing, doubled or with
 * a bad score is left out: it is scored again alone).
 */
export function splitScores(answer: ParsedAnswer, ids: readonly string[]): Map<string, number> {
  const scores = new Map<string, number>();
  if (!answer.ok) return scores;
  const value = answer.value;
  if (ids.length === 1 && !Array.isArray(value)) {
    const score = (value as { score?: unknown } | null)?.score;
    if (isScore(score) && ids[0] !== undefined) scores.set(ids[0], score);
    return scores;
  }
  if (!Array.isArray(value)) return scores;
  const wanted = new Set(ids);
  const seen = new Set<string>();
  for (const entry of value as { id?: unknown; score?: unknown }[]) {
    const id = typeof entry?.id === 'number' ? String(entry.id) : entry?.id;
    if (typeof id !== 'string' || !wanted.has(id)) continue;
    if (seen.has(id)) {
      scores.delete(id);
      continue;
    }
    seen.add(id);
    if (isScore(entry.score)) scores.set(id, entry.score);
  }
  return scores;
}

/** The request that asks for the scores of `items` (one pair, or several sharing the prompt). */
export function scoringRequest(
  settings: Omit<JobSettings, 'name'> & { preset: PresetSettings },
  items: readonly PromptItem[]
): GenerateRequest {
  const pairs = items.map((item) => ({
    id: item.customId,
    turns: item.pair?.turns ?? item.messages.filter((m) => m.role !== 'system')
  }));
  const content = scoringPrompt(settings.preset, pairs);
  return {
    messages: settings.systemPrompt.trim()
      ? [
          { role: 'system', content: settings.systemPrompt },
          { role: 'user', content }
        ]
      : [{ role: 'user', content }],
    temperature: settings.temperature,
    top_p: settings.top_p,
    max_tokens: answerTokens(settings, items.length),
    seed: settings.seed,
    schema: scoreSchema(items.length)
  };
}

/** "the batch of pairs 17 to 24" (by custom_id), for the run log and the page. */
function batchName(items: readonly Pick<PromptItem, 'customId'>[]): string {
  const first = items[0]?.customId ?? '';
  const last = items[items.length - 1]?.customId ?? '';
  return items.length > 1 ? `the batch of pairs ${first} to ${last}` : `the batch of pair ${first}`;
}

/** K pairs per prompt, as the runner sees them; null when each pair has a prompt of its own. */
export function scorePairsPrompt(
  settings: Omit<JobSettings, 'name'> & { preset: PresetSettings }
): SharedPrompt | null {
  const size = settings.preset.pairsPerPrompt;
  if (size <= 1) return null;
  return {
    size,
    request: (items) => scoringRequest(settings, items),
    name: batchName,
    split(answer, ids) {
      const scores = splitScores(answer, ids);
      return new Map(
        [...scores].map(([id, score]) => [
          id,
          { text: JSON.stringify({ score }), answer: { ok: true, value: { score } } }
        ])
      );
    },
    runAlone: (items, why) => `${batchName(items)} ${why}; its pairs are scored alone`,
    leftOut: (items, missing) =>
      `${batchName(items)}: the answer left out ${missing} of ${items.length} pairs; they are scored alone`
  };
}

function isScore(value: unknown): value is number {
  return typeof value === 'number' && (SCORES as readonly number[]).includes(value);
}

/** A pair with images: WeClone does not score it, and keeps it. */
export const NOT_SCORED = 'not scored';
export type PairScore = (typeof SCORES)[number] | 0 | typeof NOT_SCORED;

/**
 * A pair's score from its result: 1 to 5; 0 when the answer gave none (it did not
 * parse, or the item failed), as WeClone counts it; 'not scored' for a pair with images.
 */
export function scoreOf(result: Pick<ItemResult, 'status' | 'answer'>): PairScore {
  if (result.status === 'skipped') return NOT_SCORED;
  if (result.status !== 'done' || !result.answer?.ok) return 0;
  const score = (result.answer.value as { score?: unknown } | null)?.score;
  return isScore(score) ? (score as PairScore) : 0;
}
