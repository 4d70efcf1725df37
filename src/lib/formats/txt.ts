/** Plain text input: one prompt per non-empty line. */
import type { ParsedItem } from '$lib/shared/job';
import { MAX_IMPORT_ITEMS, ProblemList, tooManyItems } from './problems';
import { countNonBlankLines, forEachLine } from './text-file';
import type { FormatMeta, ParseResult } from './types';

export const txtFormat: FormatMeta = {
  id: 'txt',
  label: 'Plain text (one prompt per line)',
  mimeType: 'text/plain',
  extension: 'txt'
};

/** Each non-blank line, trimmed, is a prompt with custom_id "line-<n>". */
export function parseTxt(text: string): ParseResult {
  const problems = new ProblemList('line');
  const items: ParsedItem[] = [];
  const base = { format: 'txt' as const, formatLabel: txtFormat.label, problems, columns: [] };
  const total = countNonBlankLines(text);
  if (total > MAX_IMPORT_ITEMS) {
    return { ...base, items, fatal: tooManyItems(total, 'line') };
  }
  forEachLine(text, (line, n) => {
    const prompt = line.trim();
    if (prompt === '') return;
    items.push({
      line: n,
      customId: `line-${n}`,
      messages: [{ role: 'user', content: prompt }],
      params: {}
    });
  });
  return { ...base, items, fatal: items.length === 0 ? 'the file is empty' : null };
}
