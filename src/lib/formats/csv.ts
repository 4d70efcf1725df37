/**
 * CSV, both ways, via papaparse.
 * - Input: the first non-empty row is the header; the prompt comes from one column or from
 *   a template such as "Rate this answer: {{answer}}".
 * - Output: results as CSV (RFC 4180, "\r\n"), safe to open in a spreadsheet.
 */
import Papa from 'papaparse';
import type { ParsedItem } from '$lib/shared/job';
import { plural } from '$lib/shared/figures';
import { exporter } from './writer';
import type {
  CsvOptions,
  ExportItem,
  ExportResult,
  Exporter,
  FormatMeta,
  ParseResult
} from './types';
import { IdRegistry, MAX_IMPORT_ITEMS, ProblemList, noneReadable, tooManyItems } from './problems';

export const csvFormat: FormatMeta = {
  id: 'csv',
  label: 'CSV',
  mimeType: 'text/csv',
  extension: 'csv'
};

/** Column names that are taken as the prompt column when none is chosen, in this order. */
const PROMPT_COLUMN_NAMES = ['prompt', 'question', 'input', 'text'] as const;
/** Column names that are taken as the custom_id column when none is chosen, in this order. */
const ID_COLUMN_NAMES = ['custom_id', 'id'] as const;

const TEMPLATE_FIELD = /\{\{\s*([^{}]*?)\s*\}\}/g;
const MAX_COLUMNS_LISTED = 20;

/** '"a", "b", "c"', cut after MAX_COLUMNS_LISTED. */
function listColumns(columns: string[]): string {
  const shown = columns.slice(0, MAX_COLUMNS_LISTED).map((c) => JSON.stringify(c));
  const more = columns.length - shown.length;
  return shown.join(', ') + (more > 0 ? ` and ${more} more` : '');
}

/** Index of `name` in `columns`: exact match first, then ignoring case and spaces. */
function findColumn(columns: string[], name: string): number {
  const exact = columns.indexOf(name);
  if (exact !== -1) return exact;
  const wanted = name.trim().toLowerCase();
  return columns.findIndex((c) => c.trim().toLowerCase() === wanted);
}

type TemplatePart = string | number;

/** Splits a template into text and column indexes, or names the first unknown column. */
function compileTemplate(
  template: string,
  columns: string[]
): { parts: TemplatePart[] } | { unknown: string } {
  const parts: TemplatePart[] = [];
  let last = 0;
  for (const match of template.matchAll(TEMPLATE_FIELD)) {
    const name = match[1] ?? '';
    const index = findColumn(columns, name);
    if (index === -1) return { unknown: name };
    if (match.index > last) parts.push(template.slice(last, match.index));
    parts.push(index);
    last = match.index + match[0].length;
  }
  if (last < template.length) parts.push(template.slice(last));
  return { parts };
}

function render(parts: TemplatePart[], row: string[]): string {
  let out = '';
  for (const part of parts) out += typeof part === 'number' ? (row[part] ?? '') : part;
  return out;
}

function isEmptyRow(row: string[]): boolean {
  for (const cell of row) if (cell.trim() !== '') return false;
  return true;
}

function countChar(s: string, ch: string): number {
  let n = 0;
  let i = s.indexOf(ch);
  while (i !== -1) {
    n++;
    i = s.indexOf(ch, i + 1);
  }
  return n;
}

/** The delimiter from the first line: "," unless that line has only ";" or only tabs. */
function guessDelimiter(text: string): string {
  const end = text.indexOf('\n');
  const first = end === -1 ? text : text.slice(0, end);
  if (first.includes(',')) return ',';
  if (first.includes(';')) return ';';
  if (first.includes('\t')) return '\t';
  return ',';
}

const UNCLOSED_QUOTE =
  'a quoted cell starts here but is never closed, so the rest of the file was read as one cell: add the closing quote, and write each " inside a quoted cell as ""';
const MISPLACED_QUOTE =
  'a quote is out of place: wrap a cell that holds commas, quotes or line breaks in "double quotes", and write each " inside it as ""';

function result(
  items: ParsedItem[],
  problems: ProblemList,
  fatal: string | null,
  columns: string[]
): ParseResult {
  return { format: 'csv', formatLabel: csvFormat.label, items, problems, fatal, columns };
}

