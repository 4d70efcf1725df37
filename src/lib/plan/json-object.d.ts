/** Index just past the brace closing the JSON object that opens at `start` in `bytes`, or -1. */
export function objectEnd(bytes: Uint8Array, start: number): number;
