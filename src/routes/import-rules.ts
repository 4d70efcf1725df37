/**
 * The new-job form's rules that need no page: the answer schema the user types, the
 * scoring preset's fields and what choosing it changes, the CSV options and the job's name.
 */
import type { CsvOptions } from '$lib/formats/types';
import {
  DEFAULT_KEEP_SCORE,
  MAX_PAIRS_PER_PROMPT,
  RUBRICS,
  SCORE_ANSWER_TOKENS
} from '$lib/presets/score-pairs';
import { checkSchema, type JsonSchema } from '$lib/shared/answer';
import { DEFAULT_SETTINGS, type PresetSettings } from '$lib/shared/job';

export type PresetId = '' | 'score-pairs';
export type RubricLanguage = PresetSettings['language'];

/** The preset's fields as the form holds them (the preset applies to datasets of pairs only). */
export interface PresetChoice {
  id: PresetId;
  language: RubricLanguage;
  rubric: string;
  pairsPerPrompt: number;
}

/** A new file's preset: none until the user picks it, the rubric in the data's language. */
export function freshPreset(language: RubricLanguage = 'en'): PresetChoice {
  return { id: '', language, rubric: RUBRICS[language], pairsPerPrompt: 1 };
}

/** The sampling a preset brings: WeClone scores at temperature 0 with short JSON answers. */
export function presetSampling(id: PresetId): { temperature: number; max_tokens: number } {
  return id
    ? { temperature: 0, max_tokens: SCORE_ANSWER_TOKENS }
    : { temperature: DEFAULT_SETTINGS.temperature, max_tokens: DEFAULT_SETTINGS.max_tokens };
}

/** The rubric after a change of language: only a rubric the user has not edited follows it. */
export function rubricFor(language: RubricLanguage, rubric: string): string {
  return Object.values(RUBRICS).includes(rubric) ? RUBRICS[language] : rubric;
}

/** The job's preset: the chosen one when the file is a dataset of pairs, else none. */
export function presetSettings(choice: PresetChoice, isDataset: boolean): PresetSettings | null {
  if (choice.id !== 'score-pairs' || !isDataset) return null;
  return {
    id: 'score-pairs',
    rubric: choice.rubric,
    language: choice.language,
    pairsPerPrompt: choice.pairsPerPrompt,
    keepScoreAtLeast: DEFAULT_KEEP_SCORE
  };
}

/** A rubric with text, and pairs per prompt a whole number from 1 to MAX_PAIRS_PER_PROMPT. */
export function presetFieldsValid(choice: PresetChoice): boolean {
  return (
    choice.rubric.trim() !== '' &&
    Number.isInteger(choice.pairsPerPrompt) &&
    choice.pairsPerPrompt >= 1 &&
    choice.pairsPerPrompt <= MAX_PAIRS_PER_PROMPT
  );
}

/** An answer schema typed by the user: none (empty), a schema, or why it cannot be used. */
export type OwnSchema = { schema: JsonSchema | null; problem: string | null };

export function readAnswerSchema(text: string): OwnSchema {
  if (!text.trim()) return { schema: null, problem: null };
  try {
    const schema: unknown = JSON.parse(text);
    const problem = checkSchema(schema);
    return problem ? { schema: null, problem } : { schema: schema as JsonSchema, problem: null };
  } catch (error) {
    return { schema: null, problem: `The answer schema is not JSON (${String(error)}).` };
  }
}

/** A CSV file's options: a template wins over a chosen column; neither means detect. */
export function csvOptions(column: string, template: string): CsvOptions {
  const options: CsvOptions = {};
  if (template.trim()) options.template = template;
  else if (column) options.promptColumn = column;
  return options;
}

/** A new job's name: its file's name without the extension. */
export function jobName(fileName: string): string {
  return fileName.replace(/\.[^.]+$/, '');
}