/**
 * Parses CSV text. `delimiter` defaults to a guess from the header line (",", ";" or tab).
 * Line numbers are physical lines, so a quoted cell with line breaks moves the next row down.
 */
export function parseCsv(text: string, options: CsvOptions = {}, delimiter?: string): ParseResult {
  const problems = new ProblemList('line');
  const items: ParsedItem[] = [];
  const parsed = Papa.parse<string[]>(text, {
    delimiter: delimiter ?? guessDelimiter(text),
    header: false,
    skipEmptyLines: false
  });
  const rows = parsed.data;
  const newline = parsed.meta.linebreak === '\r' ? '\r' : '\n';

  const errorsByRow = new Map<number, Set<string>>();
  for (const e of parsed.errors) {
    if (e.row === undefined) continue;
    const codes = errorsByRow.get(e.row) ?? new Set<string>();
    codes.add(e.code);
    errorsByRow.set(e.row, codes);
  }

  // Physical line of each row: the previous row's line, plus one, plus its inner line breaks.
  let line = 1;
  let r = 0;
  const nextLine = (row: string[], at: number): number => {
    let n = at + 1;
    for (const cell of row) if (cell.includes(newline)) n += countChar(cell, newline);
    return n;
  };

  // Header: the first row that is not empty.
  while (r < rows.length && isEmptyRow(rows[r] ?? [])) {
    line = nextLine(rows[r] ?? [], line);
    r++;
  }
  const headerRow = rows[r];
  if (headerRow === undefined) {
    return result(items, problems, 'the file is empty', []);
  }
  const columns = headerRow.map((c) => c.trim());
  line = nextLine(headerRow, line);
  r++;

  let dataRows = 0;
  for (let i = r; i < rows.length; i++) if (!isEmptyRow(rows[i] ?? [])) dataRows++;
  if (dataRows === 0) {
    return result(
      items,
      problems,
      `the file has a header row (${listColumns(columns)}) but no rows of prompts below it`,
      columns
    );
  }
  if (dataRows > MAX_IMPORT_ITEMS) {
    return result(items, problems, tooManyItems(dataRows, 'row'), columns);
  }

  // Where the prompt comes from.
  let promptIndex = -1;
  let parts: TemplatePart[] | null = null;
  const template = options.template?.trim() ? options.template : undefined;
  if (template !== undefined) {
    const compiled = compileTemplate(template, columns);
    if ('unknown' in compiled) {
      return result(
        items,
        problems,
        `the template uses {{${compiled.unknown}}}, but there is no column ${JSON.stringify(compiled.unknown)}. The columns are: ${listColumns(columns)}`,
        columns
      );
    }
    parts = compiled.parts;
  } else if (options.promptColumn !== undefined && options.promptColumn !== '') {
    promptIndex = findColumn(columns, options.promptColumn);
    if (promptIndex === -1) {
      return result(
        items,
        problems,
        `there is no column ${JSON.stringify(options.promptColumn)}. The columns are: ${listColumns(columns)}. Pick one of them`,
        columns
      );
    }
  } else {
    for (const name of PROMPT_COLUMN_NAMES) {
      promptIndex = findColumn(columns, name);
      if (promptIndex !== -1) break;
    }
    if (promptIndex === -1) {
      return result(
        items,
        problems,
        `no prompt column: the first row must name the columns, and none is called prompt, question, input or text. The columns are: ${listColumns(columns)}. Pick the column that holds the prompts, or write a template such as "Answer this: {{${columns[0] ?? 'column'}}}"`,
        columns
      );
    }
  }

  // Where the custom_id comes from: the chosen column, else custom_id/id; '' means none.
  let idIndex = -1;
  if (options.idColumn !== undefined) {
    if (options.idColumn !== '') {
      idIndex = findColumn(columns, options.idColumn);
      if (idIndex === -1) {
        return result(
          items,
          problems,
          `there is no id column ${JSON.stringify(options.idColumn)}. The columns are: ${listColumns(columns)}. Pick one of them, or none`,
          columns
        );
      }
    }
  } else {
    for (const name of ID_COLUMN_NAMES) {
      idIndex = columns.findIndex((c) => c.toLowerCase() === name);
      if (idIndex !== -1) break;
    }
  }
  const promptName = promptIndex === -1 ? '' : (columns[promptIndex] ?? '');
  const idName = idIndex === -1 ? '' : (columns[idIndex] ?? '');

  const ids = new IdRegistry('line');
  for (; r < rows.length; r++) {
    const row = rows[r] ?? [];
    const n = line;
    line = nextLine(row, line);
    if (isEmptyRow(row)) continue;
    const codes = errorsByRow.get(r);
    if (codes !== undefined) {
      problems.add(n, codes.has('MissingQuotes') ? UNCLOSED_QUOTE : MISPLACED_QUOTE);
      continue;
    }
    if (row.length !== columns.length) {
      problems.add(
        n,
        `this row has ${plural(row.length, 'cell')} but the header has ${plural(columns.length, 'column')}: wrap a cell that holds commas in "double quotes"`
      );
      continue;
    }
    const prompt = parts !== null ? render(parts, row) : (row[promptIndex] ?? '');
    if (prompt.trim() === '') {
      problems.add(
        n,
        parts !== null
          ? 'the template gives an empty prompt for this row: the cells it uses are empty'
          : `the ${JSON.stringify(promptName)} cell is empty: write a prompt or delete the row`
      );
      continue;
    }
    let customId = `line-${n}`;
    if (idIndex !== -1) {
      const cell = (row[idIndex] ?? '').trim();
      if (cell === '') {
        problems.add(n, `the ${JSON.stringify(idName)} cell is empty: every row needs an id`);
        continue;
      }
      customId = cell;
    }
    const duplicate = ids.claim(customId, n);
    if (duplicate !== null) {
      problems.add(n, duplicate);
      continue;
    }
    items.push({ line: n, customId, messages: [{ role: 'user', content: prompt }], params: {} });
  }
  const fatal = items.length === 0 ? noneReadable(problems.count, 'row') : null;
  return result(items, problems, fatal, columns);
}

