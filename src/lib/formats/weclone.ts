/**
 * WeClone's datasets, written back after scoring: `sft-my.json` (every pair,
 * `score` filled) and `sft-my-cleaned.json` (the pairs WeClone's cleaning keeps).
 * Each item is the input item with every field, in its order; only `score`
 * changes. As WeClone writes them: UTF-8 text (no \u escapes), indented 4 and
 * 2 spaces; unparsed answers score 0 and pairs with images 6 (not scored, and
 * kept by any threshold, as WeClone's own cleaning does).
 */
import { DEFAULT_KEEP_SCORE, NOT_SCORED, scoreOf, type PairScore } from '$lib/presets/score-pairs';
import type { ExportJob, ExportWriter, Exporter } from './types';
import { exporter, jsonArray } from './writer';

/** The score WeClone writes for a pair with images. */
const IMAGES_SCORE = 6;

function isScoringJob(job: ExportJob): boolean {
  return job.settings?.preset?.id === 'score-pairs';
}

/**
 * The pairs with a result, each as its input item with `score` filled, written as a JSON
 * array indented `indent`; `keep` picks the pairs by their score.
 */
function scoredPairs(
  indent: number,
  keep: (score: PairScore) => boolean = () => true
): ExportWriter {
  return jsonArray(indent, (input, result) => {
    const original = input.pair?.original;
    if (!result || !original) return undefined;
    const score = scoreOf(result);
    if (!keep(score)) return undefined;
    const written = score === NOT_SCORED ? IMAGES_SCORE : score;
    // Replacing the value keeps the key where it was; a new key goes last.
    return { ...original, score: written };
  });
}

export const wecloneScored: Exporter = exporter(
  {
    id: 'weclone-scored',
    label: 'WeClone scored dataset',
    menuLabel: 'WeClone scored dataset (sft-my.json)',
    fileName: 'sft-my.json',
    mimeType: 'application/json',
    extension: 'json',
    fits: isScoringJob
  },
  () => scoredPairs(4)
);

/** The threshold the job's page set (WeClone's accept_score). */
function keepScoreAtLeast(job: ExportJob): number {
  return job.settings?.preset?.keepScoreAtLeast ?? DEFAULT_KEEP_SCORE;
}

export const wecloneCleaned: Exporter = exporter(
  {
    id: 'weclone-cleaned',
    label: 'WeClone cleaned dataset',
    menuLabel: 'WeClone cleaned dataset (sft-my-cleaned.json)',
    fileName: 'sft-my-cleaned.json',
    mimeType: 'application/json',
    extension: 'json',
    fits: isScoringJob
  },
  (job) => {
    const threshold = keepScoreAtLeast(job);
    return scoredPairs(2, (score) => score === NOT_SCORED || score >= threshold);
  }
);
