/**
 * The Models page's state: what each catalog model has stored, and the
 * downloads this tab runs. One instance for the app, so a download goes on
 * while the user looks at a job and shows its progress when they come back.
 *
 * A started download is marked pending in the settings database until it
 * ends; the Models page continues pending downloads when it opens (after a
 * reload or a crash), from the last finished shard. One tab downloads a model
 * at a time (a Web Lock per model).
 */
import { MODELS } from '$lib/plan/catalog';
import type { ModelSpec } from '$lib/plan/types';
import { getPendingDownloads, setPendingDownload } from '$lib/store/downloads';
import { getSettings } from '$lib/store/settings';
import { modelDownloadLockName } from '$lib/shared/storage-names';
import { DownloadError } from '$lib/models/download-error';
import { downloadModel } from '$lib/models/downloader';
import { cachedState, deleteModel, type CachedState } from '$lib/models/stored-model';
import type { DownloadProgress } from '$lib/models/progress';

type DownloadPhase = 'preparing' | 'downloading' | 'retrying';

export interface ActiveDownload {
  phase: DownloadPhase;
  progress: DownloadProgress | null;
  /** While retrying: why, and when the next try is. */
  retry: { reason: string; at: number } | null;
  controller: AbortController;
}

class ModelDownloads {
  /** By model id; missing until read. */
  states = $state.raw<Record<string, CachedState>>({});
  active = $state.raw<Record<string, ActiveDownload>>({});
  /** The last error of a model's download, for the user. */
  errors = $state.raw<Record<string, string>>({});
  /** Downloads another tab of this browser runs. */
  elsewhere = $state.raw<Record<string, boolean>>({});
  /** Polite, short announcements for screen readers (start, each quarter, end). */
  announcement = $state('');
  mirror = $state<string | null>(null);
  loaded = $state(false);
  #milestones = new Map<string, number>();
  #running = new Map<string, Promise<void>>();

  get models(): ModelSpec[] {
    return MODELS;
  }

  get busy(): boolean {
    return Object.keys(this.active).length > 0;
  }

  async refresh(): Promise<void> {
    this.mirror = (await getSettings()).modelMirror;
    const entries = await Promise.all(
      MODELS.map(async (model) => [model.id, await cachedState(model.id, this.mirror)] as const)
    );
    this.states = Object.fromEntries(entries);
    this.loaded = true;
  }

  async refreshOne(modelId: string): Promise<void> {
    const state = await cachedState(modelId, this.mirror);
    this.states = { ...this.states, [modelId]: state };
  }

  /** Continues the downloads a reload or a crash interrupted. */
  async continuePending(): Promise<void> {
    for (const modelId of await getPendingDownloads()) {
      if (!this.active[modelId] && MODELS.some((model) => model.id === modelId)) {
        // eslint-disable-next-line @typescript-eslint/no-floating-promises -- a failed download shows on its model (#start handles it)
        void this.start(modelId, true);
      }
    }
  }

  #set(modelId: string, download: ActiveDownload | null) {
    const next = { ...this.active };
    if (download) next[modelId] = download;
    else delete next[modelId];
    this.active = next;
  }

  #setError(modelId: string, message: string | null) {
    const next = { ...this.errors };
    if (message) next[modelId] = message;
    else delete next[modelId];
    this.errors = next;
  }

  #announce(text: string) {
    this.announcement = text;
  }

  /** Starts (or continues) a model's download; resolves when it ends. */
  start(modelId: string, continuing = false): Promise<void> {
    const running = this.#running.get(modelId);
    if (running) return running;
    const done = this.#start(modelId, continuing).finally(() => this.#running.delete(modelId));
    this.#running.set(modelId, done);
    return done;
  }

  async #start(modelId: string, continuing: boolean): Promise<void> {
    const model = MODELS.find((m) => m.id === modelId);
    if (!model) return;
    const mirror = (await getSettings()).modelMirror;
    this.mirror = mirror;
    const controller = new AbortController();
    this.#setError(modelId, null);
    this.#set(modelId, { phase: 'preparing', progress: null, retry: null, controller });
    this.#milestones.set(modelId, 0);
    const run = async () => {
      await setPendingDownload(modelId, true);
      this.#announce(
        `${continuing ? 'Continuing the download of' : 'Downloading'} ${model.label}.`
      );
      try {
        await downloadModel(modelId, mirror, {
          signal: controller.signal,
          onEvent: (event) => {
            const current = this.active[modelId];
            if (!current) return;
            if (event.type === 'preparing') return;
            if (event.type === 'retrying') {
              this.#set(modelId, {
                ...current,
                phase: 'retrying',
                progress: event.progress ?? current.progress,
                retry: { reason: event.reason, at: Date.now() + event.inMs }
              });
              this.#announce(
                `${model.label}: connection lost, trying again in ${Math.ceil(event.inMs / 1000)} seconds.`
              );
              return;
            }
            this.#set(modelId, {
              ...current,
              phase: 'downloading',
              progress: event.progress,
              retry: null
            });
            const quarter = Math.floor(event.progress.fraction * 4);
            if (quarter > (this.#milestones.get(modelId) ?? 0) && quarter < 4) {
              this.#milestones.set(modelId, quarter);
              this.#announce(`${model.label}: ${quarter * 25}% downloaded.`);
            }
          }
        });
        await setPendingDownload(modelId, false);
        this.#announce(`${model.label} is downloaded.`);
      } catch (error) {
        const message =
          error instanceof DownloadError
            ? error.message
            : `The download failed: ${error instanceof Error ? error.message : String(error)}`;
        await setPendingDownload(modelId, false);
        if (error instanceof DownloadError && error.code === 'cancelled') {
          this.#announce(`The download of ${model.label} was stopped.`);
        } else {
          this.#setError(modelId, message);
        }
      }
    };
    try {
      const locks = globalThis.navigator?.locks;
      if (locks) {
        await locks.request(modelDownloadLockName(modelId), { ifAvailable: true }, async (lock) => {
          if (!lock) {
            this.elsewhere = { ...this.elsewhere, [modelId]: true };
            return;
          }
          this.elsewhere = { ...this.elsewhere, [modelId]: false };
          await run();
        });
      } else {
        await run();
      }
    } finally {
      this.#set(modelId, null);
      await this.refreshOne(modelId);
    }
  }

  stop(modelId: string): void {
    this.active[modelId]?.controller.abort();
  }

  async remove(modelId: string): Promise<void> {
    // Let a running download end first, or a shard finishing now would outlive the delete.
    this.active[modelId]?.controller.abort();
    await this.#running.get(modelId);
    const model = MODELS.find((m) => m.id === modelId);
    await deleteModel(modelId);
    this.#setError(modelId, null);
    await this.refreshOne(modelId);
    this.#announce(`${model?.label ?? modelId} is deleted.`);
  }
}

export const downloads = new ModelDownloads();