// Output

const CSV_OUTPUT_COLUMNS = [
  'custom_id',
  'prompt',
  'output',
  'status',
  'error',
  'prompt_tokens',
  'completion_tokens'
] as const;

/**
 * Cells starting with = + - @ tab or CR get a leading ' so a spreadsheet shows them as text.
 * papaparse's `escapeFormulae: true` uses /^[=+\-@\t\r].*$/, which misses a cell whose
 * formula is followed by a line break ("." does not match "\n"); this one checks the first
 * character only.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function lastUserMessage(input: ExportItem): string {
  for (let i = input.messages.length - 1; i >= 0; i--) {
    const m = input.messages[i];
    if (m?.role === 'user') return m.content;
  }
  return '';
}

function row(input: ExportItem, result: ExportResult): (string | number)[] {
  return [
    input.customId,
    lastUserMessage(input),
    result.text,
    result.status,
    result.error?.message ?? '',
    result.usage?.prompt_tokens ?? '',
    result.usage?.completion_tokens ?? ''
  ];
}

const CSV_OPTIONS = { newline: '\r\n', escapeFormulae: FORMULA_START } as const;

export const csvOutput: Exporter = exporter(
  { id: 'csv-output', label: 'CSV', mimeType: 'text/csv', extension: 'csv' },
  () => {
    let started = false;
    const header = () => {
      if (started) return '';
      started = true;
      // papaparse ends a header with no rows with the line break, as every row here is ended.
      return Papa.unparse(
        { fields: [...CSV_OUTPUT_COLUMNS], data: [] },
        { ...CSV_OPTIONS, header: true }
      );
    };
    /** Rows of the items that have a result, one papaparse call for all (a fifth faster than a call a row at 100,000 rows: bench/parsers.ts). */
    const rows = (
      inputs: readonly ExportItem[],
      results: readonly (ExportResult | undefined)[]
    ) => {
      const data: (string | number)[][] = [];
      inputs.forEach((input, i) => {
        const result = results[i];
        if (result) data.push(row(input, result));
      });
      if (!data.length) return '';
      return header() + Papa.unparse(data, { ...CSV_OPTIONS, header: false }) + '\r\n';
    };
    return {
      add: (input, result) => rows([input], [result]),
      addMany: rows,
      end: () => header()
    };
  }
);
