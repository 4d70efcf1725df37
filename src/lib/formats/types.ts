import type { InputFormatId, ItemResult, JobMeta, ParsedItem } from '$lib/shared/job';
import type { ImportProblem, ProblemList } from './problems';

/** Every file format names itself the same way; export file names come from this. */
export interface FormatMeta {
  id: string;
  label: string;
  mimeType: string;
  extension: string;
}

export interface CsvOptions {
  /** Column whose cell is the prompt. */
  promptColumn?: string;
  /** A template such as "Rate this answer: {{answer}}"; wins over promptColumn. */
  template?: string;
  /** Column to use as custom_id, when the file has one. */
  idColumn?: string;
}

export interface ImportPreview {
  fileName: string;
  format: InputFormatId | null;
  formatLabel: string;
  /** Valid items, in file order. */
  items: ParsedItem[];
  problems: ImportProblem[];
  /** A file-level problem: no job can be created from this file. */
  fatal: boolean;
  /** CSV only: the header row, so the user can pick a column or write a template. */
  columns: string[];
  /**
   * How many problems were found in all. `problems` keeps only the first
   * MAX_PROBLEMS_KEPT of them (plus any file-level problem), so this may be larger.
   */
  problemCount: number;
}

/** What each input parser hands back to parseImport. */
export interface ParseResult {
  format: InputFormatId;
  formatLabel: string;
  items: ParsedItem[];
  problems: ProblemList;
  /** A file-level problem: no job can be made from this file. */
  fatal: string | null;
  columns: string[];
}

/** An item as the exporters read it: its position, id and prompt. */
export type ExportItem = Pick<ParsedItem, 'customId' | 'messages' | 'pair'> &
  Partial<Pick<ParsedItem, 'params'>> & { index: number };

/**
 * A result as the exporters read it. The error code is any text: a results file
 * from another program (vLLM, the OpenAI Batch API) converts through the same writers.
 */
export type ExportResult = Omit<
  ItemResult,
  'index' | 'customId' | 'error' | 'attempts' | 'finishReason'
> & {
  error: { code: string; message: string } | null;
  /** As the producer wrote it: other programs also say "tool_calls", "content_filter"… */
  finishReason: string | null;
};

/** The job as the exporters read it; a results file opened in the viewer has no settings. */
export type ExportJob = Pick<JobMeta, 'id' | 'name'> &
  Partial<Pick<JobMeta, 'settings' | 'engine'>>;

export interface ExportInput {
  /** The job's id reaches the files (LocalBatch's result ids); its name their names. */
  job: ExportJob;
  inputs: ExportItem[];
  /** results[i] belongs to inputs[i]; undefined while the item has not finished. */
  results: (ExportResult | undefined)[];
}

export interface Exporter extends FormatMeta {
  /** The Export menu's item, when not "<label> (.<extension>)". */
  menuLabel?: string;
  /** A fixed file name (WeClone and LLaMA-Factory look for these names). */
  fileName?: string;
  /** The file name's ending after the job's name: "<job>-<suffix>.<extension>" ("results" if none). */
  suffix?: string;
  /** Whether the format fits this job (the WeClone datasets only fit a scoring job); all if absent. */
  fits?(job: ExportJob): boolean;
  /** The file holds the job's requests, not its results: it can be written before any finish. */
  requests?: boolean;
  /** The whole file's text. Items without a result are left out (but in request files). */
  write(input: ExportInput): string;
  /** The same text, item by item (in input order), for files too big to build at once. */
  writer(job: ExportJob): ExportWriter;
}

/** Writes an export item by item: `add` each item in input order, then `end`. */
export interface ExportWriter {
  add(item: ExportItem, result: ExportResult | undefined): string;
  /**
   * The text `add` gives for each of these items in turn, in one call: a format that writes
   * rows faster together (CSV: one papaparse call for thousands of rows) says so here.
   */
  addMany?(items: readonly ExportItem[], results: readonly (ExportResult | undefined)[]): string;
  end(): string;
}
