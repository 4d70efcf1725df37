/** A file read as a stream, reporting how much of it is read (about every 2%). */
export async function readStream(
  file: File,
  onRead: (fraction: number) => void = () => undefined
): Promise<Uint8Array> {
  const bytes = new Uint8Array(file.size);
  const reader = file.stream().getReader();
  let at = 0;
  let told = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes.set(value, at);
    at += value.length;
    if (at - told >= file.size / 50) {
      told = at;
      onRead(at / file.size);
    }
  }
  return bytes.subarray(0, at);
}
