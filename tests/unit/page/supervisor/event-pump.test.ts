import { describe, expect, it } from 'vitest';
import type { JobBroadcast, RowSummary } from '$lib/page/job-broadcast';
import { EventPump, HIDDEN_FLUSH_MS, SHOW_EVERY_MS } from '$lib/page/supervisor/event-pump';
import type { ItemResult, JobProgress, RunLogEntry } from '$lib/shared/job';
import { initialProgress } from '$lib/store/jobs';
import type { RunEvent } from '$lib/worker/runner';
import { FRAME_MS, FakeClock } from './fakes';

function progress(done: number): JobProgress {
  return { ...initialProgress(0), state: 'running', cursor: done, done };
}

function committed(index: number): RunEvent {
  const result: ItemResult = {
    index,
    customId: `q-${index + 1}`,
    status: 'done',
    text: `answer ${index + 1}`,
    finishReason: 'stop',
    usage: null,
    error: null,
    model: 'm',
    finishedAt: 1,
    attempts: 1
  };
  return { type: 'committed', result, progress: progress(index + 1) };
}

function logged(message: string): RunEvent {
  const entry: RunLogEntry = { at: 1, index: null, kind: 'restart', message };
  return { type: 'log', entry };
}

function row(index: number): RowSummary {
  return { status: 'done', firstLine: `answer ${index + 1}`, tokens: 0, score: 0 };
}

/** A view that keeps what it is shown, and when. */
class RecordingView {
  readonly shown: { event: RunEvent; at: number }[] = [];
  readonly rows = new Map<number, RowSummary>();
  apply(event: RunEvent, now: number): void {
    this.shown.push({ event, at: now });
    if (event.type === 'committed') this.rows.set(event.result.index, row(event.result.index));
  }
  row(index: number): RowSummary | undefined {
    return this.rows.get(index);
  }
}

function pump() {
  const clock = new FakeClock();
  const view = new RecordingView();
  const sent: JobBroadcast[] = [];
  const events = new EventPump('job-1', view, (message) => sent.push(message), clock);
  return { clock, view, sent, events, start: clock.now() };
}

describe('EventPump', () => {
  it('holds events, then shows them together in the first frame after SHOW_EVERY_MS', async () => {
    const { clock, view, sent, events, start } = pump();
    events.push({ type: 'item', index: 0, customId: 'q-1', attempt: 1 });
    await clock.advance(40);
    events.push({ type: 'text', index: 0, text: 'ans' });
    events.push(committed(0));
    expect(events.empty).toBe(false);
    await clock.advance(SHOW_EVERY_MS - 40 + FRAME_MS - 1);
    expect(view.shown).toEqual([]);
    expect(sent).toEqual([]);
    await clock.advance(1);
    expect(view.shown.map((shown) => shown.event.type)).toEqual(['item', 'text', 'committed']);
    expect(view.shown.every((shown) => shown.at === start + SHOW_EVERY_MS + FRAME_MS)).toBe(true);
    expect(sent).toEqual([
      { jobId: 'job-1', type: 'progress', rows: [[0, row(0)]], progress: progress(1) }
    ]);
    expect(events.empty).toBe(true);
    // The frame came: the hidden tab's fallback is cancelled, nothing shows twice.
    expect(clock.waiting).toBe(0);
  });

  it('sends other tabs one message per showing, however many items committed', async () => {
    const { clock, sent, events } = pump();
    for (let index = 0; index < 50; index++) events.push(committed(index));
    await clock.advance(SHOW_EVERY_MS + FRAME_MS);
    expect(sent).toHaveLength(1);
    const message = sent[0]!;
    expect(message.type === 'progress' && message.rows.map(([index]) => index)).toEqual(
      Array.from({ length: 50 }, (_, index) => index)
    );
    expect(message.type === 'progress' && message.progress).toEqual(progress(50));
  });

  it('keeps a log line between the progress before it and after it', async () => {
    const { clock, sent, events } = pump();
    events.push(committed(0));
    events.push(logged('restarted'));
    events.push(committed(1));
    events.push({ type: 'progress', progress: progress(3) });
    await clock.advance(SHOW_EVERY_MS + FRAME_MS);
    expect(sent.map((message) => message.type)).toEqual(['progress', 'log', 'progress']);
    expect(sent[1]).toMatchObject({ type: 'log', entry: { message: 'restarted' } });
    expect(sent[2]).toEqual({
      jobId: 'job-1',
      type: 'progress',
      rows: [[1, row(1)]],
      progress: progress(3)
    });
  });

  it('shows the events of a hidden tab (no frames) HIDDEN_FLUSH_MS later', async () => {
    const { clock, view, events } = pump();
    clock.hidden = true;
    events.push(committed(0));
    await clock.advance(SHOW_EVERY_MS + HIDDEN_FLUSH_MS - 1);
    expect(view.shown).toEqual([]);
    await clock.advance(1);
    expect(view.shown).toHaveLength(1);
    expect(clock.waiting).toBe(0);
  });

  it('flush shows at once and cancels what was waiting; the next event waits again', async () => {
    const { clock, view, sent, events, start } = pump();
    events.push(committed(0));
    await clock.advance(10);
    events.flush();
    expect(view.shown).toEqual([{ event: committed(0), at: start + 10 }]);
    expect(sent).toHaveLength(1);
    expect(clock.waiting).toBe(0);
    events.flush();
    expect(sent).toHaveLength(1);
    events.push(committed(1));
    await clock.advance(SHOW_EVERY_MS + FRAME_MS);
    expect(view.shown.map((shown) => shown.at)).toEqual([
      start + 10,
      start + 10 + SHOW_EVERY_MS + FRAME_MS
    ]);
  });

  it('sends nothing for events that carry no progress', async () => {
    const { clock, view, sent, events } = pump();
    events.push({ type: 'item', index: 0, customId: 'q-1', attempt: 1 });
    events.push({ type: 'text', index: 0, text: 'a' });
    await clock.advance(SHOW_EVERY_MS + FRAME_MS);
    expect(view.shown).toHaveLength(2);
    expect(sent).toEqual([]);
  });
});
