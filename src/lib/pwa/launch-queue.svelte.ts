/**
 * File handling: when the installed app is chosen to open a .jsonl, .csv, .txt
 * or .json file (manifest `file_handlers`), Chrome hands the files to the page
 * through `window.launchQueue` (not in TypeScript's DOM types yet). The app
 * listens on every page; the file waits here for the import form, and the
 * layout brings the user to it.
 */
interface LaunchParams {
  files?: readonly FileSystemFileHandle[];
}
interface LaunchQueue {
  setConsumer(consumer: (params: LaunchParams) => void): void;
}

interface Arrival {
  file: File | null;
  /** What the page says about it: "x.csv was opened with LocalBatch." or the error. */
  message: string;
}

class Launched {
  /** A file (or an error) that arrived and the import form has not taken yet. */
  pending = $state.raw<Arrival | null>(null);

  take(): Arrival | null {
    const arrival = this.pending;
    this.pending = null;
    return arrival;
  }
}

export const launched = new Launched();

/** Listens for files opened with the app; `onArrival` runs after each is ready to take. */
export function consumeLaunchedFiles(onArrival: () => void): void {
  const queue = (globalThis as { launchQueue?: LaunchQueue }).launchQueue;
  queue?.setConsumer((params) => {
    const handle = params.files?.[0];
    if (!handle) return;
    handle
      .getFile()
      .then((file) => {
        launched.pending = { file, message: `${file.name} was opened with LocalBatch.` };
      })
      .catch((error: unknown) => {
        launched.pending = {
          file: null,
          message: `${handle.name} could not be read (${String(error)}): choose it as the prompt file here instead.`
        };
      })
      .finally(onArrival);
  });
}
