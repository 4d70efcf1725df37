/**
 * Share a result file with the Web Share API where the browser can share
 * that file (Chrome shares CSV and plain text, not JSONL), else download it.
 */
import { downloadBlob } from './download';

export type ShareOutcome = 'shared' | 'cancelled' | 'downloaded';

/** The type a file is offered to the share sheet as: JSONL is text to every receiver. */
function shareType(mimeType: string): string {
  return mimeType === 'text/csv' ? 'text/csv' : 'text/plain';
}

export async function shareOrDownload(
  content: Blob,
  fileName: string,
  mimeType: string
): Promise<ShareOutcome> {
  const file = new File([content], fileName, { type: shareType(mimeType) });
  const data: ShareData = { files: [file], title: fileName };
  if (typeof navigator.share === 'function' && navigator.canShare?.(data)) {
    try {
      await navigator.share(data);
      return 'shared';
    } catch (error) {
      // The user closed the share sheet: nothing to do. Anything else: download instead.
      if (error instanceof DOMException && error.name === 'AbortError') return 'cancelled';
    }
  }
  downloadBlob(new Blob([content], { type: mimeType }), fileName);
  return 'downloaded';
}
