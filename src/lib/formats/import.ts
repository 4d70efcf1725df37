/**
 * Reading an input file: detects the format from the extension and the content, decodes
 * strict UTF-8, and returns the valid items plus every problem, written for the user.
 * Runs in the page, in a Web Worker and in Node: no DOM, no Svelte.
 */
import type { InputFormatId } from '$lib/jobs/types';
import type { CsvOptions, FormatMeta, ImportPreview, ImportProblem } from '$lib/formats/types';
import {
  MAX_IMPORT_BYTES,
  MAX_IMPORT_ITEMS,
  MAX_PROBLEMS_KEPT,
  isBlank,
  type ParseResult
} from '$lib/formats/common';
import { csvFormat, parseCsv } from '$lib/formats/csv';
import {
  jsonArrayFormat,
  jsonlFormat,
  openaiBatchInputFormat,
  parseJsonArray,
  parseJsonLines
} from '$lib/formats/jsonl';
import { parseTxt, txtFormat } from '$lib/formats/txt';

export { MAX_IMPORT_BYTES, MAX_IMPORT_ITEMS, MAX_PROBLEMS_KEPT };

/** Every input format, for the page's help text. */
export const inputFormats: readonly FormatMeta[] = [
  openaiBatchInputFormat,
  jsonlFormat,
  jsonArrayFormat,
  csvFormat,
  txtFormat
];

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

/** Lower-case extension without the dot, or '' when the name has none. */
function extensionOf(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

const MiB = 1024 * 1024;

/** Rounded up to 0.1 MiB, so a file just over the limit never reads as the limit. */
function formatMiB(bytes: number): string {
  return (Math.ceil((bytes / MiB) * 10) / 10).toFixed(1) + ' MiB';
}

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

function decode(bytes: Uint8Array): string | null {
  try {
    // ignoreBOM: false (the default) strips a UTF-8 BOM.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
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
  if (bytes.length > MAX_IMPORT_BYTES) {
    return fatalPreview(
      fileName,
      `the file is ${formatMiB(bytes.length)}; the limit is ${MAX_IMPORT_BYTES / MiB} MiB: split it into smaller files`,
      guess.format,
      guess.label
    );
  }
  if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  ) {
    return fatalPreview(
      fileName,
      'the file is saved as UTF-16: save it as UTF-8 and import it again',
      guess.format,
      guess.label
    );
  }
  const text = decode(bytes);
  if (text === null || text.includes('\u0000')) {
    return fatalPreview(
      fileName,
      'this is not a text file (it is binary, or its text is not UTF-8): save the prompts as UTF-8 text and import that file',
      guess.format,
      guess.label
    );
  }
  if (isBlank(text)) {
    return fatalPreview(fileName, 'the file is empty', guess.format, guess.label);
  }

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

/** "prompts.jsonl line 7: not valid JSON (...)" / "prompts.jsonl: the file is empty". */
export function describeProblem(fileName: string, problem: ImportProblem): string {
  if (problem.line === null) return `${fileName}: ${problem.message}`;
  return `${fileName} ${problem.unit ?? 'line'} ${problem.line}: ${problem.message}`;
}
