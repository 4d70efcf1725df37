/** Results as CSV (RFC 4180, "\r\n"), safe to open in a spreadsheet. */
import Papa from 'papaparse';
import type { ItemInput, ItemResult } from '$lib/jobs/types';
import type { ExportInput, Exporter } from '$lib/formats/types';

export const CSV_OUTPUT_COLUMNS = [
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
export const FORMULA_START = /^[=+\-@\t\r]/;

function lastUserMessage(input: ItemInput): string {
  for (let i = input.messages.length - 1; i >= 0; i--) {
    const m = input.messages[i];
    if (m?.role === 'user') return m.content;
  }
  return '';
}

function row(input: ItemInput, result: ItemResult): (string | number)[] {
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

export const csvOutput: Exporter = {
  id: 'csv-output',
  label: 'CSV',
  mimeType: 'text/csv',
  extension: 'csv',
  write({ inputs, results }: ExportInput): string {
    const data: (string | number)[][] = [];
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      const result = results[i];
      if (input === undefined || result === undefined) continue;
      data.push(row(input, result));
    }
    const text = Papa.unparse(
      { fields: [...CSV_OUTPUT_COLUMNS], data },
      { newline: '\r\n', escapeFormulae: FORMULA_START, header: true }
    );
    // papaparse ends the text with a line break only when there are no rows; always end with one.
    return text.endsWith('\r\n') ? text : text + '\r\n';
  }
};
