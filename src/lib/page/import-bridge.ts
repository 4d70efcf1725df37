/**
 * The page's side of importing: the one module that owns the import worker (where a
 * prompt file is read, parsed and stored, and a results file read or imported into a
 * job, so the page stays free while it is). Cancel
 * ends the worker; a job it was storing is deleted, so nothing is left behind.
 */
import * as Comlink from 'comlink';
import type { CsvOptions } from '$lib/formats/types';
import type { ResultsFile } from '$lib/formats/openai-batch-output-read';
import type { JobMeta, JobSettings } from '$lib/shared/job';
import type { ImportedResults } from '$lib/worker/import-results';
import { deleteJob } from '$lib/store/jobs';
import type {
  Estimates,
  ImportApi,
  ImportPhase,
  ImportProgress,
  PreviewSummary
} from '$lib/worker/import';

let current: { worker: Worker; api: Comlink.Remote<ImportApi> } | null = null;

function api(): Comlink.Remote<ImportApi> {
  if (!current) {
    const worker = new Worker(new URL('../../../workers/import.worker.ts', import.meta.url), {
      type: 'module',
      name: 'localbatch-import'
    });
    current = { worker, api: Comlink.wrap<ImportApi>(worker) };
  }
  return current.api;
}

export type { Estimates, ImportPhase, ImportProgress, PreviewSummary };

export function openFile(
  file: File,
  csv: CsvOptions,
  onPhase: ImportProgress
): Promise<PreviewSummary> {
  return api().open(file, csv, Comlink.proxy(onPhase));
}

export function reparse(csv: CsvOptions, onPhase: ImportProgress): Promise<PreviewSummary> {
  return api().reparse(csv, Comlink.proxy(onPhase));
}

export function estimate(settings: Omit<JobSettings, 'name'>): Promise<Estimates> {
  return api().estimate(settings);
}

/** Stores the job in the worker; resolves when it is stored (its catalog entry written). */
export function storeJob(
  meta: Omit<JobMeta, 'total' | 'needs'>,
  onPhase: ImportProgress
): Promise<void> {
  return api().create(meta, Comlink.proxy(onPhase));
}

/** A results file read and parsed in the worker, for the results viewer. */
export function readResultsFile(file: File): Promise<ResultsFile> {
  return api().readResults(file);
}

/** Commits a batch output file's answers to the job's items, in the worker. */
export function importResults(job: JobMeta, file: File): Promise<ImportedResults> {
  return api().importResults(job, file);
}

/** Stops whatever the worker does (reading, parsing, storing) and removes a half-stored job. */
export async function cancel(jobId: string | null): Promise<void> {
  if (current) {
    current.api[Comlink.releaseProxy]();
    current.worker.terminate();
    current = null;
  }
  // eslint-disable-next-line no-restricted-syntax -- the catalog entry is written last, so a job left half-stored is never listed; only its space stays
  if (jobId) await deleteJob(jobId).catch(() => undefined);
}
