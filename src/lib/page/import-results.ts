/**
 * The page's side of "Import results into this job" (the work runs in the import worker)
 * and what the page says about it.
 */
import { plural } from '$lib/shared/figures';
import type { ImportedResults } from '$lib/worker/import-results';

export type { ImportedResults };
export { importResults } from './import-bridge';

/** "Imported 250 results from out.jsonl (vLLM run-batch); 1 problem." */
export function describeImport(report: ImportedResults): string {
  if (report.refused) return `${report.fileName}: nothing was imported: ${report.refused}.`;
  const problems = report.problemCount
    ? `; ${plural(report.problemCount, 'line')} left out (see below)`
    : '';
  return `Imported ${plural(report.committed, 'result')} from ${report.fileName} (${report.producer})${problems}. The items it does not answer run here.`;
}
