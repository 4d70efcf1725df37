/**
 * Exporting a job's file in pieces: items are read from the store 5,000 at a time, the
 * format's writer turns them into text, and the text goes straight to a file the user
 * picked (File System Access API, where the browser has it) or into a Blob of many small
 * parts for a download or the share sheet. Memory stays flat for a 100,000-item job:
 * no array of every item, no string of the whole file.
 */
import type { Exporter } from '$lib/formats/types';
import { addAll } from '$lib/formats/writer';
import type { ItemResult, JobMeta } from '$lib/shared/job';
import { getInputs, getResults } from '$lib/store/jobs';

/** Items read from the store per step. */
const EXPORT_CHUNK = 5_000;
/** Steps read ahead of the one being written (memory stays this many steps). */
const READS_AHEAD = 3;

/** Where an export's text goes, piece by piece. */
export interface ExportSink {
  write(text: string): Promise<void>;
  close(): Promise<void>;
  /** Drops what was written (a failed export leaves no half file). */
  abort(): Promise<void>;
}

/**
 * Writes the job's file for `exporter` to `sink`, item by item in input order, and closes
 * it; on a failure the sink is aborted and the error thrown. `onProgress` gets the items
 * read so far.
 */
export async function writeExport(
  job: JobMeta,
  exporter: Exporter,
  sink: ExportSink,
  onProgress?: (done: number, total: number) => void
): Promise<void> {
  try {
    const writer = exporter.writer(job);
    const read = (from: number) => {
      const to = Math.min(job.total, from + EXPORT_CHUNK);
      const piece = Promise.all([
        getInputs(job.id, from, to),
        exporter.requests ? Promise.resolve([]) : getResults(job.id, from, to)
      ]);
      // Awaited below; a read left behind by a failed write is not an unhandled rejection.
      // eslint-disable-next-line no-restricted-syntax -- awaited below; a read left behind by a failed write is not an unhandled rejection
      piece.catch(() => undefined);
      return { from, to, piece };
    };
    // Pieces ahead are read while this one is written: the store's side of a read and the
    // page's turning its records back into objects overlap (measured: 100,000 results read
    // in about 1.5 s with 2 to 4 reads under way, 2.2 to 3.4 s one after another).
    const ahead: ReturnType<typeof read>[] = [];
    let queued = 0;
    const fill = () => {
      while (ahead.length < READS_AHEAD && queued < job.total) {
        ahead.push(read(queued));
        queued += EXPORT_CHUNK;
      }
    };
    fill();
    for (let step = ahead.shift(); step; step = ahead.shift()) {
      const { from, to } = step;
      const [inputs, stored] = await step.piece;
      fill();
      const results: (ItemResult | undefined)[] = new Array(inputs.length);
      for (const result of stored) results[result.index - from] = result;
      const text = addAll(writer, inputs, results);
      if (text) await sink.write(text);
      onProgress?.(to, job.total);
    }
    const tail = writer.end();
    if (tail) await sink.write(tail);
    await sink.close();
  } catch (error) {
    // eslint-disable-next-line no-restricted-syntax -- the write failed already: that error is thrown below, not the abort's
    await sink.abort().catch(() => undefined);
    throw error;
  }
}

/** A sink that gathers the text as Blob parts; `blob()` is the whole file once closed. */
export function blobSink(mimeType: string): ExportSink & { blob(): Blob } {
  let parts: Blob[] = [];
  return {
    async write(text) {
      // A Blob per piece: the browser keeps big blobs out of the page's heap.
      parts.push(new Blob([text]));
    },
    async close() {},
    async abort() {
      parts = [];
    },
    blob: () => new Blob(parts, { type: mimeType })
  };
}

/** A sink that writes to a file the user picked. Nothing is kept if the export fails. */
export async function fileSink(handle: FileSystemFileHandle): Promise<ExportSink> {
  const writable = await handle.createWritable();
  return {
    write: (text) => writable.write(text),
    close: () => writable.close(),
    abort: () => writable.abort()
  };
}

interface SaveFilePickerOptions {
  suggestedName?: string;
  types?: { description?: string; accept: Record<string, string[]> }[];
}

type SaveFilePicker = (options?: SaveFilePickerOptions) => Promise<FileSystemFileHandle>;

/**
 * Asks where to save the file, where the browser has `showSaveFilePicker`: the handle,
 * `'cancelled'` when the user closed the dialog, or null where there is no picker (or it
 * refused, as a headless browser does): then the file goes out as a download. Call it
 * first thing in a click handler: the picker needs the click's user activation.
 */
export async function pickSaveFile(
  fileName: string,
  exporter: Pick<Exporter, 'label' | 'mimeType' | 'extension'>
): Promise<FileSystemFileHandle | 'cancelled' | null> {
  const picker = (window as unknown as { showSaveFilePicker?: SaveFilePicker }).showSaveFilePicker;
  if (typeof picker !== 'function') return null;
  try {
    return await picker.call(window, {
      suggestedName: fileName,
      types: [
        { description: exporter.label, accept: { [exporter.mimeType]: [`.${exporter.extension}`] } }
      ]
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') return 'cancelled';
    return null;
  }
}
