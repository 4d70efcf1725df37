// The end of a JSON object inside bytes that are not JSON: a model library keeps its metadata
// as a C string (`{"model_type": …}`) among its code. Plain JavaScript with its types beside it
// (json-object.d.ts), so the app (library-metadata.ts) and the test kit's Node script
// (scripts/real-kit/metadata.mjs) read it with the one scanner.

const [OPEN, CLOSE, QUOTE, BACKSLASH, NUL] = [0x7b, 0x7d, 0x22, 0x5c, 0x00];

/**
 * Index just past the brace closing the object that opens at `start`, or -1: the bytes end
 * first, or a NUL comes first (the text is a C string: a NUL before the closing brace means
 * this was not the object). Braces and quotes inside JSON strings do not count.
 * @param {Uint8Array} bytes
 * @param {number} start
 * @returns {number}
 */
export function objectEnd(bytes, start) {
  let depth = 0;
  let inString = false;
  for (let i = start; i < bytes.length; i++) {
    const byte = bytes[i];
    if (byte === NUL) return -1;
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) inString = true;
    else if (byte === OPEN) depth++;
    else if (byte === CLOSE && --depth === 0) return i + 1;
  }
  return -1;
}
