/**
 * Structured answers: a job may ask for answers that follow a JSON Schema. The
 * engines constrain the model to it where they can; every answer is then read
 * here, and a result keeps either the parsed value or why the text is not one.
 * The validator (@cfworker/json-schema) compiles no code, so it runs under the
 * app's Content-Security-Policy, which allows no eval.
 */
import { Validator, type Schema } from '@cfworker/json-schema';

/** A JSON Schema, as a parsed object. */
export type JsonSchema = Record<string, unknown>;

export type ParsedAnswer = { ok: true; value: unknown } | { ok: false; reason: string };

/** The schema as OpenAI's API (and vLLM, and batch files) takes it in `response_format`. */
export function jsonSchemaFormat(schema: JsonSchema) {
  return {
    type: 'json_schema' as const,
    json_schema: { name: 'answer', schema, strict: true }
  };
}

/** Keywords that only say "something inside did not match": the inner error says what. */
const CONTAINER_KEYWORDS = new Set(['properties', 'items', 'prefixItems', 'false', 'allOf']);
/** Validation errors named in a reason, at most. */
const ERRORS_SHOWN = 2;
/** Answer text quoted in a reason, at most. */
const QUOTE_CHARS = 80;

/** A model may wrap JSON in a Markdown fence (```json … ```) where nothing constrained it. */
function unfence(text: string): string {
  const trimmed = text.trim();
  const fenced = /^```(?:json)?\s*\n([\s\S]*?)\n?```$/i.exec(trimmed);
  return fenced?.[1]?.trim() ?? trimmed;
}

function quote(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > QUOTE_CHARS ? flat.slice(0, QUOTE_CHARS - 1) + '…' : flat);
}

/** Whether `schema` is a schema the validator accepts; a message for the user if not. */
export function checkSchema(schema: unknown): string | null {
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return 'the answer schema must be a JSON object, such as {"type": "object", ...}';
  }
  try {
    new Validator(schema as Schema, '2020-12', false).validate(null);
    return null;
  } catch (error) {
    return `the answer schema cannot be used: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** Reads answers against `schema`: the parsed value, or why the text is not a valid answer. */
export function answerReader(schema: JsonSchema): (text: string) => ParsedAnswer {
  const validator = new Validator(schema as Schema, '2020-12', false);
  return (text) => {
    const json = unfence(text);
    if (json === '') return { ok: false, reason: 'The answer is empty: no JSON was written.' };
    let value: unknown;
    try {
      value = JSON.parse(json);
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return { ok: false, reason: `The answer is not JSON (${why}): ${quote(json)}.` };
    }
    const { valid, errors } = validator.validate(value);
    if (valid) return { ok: true, value };
    const specific = errors.filter((e) => !CONTAINER_KEYWORDS.has(e.keyword));
    const shown = (specific.length ? specific : errors).slice(0, ERRORS_SHOWN).map((e) => {
      const at = e.instanceLocation.replace(/^#\/?/, '');
      return at ? `${at}: ${e.error}` : e.error;
    });
    return {
      ok: false,
      reason: `The answer does not follow the schema (${shown.join(' ')}): ${quote(json)}.`
    };
  };
}
