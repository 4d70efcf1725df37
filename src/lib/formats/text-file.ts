/**
 * A file's bytes as text, checked once for every format: its size, UTF-16,
 * binary content or text that is not UTF-8, and emptiness. Also the line loop
 * the line-based formats share.
 */
import { MIB, formatFileSize } from '$lib/shared/figures';

/** A file larger than this (in bytes) is refused before it is decoded. */
export const MAX_IMPORT_BYTES = 256 * MIB;

/** How a refusal ends for this kind of file: what to do instead. */
export interface TextFileAdvice {
  /** After "save it as UTF-8 and …", e.g. "import it again". */
  again: string;
  /** After "this is not a text file (…): ", e.g. "open a batch output file (.jsonl)". */
  binary: string;
}

export type TextFile = { ok: true; text: string } | { ok: false; message: string };

/** Lower-case extension without the dot, or '' when the name has none. */
export function extensionOf(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    // ignoreBOM: false (the default) strips a UTF-8 BOM.
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The text of a file, or the one problem that stops it being read. */
export function readTextFile(bytes: Uint8Array, advice: TextFileAdvice): TextFile {
  if (bytes.length > MAX_IMPORT_BYTES) {
    return {
      ok: false,
      message: `the file is ${formatFileSize(bytes.length)}; the limit is ${MAX_IMPORT_BYTES / MIB} MiB: split it into smaller files`
    };
  }
  if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff))
  ) {
    return {
      ok: false,
      message: `the file is saved as UTF-16: save it as UTF-8 and ${advice.again}`
    };
  }
  const text = decodeUtf8(bytes);
  if (text === null || text.includes('\u0000')) {
    return {
      ok: false,
      message: `this is not a text file (it is binary, or its text is not UTF-8): ${advice.binary}`
    };
  }
  if (isBlank(text)) return { ok: false, message: 'the file is empty' };
  return { ok: true, text };
}

/** Calls `fn(line, lineNumber)` for every line, without the line break ("\n" or "\r\n"). */
export function forEachLine(text: string, fn: (line: string, lineNumber: number) => void): void {
  let start = 0;
  let n = 1;
  const len = text.length;
  while (start <= len) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = len;
    const stop = end > start && text.charCodeAt(end - 1) === 13 ? end - 1 : end;
    fn(text.slice(start, stop), n);
    start = end + 1;
    n++;
  }
}

const NON_BLANK = /\S/;

export function isBlank(s: string): boolean {
  return !NON_BLANK.test(s);
}

export function countNonBlankLines(text: string): number {
  let n = 0;
  forEachLine(text, (line) => {
    if (!isBlank(line)) n++;
  });
  return n;
}
