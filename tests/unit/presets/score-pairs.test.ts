import { describe, expect, it } from 'vitest';
import { requestFor, skipReason } from '$lib/presets';
import {
  NOT_SCORED,
  RUBRICS,
  SCORES,
  detectLanguage,
  scoreOf,
  scoreSchema,
  scoringPrompt,
  splitScores
} from '$lib/presets/score-pairs';
import { answerReader } from '$lib/shared/answer';
import type { JobSettings, ParsedItem, PresetSettings } from '$lib/shared/job';
import { simulatedJson } from '$lib/worker/engine/simulated-text';

const preset: PresetSettings = {
  id: 'score-pairs',
  rubric: RUBRICS.en,
  language: 'en',
  pairsPerPrompt: 1,
  keepScoreAtLeast: 2
};
const settings: Omit<JobSettings, 'name'> = {
  systemPrompt: '',
  temperature: 0,
  top_p: 0.95,
  max_tokens: 200,
  seed: 0,
  preset,
  answerSchema: scoreSchema(1)
};

function item(id: string, q: string, a: string, images = false): ParsedItem {
  return {
    line: 1,
    customId: id,
    messages: [{ role: 'user', content: q }],
    params: {},
    pair: {
      format: 'sharegpt',
      system: 'Be a human.',
      turns: [
        { role: 'user', content: q },
        { role: 'assistant', content: a }
      ],
      hasImages: images,
      original: { id }
    }
  };
}

describe('the rubric', () => {
  it('weighs relevance and coherence first, style only for a 5, and spares short acknowledgements and typos', () => {
    for (const rubric of [RUBRICS.en, RUBRICS.zh]) {
      expect(rubric).toContain('好的');
      expect(rubric).toMatch(/\*4|\*四点/);
    }
    expect(RUBRICS.en).toMatch(/1\. Relevance[\s\S]*2\. Coherence[\s\S]*3\. Style/);
    expect(RUBRICS.en).toContain('Style only decides between a 4 and a 5');
    expect(RUBRICS.zh).toMatch(/1\. 相关性[\s\S]*2\. 连贯性[\s\S]*3\. 风格/);
    expect(RUBRICS.zh).toContain('风格只用来区分 4 分和 5 分');
  });

  it('is chosen by the data: Chinese pairs get the Chinese rubric', () => {
    expect(detectLanguage([item('1', '吃饭了吗', '吃了').pair!])).toBe('zh');
    expect(detectLanguage([item('1', 'are you free?', 'yep').pair!])).toBe('en');
    expect(detectLanguage([])).toBe('en');
  });
});

describe('scoringPrompt', () => {
  it('lays each pair out as Q/A lines inside its own tags, then says how to answer', () => {
    const prompt = scoringPrompt(preset, [
      {
        id: '7',
        turns: [
          { role: 'user', content: 'hi' },
          { role: 'assistant', content: 'hey' },
          { role: 'user', content: 'free?' },
          { role: 'assistant', content: 'yep' }
        ]
      }
    ]);
    expect(prompt.startsWith(RUBRICS.en)).toBe(true);
    expect(prompt).toContain('<pair id="7">\nQ: hi\nA: hey\nQ: free?\nA: yep\n</pair>');
    expect(prompt.endsWith('{"score": <an integer from 1 to 5>}')).toBe(true);
  });

  it('several pairs ask for a list of {id, score} in order', () => {
    const prompt = scoringPrompt({ ...preset, language: 'zh', rubric: RUBRICS.zh }, [
      { id: 'a', turns: [{ role: 'user', content: '1' }] },
      { id: 'b', turns: [{ role: 'user', content: '2' }] }
    ]);
    expect(prompt).toContain('共 2 个问答对：');
    expect(prompt.indexOf('<pair id="a">')).toBeLessThan(prompt.indexOf('<pair id="b">'));
    expect(prompt).toContain('[{"id": "<问答对的 id>", "score": <1 到 5 的整数>}, ...]');
  });
});

