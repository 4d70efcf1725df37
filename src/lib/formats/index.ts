/** The formats module: exporters, export file names, and the import API re-exported. */
import type { Exporter } from '$lib/formats/types';
import { csvOutput } from '$lib/formats/csv-output';
import { openaiBatchOutput } from '$lib/formats/openai-batch-output';

export { csvOutput, openaiBatchOutput };
export {
  ACCEPTED_EXTENSIONS,
  MAX_IMPORT_BYTES,
  MAX_IMPORT_ITEMS,
  MAX_PROBLEMS_KEPT,
  describeProblem,
  inputFormats,
  parseImport
} from '$lib/formats/import';

/** Every export format, in the order the page offers them. */
export const exporters: readonly Exporter[] = [openaiBatchOutput, csvOutput];

const MAX_SLUG_LENGTH = 60;

/**
 * A file name for a job's export: "WeClone scoring!" -> "weclone-scoring-results.jsonl".
 * Letters and digits of any script are kept; everything else becomes "-".
 */
export function exportFileName(jobName: string, exporter: Pick<Exporter, 'extension'>): string {
  const slug = Array.from(
    jobName
      .normalize('NFKC')
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}]+/gu, '-')
      .replace(/^-+|-+$/g, '')
  )
    .slice(0, MAX_SLUG_LENGTH)
    .join('')
    .replace(/-+$/, '');
  return `${slug || 'localbatch'}-results.${exporter.extension}`;
}
