/**
 * The real-runtime scoring prompts: the WeClone preset's, with a one-line rubric (the full one
 * is ~400 tokens, minutes of prefill on a software GPU), a pair of one word each way.
 */
import { scoreSchema, scoringPrompt } from '../../src/lib/presets/score-pairs';
import type { GenerateRequest } from '../../src/lib/shared/request';

/** The scoring tests' rubric: one line. */
export const SCORING_RUBRIC = 'Score the pair from 1 to 5.';

/** The scoring tests' pairs: two, one word each way, so a prompt is 64 tokens. */
export const SCORED_PAIRS: [string, string][] = [
  ['Lunch?', 'Sure'],
  ['Tea?', 'No']
];

/** Enough for {"score": n} and the stop token (7 tokens) when xgrammar adds no whitespace. */
export const SCORE_TOKENS = 8;

/** A pair's scoring request as the app makes it: the preset's prompt, its schema, greedy. */
export function scoringRequest([question, answer]: [string, string]): GenerateRequest {
  return {
    messages: [
      {
        role: 'user',
        content: scoringPrompt({ rubric: SCORING_RUBRIC, language: 'en' }, [
          {
            id: '0',
            turns: [
              { role: 'user', content: question },
              { role: 'assistant', content: answer }
            ]
          }
        ])
      }
    ],
    temperature: 0,
    top_p: 1,
    max_tokens: SCORE_TOKENS,
    seed: 0,
    schema: scoreSchema(1)
  };
}
