/**
 * Reading an input file: detects the format from the extension and the content, decodes
 * strict UTF-8, and returns the valid items plus every problem, written for the user.
 * Runs in the page, in a Web Worker and in Node: no DOM, no Svelte.
 */
import type { InputFormatId } from '$lib/shared/job';
import { csvFormat, parseCsv } from './csv';
import { jsonlFormat, parseJsonArray, parseJsonLines } from './jsonl';
import { extensionOf, readTextFile } from './text-file';
import { parseTxt, txtFormat } from './txt';
import type { ImportProblem } from './problems';
import type { CsvOptions, ImportPreview, ParseResult } from './types';

type Family = 'json' | 'csv' | 'tsv' | 'txt';

const FAMILIES: Readonly<Record<string, Family>> = {
  jsonl: 'json',
  ndjson: 'json',
  json: 'json',
  csv: 'csv',
  tsv: 'tsv',
  txt: 'txt'
};

/** For an <input type="file" accept="...">. */
export const ACCEPTED_EXTENSIONS = Object.keys(FAMILIES)
  .map((e) => '.' + e)
  .join(',');

const ACCEPTED_TEXT =
  'LocalBatch reads JSON lines (.jsonl), JSON arrays (.json), CSV (.csv) and plain text (.txt, one prompt per line)';

const FAMILY_FORMAT: Record<Family, { format: InputFormatId; label: string }> = {
  json: { format: 'jsonl', label: jsonlFormat.label },
  csv: { format: 'csv', label: csvFormat.label },
  tsv: { format: 'csv', label: csvFormat.label },
  txt: { format: 'txt', label: txtFormat.label }
};

function fatalPreview(
  fileName: string,
  message: string,
  format: InputFormatId | null = null,
  formatLabel = ''
): ImportPreview {
  return {
    fileName,
    format,
    formatLabel,
    items: [],
    problems: [{ line: null, message }],
    fatal: true,
    columns: [],
    problemCount: 1
  };
}

/** The first line with content starts a JSON object, so a .txt file is really JSON lines. */
function looksLikeJsonLines(text: string): boolean {
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    if (line !== '') {
      if (!line.startsWith('{')) return false;
      try {
        const v: unknown = JSON.parse(line);
        return typeof v === 'object' && v !== null && !Array.isArray(v);
      } catch {
        return false;
      }
    }
    start = end + 1;
  }
  return false;
}

/**
 * Reads an input file. Never throws: everything wrong with the file is in `problems`;
 * `fatal` means no job can be made from it.
 */
export function parseImport(
  fileName: string,
  bytes: Uint8Array,
  options: CsvOptions = {}
): ImportPreview {
  const ext = extensionOf(fileName);
  const family = FAMILIES[ext];
  if (family === undefined) {
    return fatalPreview(
      fileName,
      ext === ''
        ? `the file name has no extension, so its format is unknown: ${ACCEPTED_TEXT}`
        : `.${ext} files can't be imported: ${ACCEPTED_TEXT}`
    );
  }
  const guess = FAMILY_FORMAT[family];
  const file = readTextFile(bytes, {
    again: 'import it again',
    binary: 'save the prompts as UTF-8 text and import that file'
  });
  if (!file.ok) return fatalPreview(fileName, file.message, guess.format, guess.label);
  const { text } = file;

  let parsed: ParseResult;
  if (family === 'json') {
    parsed = text.trimStart().startsWith('[') ? parseJsonArray(text) : parseJsonLines(text);
  } else if (family === 'csv' || family === 'tsv') {
    parsed = parseCsv(text, options, family === 'tsv' ? '\t' : undefined);
  } else {
    parsed = looksLikeJsonLines(text) ? parseJsonLines(text) : parseTxt(text);
  }

  const problems: ImportProblem[] = parsed.problems.kept;
  if (parsed.fatal !== null) problems.unshift({ line: null, message: parsed.fatal });
  return {
    fileName,
    format: parsed.format,
    formatLabel: parsed.formatLabel,
    items: parsed.fatal !== null ? [] : parsed.items,
    problems,
    fatal: parsed.fatal !== null,
    columns: parsed.columns,
    problemCount: parsed.problems.count + (parsed.fatal !== null ? 1 : 0)
  };
}
