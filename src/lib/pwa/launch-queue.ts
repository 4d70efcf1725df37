/**
 * File handling: when the installed app is chosen to open a .jsonl, .csv, .txt
 * or .json file (manifest `file_handlers`), Chrome hands the files to the page
 * through `window.launchQueue`. Not in TypeScript's DOM types yet.
 */
interface LaunchParams {
  files?: readonly FileSystemFileHandle[];
}
interface LaunchQueue {
  setConsumer(consumer: (params: LaunchParams) => void): void;
}

/** Calls `onFile` with the first file of each launch; does nothing where file handling is absent. */
export function consumeLaunchedFiles(onFile: (file: File) => void): void {
  const queue = (globalThis as { launchQueue?: LaunchQueue }).launchQueue;
  queue?.setConsumer((params) => {
    const handle = params.files?.[0];
    if (handle) void handle.getFile().then(onFile);
  });
}
