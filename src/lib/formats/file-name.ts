/** Names of exported files, from the job's name and the format's meta. */
import type { Exporter } from './types';

const MAX_SLUG_LENGTH = 60;

/** "WeClone scoring!" -> "weclone-scoring": letters and digits of any script, the rest "-". */
export function jobSlug(jobName: string): string {
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
  return slug || 'localbatch';
}

/**
 * A file name for a job's export: "WeClone scoring!" -> "weclone-scoring-results.jsonl"
 * (or "-sharegpt.json", by the format's suffix); a format with a fixed name keeps it
 * ("sft-my.json", so WeClone finds it).
 */
export function exportFileName(
  jobName: string,
  exporter: Pick<Exporter, 'extension'> & Partial<Pick<Exporter, 'fileName' | 'suffix'>>
): string {
  return (
    exporter.fileName ?? `${jobSlug(jobName)}-${exporter.suffix ?? 'results'}.${exporter.extension}`
  );
}
