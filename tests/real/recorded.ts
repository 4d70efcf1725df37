/**
 * The answers the real-runtime tests compare against, recorded once from the one-at-a-time
 * runs (WebLLM's own path) into tests/fixtures/real-answers.json, so no test re-runs another's
 * baseline. `npm run test:real:record` (LOCALBATCH_RECORD_ANSWERS=1) runs the tests tagged
 * @baseline and writes what they saw; in every other run those tests compare what they see
 * with the recording, which is how the recording is checked to still hold.
 *
 * A recording belongs to one kit (the model library, the generator of its weights, the
 * tokenizer: the kit's stamp) and one WebLLM: made with another, it is refused with the way
 * to re-record. The answers do not depend on the software adapter (SwiftShader and lavapipe
 * give the same tokens: docs/testing.md).
 */
import { expect } from '@playwright/test';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { OutputLine } from './real-helpers';

const FILE = fileURLToPath(new URL('../fixtures/real-answers.json', import.meta.url));
const WEBLLM = (
  JSON.parse(
    readFileSync(
      fileURLToPath(new URL('../../node_modules/@mlc-ai/web-llm/package.json', import.meta.url)),
      'utf8'
    )
  ) as { version: string }
).version;

const RECORDING = process.env.LOCALBATCH_RECORD_ANSWERS === '1';

/** What a test compares of an answer: text, finish and token counts. */
export interface Answer {
  id: string;
  text: string;
  finish: string;
  prompt: number;
  completion: number;
}

export function answerOf(line: OutputLine): Answer {
  const body = line.response.body;
  return {
    id: line.custom_id,
    text: body.choices[0]?.message.content ?? '',
    finish: body.choices[0]?.finish_reason ?? '',
    prompt: body.usage.prompt_tokens,
    completion: body.usage.completion_tokens
  };
}

export interface Recorded {
  /** The small job, one at a time; and the names of the usage fields of its export. */
  small: { answers: Answer[]; usageKeys: string[] };
  /** The WeClone scoring pairs, one at a time: the answers and the scores the app read. */
  scoring: { answers: Answer[]; scores: number[] };
  /** The 100+-token system prompt job, sharing off, one at a time; the prefix the log said. */
  prefix: { answers: Answer[]; prefixTokens: number };
  /** The scoring pairs with the preset's full rubric, sharing off, one at a time. */
  fullRubric: { answers: Answer[]; scores: number[]; prefixTokens: number };
}

interface RecordingFile extends Partial<Recorded> {
  /** The kit's stamp (scripts/real-kit/kit.mjs) the answers were recorded with. */
  kit: unknown;
  webllm: string;
}

/** The kit's stamp file as the recording keeps it (what the kit was made from). */
const kitOf = (stamp: string): unknown => JSON.parse(stamp);

function read(): RecordingFile | null {
  return existsSync(FILE) ? (JSON.parse(readFileSync(FILE, 'utf8')) as RecordingFile) : null;
}

const RERECORD = 'npm run test:real:record (docs/testing.md)';

/** The recorded `section`, or a failure saying what is missing or stale and how to re-record. */
export function recorded<K extends keyof Recorded>(section: K, kitStamp: string): Recorded[K] {
  const file = read();
  expect(file, `no recorded answers in ${FILE}: ${RERECORD}`).not.toBeNull();
  expect(
    file!.kit,
    `the recorded answers were made with another kit (library, weights generator or tokenizer): ${RERECORD}`
  ).toEqual(kitOf(kitStamp));
  expect(file!.webllm, `the recorded answers were made on another WebLLM: ${RERECORD}`).toBe(
    WEBLLM
  );
  const value = file![section] as Recorded[K] | undefined;
  expect(value, `no "${section}" in the recorded answers: ${RERECORD}`).toBeDefined();
  return value!;
}

/** Writes `section` into the recording (the other sections stay when the kit and WebLLM are the same). */
function record<K extends keyof Recorded>(section: K, value: Recorded[K], kitStamp: string): void {
  const file = read();
  const kit = kitOf(kitStamp);
  const same =
    file !== null && JSON.stringify(file.kit) === JSON.stringify(kit) && file.webllm === WEBLLM;
  const next: RecordingFile = { ...(same ? file : {}), kit, webllm: WEBLLM, [section]: value };
  writeFileSync(FILE, JSON.stringify(next, null, 2) + '\n');
}

/**
 * In a recording run, records what a baseline test saw; otherwise checks it against the
 * recording (the check that the recording still holds).
 */
export function recordOrCompare<K extends keyof Recorded>(
  section: K,
  seen: Recorded[K],
  kitStamp: string
): void {
  if (RECORDING) record(section, seen, kitStamp);
  else
    expect(seen, 'the one-at-a-time run gives the recorded answers').toEqual(
      recorded(section, kitStamp)
    );
}
