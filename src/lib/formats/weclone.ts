/**
 * WeClone's datasets, written back after scoring: `sft-my.json` (every pair,
 * `score` filled) and `sft-my-cleaned.json` (the pairs WeClone's cleaning keeps).
 * Each item is the input item with every field, in its order; only `score`
 * changes. As WeClone writes them: UTF-8 text (no \u escapes), indented 4 and
 * 2 spaces; unparsed answers score 0 and pairs with images 6 (not scored, and
 * kept by any threshold, as WeClone's own cleaning does).
 */
import { DEFAULT_KEEP_SCORE, NOT_SCORED, scoreOf, type PairScore } from '$lib/presets/score-pairs';
import type { ExportInput, ExportJob, Exporter } from './types';

/** The score WeClone writes for a pair with images. */
const IMAGES_SCORE = 6;

function isScoringJob(job: ExportJob): boolean {
  return job.settings?.preset?.id === 'score-pairs';
}

/** The pairs with a result, each as its input item with `score` filled. */
function scoredItems({
  inputs,
  results
}: ExportInput): { item: Record<string, unknown>; score: PairScore }[] {
  const scored: { item: Record<string, unknown>; score: PairScore }[] = [];
  inputs.forEach((input, i) => {
    const result = results[i];
    const original = input.pair?.original;
    if (!result || !original) return;
    const score = scoreOf(result);
    const written = score === NOT_SCORED ? IMAGES_SCORE : score;
    // Replacing the value keeps the key where it was; a new key goes last.
    scored.push({ item: { ...original, score: written }, score });
  });
  return scored;
}

export const wecloneScored: Exporter = {
  id: 'weclone-scored',
  label: 'WeClone scored dataset',
  menuLabel: 'WeClone scored dataset (sft-my.json)',
  fileName: 'sft-my.json',
  mimeType: 'application/json',
  extension: 'json',
  fits: isScoringJob,
  write(input) {
    return (
      JSON.stringify(
        scoredItems(input).map(({ item }) => item),
        null,
        4
      ) + '\n'
    );
  }
};

/** The threshold the job's page set (WeClone's accept_score). */
function keepScoreAtLeast(job: ExportJob): number {
  return job.settings?.preset?.keepScoreAtLeast ?? DEFAULT_KEEP_SCORE;
}

export const wecloneCleaned: Exporter = {
  id: 'weclone-cleaned',
  label: 'WeClone cleaned dataset',
  menuLabel: 'WeClone cleaned dataset (sft-my-cleaned.json)',
  fileName: 'sft-my-cleaned.json',
  mimeType: 'application/json',
  extension: 'json',
  fits: isScoringJob,
  write(input) {
    const threshold = keepScoreAtLeast(input.job);
    const kept = scoredItems(input).filter(
      ({ score }) => score === NOT_SCORED || score >= threshold
    );
    return (
      JSON.stringify(
        kept.map(({ item }) => item),
        null,
        2
      ) + '\n'
    );
  }
};
