/** Settings of this browser, not of a job. No DOM: read by the page, the worker and the service worker. */
export interface MachineSettings {
  /** GPU memory the user says this machine has; null: estimate. */
  gpuMemoryMB: number | null;
  /** Fraction of the memory budget kept free. */
  safetyMargin: number;
  /** Resume interrupted jobs by themselves when the app opens. */
  autoResume: boolean;
  /** Keep the screen on while a job runs in a tab (so the computer does not sleep). */
  keepAwake: boolean;
  /** Show a notification when a job this tab runs ends while the tab is hidden. */
  notifyOnEnd: boolean;
  /**
   * Base URL of a self-hosted mirror of the MLC model files (layout in
   * src/lib/models/source.ts), checked before it is saved; null: WebLLM's
   * official hosts.
   */
  modelMirror: string | null;
  /**
   * A mirror the user asked for, not yet checked: the service worker lets the
   * page reach it (CSP connect-src) so the check can run after a reload.
   */
  modelMirrorPending: string | null;
  /**
   * Base URLs of OpenAI-compatible servers jobs use: the service worker lets the runner
   * worker reach them (CSP connect-src).
   */
  servers: string[];
  /** API keys by server base URL. Kept here only: never in a job, an export or a log. */
  serverKeys: Record<string, string>;
}
