/** The export formats, in the order the Export menu offers them. */
import { csvOutput } from './csv';
import { alpacaOutput, sharegptOutput } from './dataset';
import { datasetInfoOutput } from './dataset-info';
import { openaiBatchInput } from './jsonl';
import { openaiBatchOutput } from './openai-batch-output';
import type { ExportJob, Exporter } from './types';
import { wecloneCleaned, wecloneScored } from './weclone';

export const exporters: readonly Exporter[] = [
  openaiBatchOutput,
  csvOutput,
  openaiBatchInput,
  wecloneScored,
  wecloneCleaned,
  sharegptOutput,
  alpacaOutput,
  datasetInfoOutput
];

/** What a results file converts to: it holds answers but no prompts, so no datasets. */
export const resultsFileFormats: readonly Exporter[] = [openaiBatchOutput, csvOutput];

/** The formats that fit this job, in menu order. */
export function exportersFor(job: ExportJob): Exporter[] {
  return exporters.filter((exporter) => exporter.fits?.(job) ?? true);
}

/** The Export menu's words for a format: "CSV (.csv)", "WeClone scored dataset (sft-my.json)". */
export function menuLabel(exporter: Exporter): string {
  return exporter.menuLabel ?? `${exporter.label} (.${exporter.extension})`;
}
