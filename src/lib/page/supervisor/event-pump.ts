/**
 * A run's events on their way to the page: held, then shown together at most ten
 * times a second (in an animation frame, or a little later in a hidden tab that gets
 * none), and sent to other tabs as one message each time, however fast items commit.
 */
import type { JobProgress } from '$lib/shared/job';
import type { RunEvent } from '$lib/worker/runner';
import type { JobBroadcast, RowSummary } from '../job-broadcast';
import type { Cancel, PageClock } from './page-clock';

/** The page shows a run's events at most this often (in the next animation frame after it). */
export const SHOW_EVERY_MS = 100;
/** A hidden tab gets no animation frames: its events are shown this long after instead. */
export const HIDDEN_FLUSH_MS = 250;

/** Where the events are shown (the job's session). */
export interface RunView {
  apply(event: RunEvent, now: number): void;
  row(index: number): RowSummary | undefined;
}

const none: Cancel = () => undefined;

export class EventPump {
  #pending: RunEvent[] = [];
  #cancelWait = none;
  #cancelFrame = none;

  constructor(
    private readonly jobId: string,
    private readonly view: RunView,
    private readonly send: (message: JobBroadcast) => void,
    private readonly clock: PageClock
  ) {}

  /** No event waits to be shown. */
  get empty(): boolean {
    return this.#pending.length === 0;
  }

  push(event: RunEvent): void {
    this.#pending.push(event);
    if (this.#pending.length > 1) return;
    this.#cancelWait = this.clock.after(SHOW_EVERY_MS, () => {
      this.#cancelFrame = this.clock.nextFrame(this.flush);
      this.#cancelWait = this.clock.after(HIDDEN_FLUSH_MS, this.flush);
    });
  }

  /**
   * Shows the held events and sends them to other tabs: the rows committed and the
   * progress after them in one message, a log line in its own (in order).
   * Called before anything else changes the session, so events never land out of order.
   */
  flush = (): void => {
    this.#cancelFrame();
    this.#cancelWait();
    const events = this.#pending;
    if (!events.length) return;
    this.#pending = [];
    const now = this.clock.now();
    let rows: [number, RowSummary][] = [];
    let progress: JobProgress | null = null;
    const sendProgress = () => {
      if (progress) this.send({ jobId: this.jobId, type: 'progress', rows, progress });
      rows = [];
      progress = null;
    };
    for (const event of events) {
      this.view.apply(event, now);
      if (event.type === 'committed') {
        const row = this.view.row(event.result.index);
        if (row) rows.push([event.result.index, row]);
        progress = event.progress;
      } else if (event.type === 'progress') {
        progress = event.progress;
      } else if (event.type === 'log') {
        sendProgress();
        this.send({ jobId: this.jobId, type: 'log', entry: event.entry });
      }
    }
    sendProgress();
  };
}
