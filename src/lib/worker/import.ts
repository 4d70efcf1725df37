/**
 * Importing a prompt file, off the page's thread: the file is read and parsed here,
 * the page gets a small preview (the first rows, the problems, the counts), the
 * estimates follow the job's settings as the user edits them, and creating the job
 * stores its inputs here too. The parsed items stay in this worker between the
 * preview and the creation, so 100,000 of them never cross to the page.
 */
import { parseImport } from '$lib/formats/import';
import type { CsvOptions, ImportPreview } from '$lib/formats/types';
import { estimateImport, tokensPerPair } from '$lib/presets/estimate';
import { detectLanguage } from '$lib/presets/score-pairs';
import type { JobMeta, JobNeeds, JobSettings, ParsedItem } from '$lib/shared/job';
import { parseResultsFile, type ResultsFile } from '$lib/formats/openai-batch-output-read';
import * as jobs from '$lib/store/jobs';
import { importResults } from './import-results';
import { readStream } from './read-file';

/** Rows of the preview table. */
const PREVIEW_ROWS = 5;

export type ImportPhase = 'reading' | 'parsing' | 'storing';

/** What the import is doing, and how far it is (0..1), when that is known. */
export type ImportProgress = (phase: ImportPhase, fraction: number | null) => void;

/** The preview as the page shows it: everything but the items past the first rows. */
export type PreviewSummary = Omit<ImportPreview, 'items'> & {
  /** Valid items. */
  count: number;
  /** The first items, for the preview table. */
  first: ParsedItem[];
  /** A dataset's pairs: how many, with images, and the language of the rubric. */
  pairs: { count: number; withImages: number; language: 'en' | 'zh' } | null;
};

export interface Estimates {
  needs: JobNeeds;
  /** Prompt tokens per pair, alone and with the preset's pairs per prompt (a scoring job). */
  perPair: { alone: number | null; batched: number | null } | null;
}

export function createImportApi() {
  let file: { name: string; bytes: Uint8Array } | null = null;
  let items: ParsedItem[] = [];

  return {
    /** Reads a newly chosen file and parses it: the preview. */
    async open(chosen: File, csv: CsvOptions, onPhase: ImportProgress): Promise<PreviewSummary> {
      onPhase('reading', 0);
      file = { name: chosen.name, bytes: await readStream(chosen, (f) => onPhase('reading', f)) };
      return this.reparse(csv, onPhase);
    },

    /** Parses the file again (other CSV options): the preview. */
    reparse(csv: CsvOptions, onPhase: ImportProgress): PreviewSummary {
      if (!file) throw new Error('No file is open.');
      onPhase('parsing', null);
      const parsed = parseImport(file.name, file.bytes, csv);
      items = parsed.items;
      const pairs = items.flatMap((item) => (item.pair ? [item.pair] : []));
      const summary: PreviewSummary = {
        fileName: parsed.fileName,
        format: parsed.format,
        formatLabel: parsed.formatLabel,
        problems: parsed.problems,
        fatal: parsed.fatal,
        columns: parsed.columns,
        problemCount: parsed.problemCount,
        count: items.length,
        first: items.slice(0, PREVIEW_ROWS),
        pairs: pairs.length
          ? {
              count: pairs.length,
              withImages: pairs.filter((pair) => pair.hasImages).length,
              language: detectLanguage(pairs)
            }
          : null
      };
      return summary;
    },

    /** The job's needs and a pair's cost, for these settings. */
    estimate(settings: Omit<JobSettings, 'name'>): Estimates {
      const { needs } = estimateImport(items, settings);
      const size = settings.preset?.pairsPerPrompt ?? 1;
      return {
        needs,
        perPair: settings.preset
          ? {
              alone: tokensPerPair(items, settings, 1),
              batched: tokensPerPair(items, settings, size)
            }
          : null
      };
    },

    /**
     * Stores the job: its inputs and estimates in one transaction, then its catalog entry
     * (until then it is invisible, so a job stopped half-way leaves nothing to see).
     */
    async create(meta: Omit<JobMeta, 'total' | 'needs'>, onPhase: ImportProgress) {
      onPhase('storing', 0);
      const estimate = estimateImport(items, meta.settings);
      const total = items.length;
      await jobs.createJob(
        { ...meta, total, needs: estimate.needs },
        items,
        estimate.promptTokens,
        (stored) => onPhase('storing', stored / total)
      );
      file = null;
      items = [];
    },

    /** A results file read for the results viewer (nothing is stored). */
    async readResults(chosen: File): Promise<ResultsFile> {
      return parseResultsFile(chosen.name, await readStream(chosen));
    },

    /** "Import results into this job": the file's answers committed to the job. */
    importResults
  };
}

export type ImportApi = ReturnType<typeof createImportApi>;
