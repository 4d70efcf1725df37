/**
 * The sampling settings a job or an item may set, with their allowed ranges:
 * one rule for each, read by the import parsers and the job form alike.
 */
import type { ItemParams } from './job';

export interface SamplingRule {
  ok(value: unknown): boolean;
  /** What the value must be, to end "… must be <rule>". */
  rule: string;
}

export const SAMPLING_RULES: Readonly<Record<keyof ItemParams, SamplingRule>> = {
  temperature: {
    ok: (v) => typeof v === 'number' && v >= 0 && v <= 2,
    rule: 'a number from 0 to 2'
  },
  top_p: {
    ok: (v) => typeof v === 'number' && v > 0 && v <= 1,
    rule: 'a number above 0 and at most 1'
  },
  max_tokens: {
    ok: (v) => typeof v === 'number' && Number.isInteger(v) && v > 0,
    rule: 'a whole number above 0'
  },
  seed: {
    ok: (v) => typeof v === 'number' && Number.isSafeInteger(v),
    rule: 'a whole number'
  }
};

/** True when every sampling setting is in its range. */
export function samplingValid(settings: Required<ItemParams>): boolean {
  return (Object.keys(SAMPLING_RULES) as (keyof ItemParams)[]).every((key) =>
    SAMPLING_RULES[key].ok(settings[key])
  );
}
