/** The problems found in a file, counted and kept for the user, each with its line or item. */
import { formatCount, plural } from '$lib/shared/figures';

/** A problem found while reading an input file. `line` is null for file-level problems. */
export interface ImportProblem {
  line: number | null;
  message: string;
  /**
   * What `line` counts: 'line' (default when absent) for line-based files, 'item' for a
   * JSON array, where `line` is the 1-based element number.
   */
  unit?: ProblemUnit;
}

export type ProblemUnit = 'line' | 'item';

/** Problems past this many are counted but not kept. */
export const MAX_PROBLEMS_KEPT = 1000;
/** A file with more items than this is refused. */
export const MAX_IMPORT_ITEMS = 100_000;

/** Collects problems, keeping the first MAX_PROBLEMS_KEPT and counting all. */
export class ProblemList {
  readonly kept: ImportProblem[] = [];
  count = 0;

  constructor(private readonly unit: ProblemUnit = 'line') {}

  add(line: number, message: string): void {
    this.count++;
    if (this.kept.length >= MAX_PROBLEMS_KEPT) return;
    this.kept.push(this.unit === 'line' ? { line, message } : { line, message, unit: this.unit });
  }

  /** Forgets every line problem, when one file-level problem explains them all. */
  clear(): void {
    this.kept.length = 0;
    this.count = 0;
  }
}

/** Hands out custom_ids and reports duplicates; O(1) per item. */
export class IdRegistry {
  private readonly firstSeen = new Map<string, number>();

  constructor(
    private readonly unit: ProblemUnit = 'line',
    /** The field the ids come from, as the file calls it. */
    private readonly field = 'custom_id'
  ) {}

  /** Returns a problem message when `id` was already used, else records it. */
  claim(id: string, line: number): string | null {
    const first = this.firstSeen.get(id);
    if (first !== undefined) {
      return `duplicate ${this.field} ${JSON.stringify(id)} (first seen on ${this.unit} ${first})`;
    }
    this.firstSeen.set(id, line);
    return null;
  }
}

/** "prompts.jsonl line 7: not valid JSON (...)" / "prompts.jsonl: the file is empty". */
export function describeProblem(fileName: string, problem: ImportProblem): string {
  if (problem.line === null) return `${fileName}: ${problem.message}`;
  return `${fileName} ${problem.unit ?? 'line'} ${problem.line}: ${problem.message}`;
}

/** What a format counts, for messages: "lines", "rows", "items". */
export type CountWord = 'line' | 'row' | 'item';

export function tooManyItems(n: number, word: CountWord): string {
  return `the file has ${plural(n, word)}; at most ${formatCount(MAX_IMPORT_ITEMS)} can be imported at once: split it into smaller files`;
}

export function noneReadable(problemCount: number, word: CountWord): string {
  return `none of the ${word}s could be read (${plural(problemCount, 'problem')}): fix them and import the file again`;
}
