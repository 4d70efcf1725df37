/** Names of exported files, from the job's name and the format's extension. */
import type { Exporter } from './types';

const MAX_SLUG_LENGTH = 60;

/**
 * A file name for a job's export: "WeClone scoring!" -> "weclone-scoring-results.jsonl".
 * Letters and digits of any script are kept; everything else becomes "-".
 */
export function exportFileName(jobName: string, exporter: Pick<Exporter, 'extension'>): string {
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
  return `${slug || 'localbatch'}-results.${exporter.extension}`;
}