describe('requestFor', () => {
  it('a scoring job sends the rubric prompt with the score schema at the job settings', () => {
    const request = requestFor(settings, [item('7', 'hi', 'hey')]);
    expect(request.messages).toHaveLength(1);
    expect(request.messages[0]?.role).toBe('user');
    expect(request.messages[0]?.content).toContain('<pair id="7">\nQ: hi\nA: hey\n</pair>');
    expect(request).toMatchObject({ temperature: 0, max_tokens: 200, schema: scoreSchema(1) });
  });

  it('several pairs share a prompt, with room for every score in the answer', () => {
    const items = Array.from({ length: 20 }, (_, i) => item(String(i), `q${i}`, `a${i}`));
    const request = requestFor(settings, items);
    expect(request.schema).toEqual(scoreSchema(20));
    expect(request.max_tokens).toBe(480);
    expect(request.messages[0]?.content.match(/<pair id=/g)).toHaveLength(20);
  });

  it('a job without a preset sends the item as it is', () => {
    const plain = { ...settings, preset: null, answerSchema: null };
    expect(requestFor(plain, [item('7', 'hi', 'hey')]).messages).toEqual([
      { role: 'user', content: 'hi' }
    ]);
  });

  it('pairs with images are not sent in a scoring job', () => {
    expect(skipReason(settings, item('1', 'q', 'a', true))).toContain('has images');
    expect(skipReason(settings, item('1', 'q', 'a'))).toBeNull();
    expect(skipReason({ ...settings, preset: null }, item('1', 'q', 'a', true))).toBeNull();
  });
});

describe('splitScores', () => {
  const read = answerReader(scoreSchema(4));

  it('one pair: {score}', () => {
    expect(splitScores(answerReader(scoreSchema(1))('{"score": 4}'), ['a'])).toEqual(
      new Map([['a', 4]])
    );
  });

  it('several: each id its score; ids unknown, doubled or missing are left out', () => {
    const answer = read(
      '[{"id": "a", "score": 5}, {"id": "zz", "score": 1}, {"id": "c", "score": 2}, {"id": "c", "score": 3}]'
    );
    expect(answer.ok).toBe(true);
    expect(splitScores(answer, ['a', 'b', 'c'])).toEqual(new Map([['a', 5]]));
  });

  it('an answer that did not parse scores nothing', () => {
    expect(splitScores(read('[{"id": "a", "score": 9}]'), ['a'])).toEqual(new Map());
    expect(splitScores(read('not json'), ['a'])).toEqual(new Map());
  });
});

describe('scoreOf', () => {
  it.each([
    [{ status: 'done', answer: { ok: true, value: { score: 4 } } }, 4],
    [{ status: 'done', answer: { ok: false, reason: 'x' } }, 0],
    [{ status: 'done' }, 0],
    [{ status: 'failed' }, 0],
    [{ status: 'skipped' }, NOT_SCORED]
  ] as const)('%o -> %s', (result, score) => {
    expect(scoreOf(result)).toBe(score);
  });
});

describe('the simulated engine under a score schema', () => {
  const pairs = Array.from({ length: 8 }, (_, i) => item(`p${i}`, `question ${i}`, `answer ${i}`));

  it('gives each pair the same score alone as in a batch of eight', () => {
    const alone = pairs.map((p) => {
      const request = requestFor(settings, [p]);
      return JSON.parse(simulatedJson({ ...request, schema: request.schema! })).score;
    });
    const batch = requestFor({ ...settings, preset: { ...preset, pairsPerPrompt: 8 } }, pairs);
    const together = JSON.parse(simulatedJson({ ...batch, schema: batch.schema! }));
    expect(together.map((entry: { id: string }) => entry.id)).toEqual(pairs.map((p) => p.customId));
    expect(together.map((entry: { score: number }) => entry.score)).toEqual(alone);
    for (const score of alone) expect(SCORES).toContain(score);
    // Not all the same: the scores spread over the range.
    expect(new Set(alone).size).toBeGreaterThan(1);
  });

  it('writes JSON valid for any simple schema', () => {
    const schema = {
      type: 'object',
      properties: {
        label: { type: 'string', enum: ['good', 'bad'] },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2 },
        ok: { type: 'boolean' }
      },
      required: ['label', 'confidence', 'tags', 'ok']
    };
    const text = simulatedJson({
      messages: [{ role: 'user', content: 'Label this.' }],
      temperature: 0,
      top_p: 1,
      max_tokens: 50,
      seed: 3,
      schema
    });
    expect(answerReader(schema)(text)).toMatchObject({ ok: true });
  });
});
