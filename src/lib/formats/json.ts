/** Reading untrusted JSON: the checks and wording every JSON-based format shares. */
import type { ProblemList } from './problems';
import { forEachLine, isBlank } from './text-file';

/** A check that either gives a value or says, for the user, what is wrong. */
export type Check<T> = { ok: true; value: T } | { ok: false; message: string };

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** "a text", "a list", "an object"…: what a value is, in a user's words. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a text';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'true/false';
    default:
      return 'an object';
  }
}

/** JSON for a short value in a message, cut so a message stays one readable line. */
export function shortJson(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? text.slice(0, 37) + '...' : text;
}

/** The whole text is one JSON object (spread over several lines, where one per line was wanted). */
export function looksLikeOneObject(text: string): boolean {
  try {
    return isRecord(JSON.parse(text));
  } catch {
    return false;
  }
}

/**
 * JSON.parse's reason with its "at position N" turned into a line and column of the file
 * (or just a column, for one JSONL line). Newer V8 versions append "(line L column C)"
 * themselves; that is dropped first so the text is the same on every Node version.
 */
function errorReason(e: unknown, text: string, oneLine: boolean): string {
  const message = (e instanceof Error ? e.message : String(e)).replace(
    / \(line \d+ column \d+\)$/,
    ''
  );
  return message.replace(/ at position (\d+)$/, (_, digits: string) => {
    const position = Number(digits);
    if (oneLine) return ` at column ${position + 1}`;
    let line = 1;
    let lineStart = 0;
    for (let i = text.indexOf('\n'); i !== -1 && i < position; i = text.indexOf('\n', i + 1)) {
      line++;
      lineStart = i + 1;
    }
    return ` at line ${line} column ${position - lineStart + 1}`;
  });
}

/** The whole text as JSON, or why it is not: "the file is not valid JSON (… at line L column C)". */
export function parseJsonFile(text: string): Check<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (e) {
    return { ok: false, message: `the file is not valid JSON (${errorReason(e, text, false)})` };
  }
}

/**
 * Each non-blank line of `text` parsed as JSON and given to `take` with its
 * line number; a line that is not JSON is a problem of that line.
 */
export function forEachJsonLine(
  text: string,
  problems: ProblemList,
  take: (value: unknown, lineNumber: number) => void
): void {
  forEachLine(text, (line, n) => {
    if (isBlank(line)) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      problems.add(n, `not valid JSON (${errorReason(e, line, true)})`);
      return;
    }
    take(value, n);
  });
}
