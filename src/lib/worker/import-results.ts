/**
 * "Import results into this job": a batch output file (from `vllm run-batch`, the
 * OpenAI Batch API, or LocalBatch) answers some of the job's items. Each line whose
 * custom_id is an item of the job is committed, exactly once, a thousand to a
 * transaction; a line for another id is a problem; the items the file does not
 * answer stay pending, to run here. It runs in the import worker: a 60 MB file is read,
 * parsed and committed off the page's thread.
 */
import { parseResultsFile, type ResultRow } from '$lib/formats/openai-batch-output-read';
import { ProblemList } from '$lib/formats/problems';
import type { ImportProblem } from '$lib/formats/problems';
import { scoreSchema } from '$lib/presets/score-pairs';
import { answerReader } from '$lib/shared/answer';
import type { ItemResult, JobMeta } from '$lib/shared/job';
import { progressAfter } from '$lib/shared/progress';
import { jobLockName } from '$lib/shared/storage-names';
import * as jobs from '$lib/store/jobs';
import { readStream } from './read-file';

/** Results committed in one transaction. */
const CHUNK = 1000;

export interface ImportedResults {
  fileName: string;
  /** What the file is, as the results viewer names it ("vLLM run-batch"). */
  producer: string;
  committed: number;
  problems: ImportProblem[];
  problemCount: number;
  /** Why nothing could be imported, or null. */
  refused: string | null;
}

function itemResult(
  row: ResultRow,
  index: number,
  read: ((text: string) => ItemResult['answer']) | null
): ItemResult {
  const answer = row.status === 'done' && read ? read(row.text) : undefined;
  return {
    index,
    customId: row.customId,
    status: row.status,
    text: row.text,
    finishReason: row.finishReason === 'length' ? 'length' : row.status === 'done' ? 'stop' : null,
    usage: row.usage,
    error: row.error
      ? { code: 'generation-failed', message: `${row.error.code}: ${row.error.message}` }
      : null,
    model: row.model ?? '',
    finishedAt: (row.created ?? Math.floor(Date.now() / 1000)) * 1000,
    attempts: 0,
    ...(answer ? { answer } : {})
  };
}

/** Commits the file's answers to the job's items (in the import worker). */
export async function importResults(job: JobMeta, file: File): Promise<ImportedResults> {
  const parsed = parseResultsFile(file.name, await readStream(file));
  const base = { fileName: file.name, producer: parsed.producerLabel, committed: 0 };
  if (parsed.fatal) {
    return {
      ...base,
      problems: parsed.problems,
      problemCount: parsed.problemCount,
      refused: parsed.problems[0]?.message ?? 'nothing could be read'
    };
  }
  const ids = await jobs.getItemIds(job.id);
  const indexById = new Map(ids.map((id, index) => [id, index]));
  const problems = new ProblemList(parsed.problems[0]?.unit ?? 'line');
  for (const problem of parsed.problems)
    if (problem.line !== null) problems.add(problem.line, problem.message);
  const schema = job.settings.preset ? scoreSchema(1) : job.settings.answerSchema;
  const read = schema ? answerReader(schema) : null;
  const firstLine = new Map<number, number>();
  const results: ItemResult[] = [];
  for (const row of parsed.rows) {
    const index = indexById.get(row.customId);
    if (index === undefined) {
      problems.add(
        row.line,
        `custom_id ${JSON.stringify(row.customId)} is not an item of this job: left out`
      );
      continue;
    }
    const first = firstLine.get(index);
    if (first !== undefined) {
      problems.add(
        row.line,
        `custom_id ${JSON.stringify(row.customId)} was answered already on line ${first}: left out`
      );
      continue;
    }
    firstLine.set(index, row.line);
    results.push(itemResult(row, index, read));
  }

  const locks = globalThis.navigator?.locks;
  const commit = async () => {
    for (let from = 0; from < results.length; from += CHUNK) {
      const chunk = results.slice(from, from + CHUNK);
      const now = Date.now();
      await jobs.commitImported(job.id, chunk, (progress, replaced) =>
        chunk.reduce(
          (next, result, i) => progressAfter(next, result, replaced[i] ?? null, 0, now),
          progress
        )
      );
    }
    return true;
  };
  // The job's lock: no run may commit while the file does.
  const done = locks
    ? await locks.request(jobLockName(job.id), { ifAvailable: true }, (lock) =>
        lock ? commit() : false
      )
    : await commit();
  if (!done) {
    return {
      ...base,
      problems: problems.kept,
      problemCount: problems.count,
      refused: 'the job is running (in this tab or another): pause it, then import the file again'
    };
  }
  return {
    ...base,
    committed: results.length,
    problems: problems.kept,
    problemCount: problems.count,
    refused: null
  };
}
