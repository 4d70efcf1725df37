import { describe, expect, it } from 'vitest';
import {
  DEFAULT_KEEP_SCORE,
  MAX_PAIRS_PER_PROMPT,
  RUBRICS,
  SCORE_ANSWER_TOKENS
} from '$lib/presets/score-pairs';
import { DEFAULT_SETTINGS } from '$lib/shared/job';
import {
  csvOptions,
  freshPreset,
  jobName,
  presetFieldsValid,
  presetSampling,
  presetSettings,
  readAnswerSchema,
  rubricFor,
  type PresetChoice
} from '../../../src/routes/import-rules';

const chosen: PresetChoice = {
  id: 'score-pairs',
  language: 'en',
  rubric: RUBRICS.en,
  pairsPerPrompt: 4
};

describe('the scoring preset', () => {
  it('is off for a new file, its rubric in the language of the data', () => {
    expect(freshPreset()).toEqual({
      id: '',
      language: 'en',
      rubric: RUBRICS.en,
      pairsPerPrompt: 1
    });
    expect(freshPreset('zh')).toMatchObject({ language: 'zh', rubric: RUBRICS.zh });
  });

  it('applies to a dataset of pairs only', () => {
    expect(presetSettings(chosen, true)).toEqual({
      id: 'score-pairs',
      rubric: RUBRICS.en,
      language: 'en',
      pairsPerPrompt: 4,
      keepScoreAtLeast: DEFAULT_KEEP_SCORE
    });
    expect(presetSettings(chosen, false)).toBeNull();
    expect(presetSettings({ ...chosen, id: '' }, true)).toBeNull();
  });

  it('brings temperature 0 and short answers; none brings the defaults back', () => {
    expect(presetSampling('score-pairs')).toEqual({
      temperature: 0,
      max_tokens: SCORE_ANSWER_TOKENS
    });
    expect(presetSampling('')).toEqual({
      temperature: DEFAULT_SETTINGS.temperature,
      max_tokens: DEFAULT_SETTINGS.max_tokens
    });
  });

  it('changes the rubric with the language unless the user edited it', () => {
    expect(rubricFor('zh', RUBRICS.en)).toBe(RUBRICS.zh);
    expect(rubricFor('en', RUBRICS.zh)).toBe(RUBRICS.en);
    expect(rubricFor('zh', 'My own rubric')).toBe('My own rubric');
  });

  it.each([
    [chosen, true],
    [{ ...chosen, pairsPerPrompt: 1 }, true],
    [{ ...chosen, pairsPerPrompt: MAX_PAIRS_PER_PROMPT }, true],
    [{ ...chosen, pairsPerPrompt: MAX_PAIRS_PER_PROMPT + 1 }, false],
    [{ ...chosen, pairsPerPrompt: 0 }, false],
    [{ ...chosen, pairsPerPrompt: 2.5 }, false],
    [{ ...chosen, rubric: '  \n' }, false]
  ])('%o valid: %s', (choice, valid) => {
    expect(presetFieldsValid(choice)).toBe(valid);
  });
});

describe('an answer schema of the user own', () => {
  it('is none while the field is empty', () => {
    expect(readAnswerSchema('  ')).toEqual({ schema: null, problem: null });
  });

  it('is the parsed schema', () => {
    const schema = { type: 'object', properties: { label: { enum: ['yes', 'no'] } } };
    expect(readAnswerSchema(JSON.stringify(schema))).toEqual({ schema, problem: null });
  });

  it('says why text that is not JSON, or not a schema, cannot be used', () => {
    expect(readAnswerSchema('{"type": ').problem).toMatch(/^The answer schema is not JSON \(/);
    const notSchema = readAnswerSchema('[1, 2]');
    expect(notSchema.schema).toBeNull();
    expect(notSchema.problem).toBeTruthy();
  });
});

describe('CSV options and the job name', () => {
  it('a template wins over a column; neither means detect', () => {
    expect(csvOptions('question', 'Q: {{question}}')).toEqual({ template: 'Q: {{question}}' });
    expect(csvOptions('question', '  ')).toEqual({ promptColumn: 'question' });
    expect(csvOptions('', '')).toEqual({});
  });

  it('names the job after its file, without the extension', () => {
    expect(jobName('sft-my.json')).toBe('sft-my');
    expect(jobName('batch.v2.jsonl')).toBe('batch.v2');
    expect(jobName('prompts')).toBe('prompts');
  });
});
