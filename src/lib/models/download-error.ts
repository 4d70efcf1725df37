/**
 * What stops a model download, in the user's words: what happened, then what is kept
 * and what to do next (`withKept`).
 */
import type { DownloadProgress } from './progress';

export type DownloadErrorCode =
  'network' | 'http' | 'quota' | 'manifest' | 'cancelled' | 'unsupported' | 'size';

export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly code: DownloadErrorCode,
    message: string
  ) {
    super(message);
  }
}

export function stoppedError(): DownloadError {
  return new DownloadError('cancelled', 'The download was stopped.');
}

export function hostOf(url: string): string {
  return new URL(url).host;
}

/** What a failed fetch or store of the file at `url` means for the download. */
export function classify(error: unknown, url: string): DownloadError {
  if (error instanceof DownloadError) return error;
  const name = error instanceof Error ? error.name : '';
  const message = error instanceof Error ? error.message : String(error);
  if (name === 'AbortError') return stoppedError();
  if (name === 'QuotaExceededError') {
    return new DownloadError(
      'quota',
      'The browser refused to store more: the storage quota is used up.'
    );
  }
  return new DownloadError(
    'network',
    `The connection to ${hostOf(url)} was lost or refused (${message}).`
  );
}

/** The error, with what is kept and what to do, in the user's words. */
export function withKept(error: DownloadError, progress: DownloadProgress | null): DownloadError {
  if (error.code === 'cancelled') {
    const kept = progress
      ? ` ${progress.shardsDone} of ${progress.shardsTotal} shards are kept.`
      : '';
    return new DownloadError('cancelled', `The download was stopped.${kept}`);
  }
  const kept = progress
    ? `The ${progress.shardsDone} finished shards of ${progress.shardsTotal} are kept;`
    : 'Every finished file is kept;';
  const next =
    error.code === 'quota'
      ? 'free some space (delete other models, or finished jobs after exporting them), then press Download to continue from there.'
      : error.code === 'http' || error.code === 'manifest'
        ? 'check the model source, then press Download to continue from there.'
        : 'press Download to continue from there.';
  return new DownloadError(error.code, `${error.message} ${kept} ${next}`);
}
