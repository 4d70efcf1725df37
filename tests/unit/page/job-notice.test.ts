import { describe, expect, it } from 'vitest';
import {
  JobNotifier,
  endNotice,
  type JobNotice,
  type NoticedJob
} from '../../../src/lib/page/job-notice';
import type { JobStatus } from '../../../src/lib/page/job-session.svelte';

/** A job as the layout gives it: running while the session's status is one of a run here. */
const job = (status: JobStatus, more: Partial<NoticedJob> = {}): NoticedJob => ({
  name: 'weclone-scores',
  running: status === 'Starting' || status === 'Running' || status === 'Pausing',
  status,
  total: 689,
  done: 0,
  failed: 0,
  saved: 0,
  error: null,
  reloading: false,
  ...more
});

const TOO_LITTLE_MEMORY = {
  code: 'out-of-memory' as const,
  message:
    'The GPU ran out of memory at 1 sequence and a 1,024-token window. Nothing was lost: 40 of 689 results are saved. Choose a smaller model or close other tabs that use the GPU, then press Resume.'
};
const SERVER_DOWN = {
  code: 'server-down' as const,
  message: 'The server at http://127.0.0.1:8000 does not answer.'
};

const GPU_BLOCKED = {
  code: 'gpu-blocked' as const,
  message:
    'The browser keeps blocking the GPU for this page after crashes. Nothing was lost: 300 of 689 results are saved. Press the browser’s Reload button.'
};

describe('endNotice', () => {
  it('a completed job: its counts, and where its results are', () => {
    expect(endNotice(job('Completed', { done: 1200, total: 1203, failed: 3 }))).toEqual({
      title: 'Done: weclone-scores',
      body: "1,200 of 1,203 items done, 3 failed. The results are saved in this browser; export them from the job's page."
    });
    expect(endNotice(job('Completed', { done: 689 }))?.body).toBe(
      "689 of 689 items done. The results are saved in this browser; export them from the job's page."
    );
  });

  it('a stopped job: the words the job page shows (what was kept, what to do), else its counts', () => {
    expect(endNotice(job('Stopped', { error: GPU_BLOCKED }))).toEqual({
      title: 'Stopped: weclone-scores',
      body: GPU_BLOCKED.message
    });
    expect(endNotice(job('Stopped', { done: 10, failed: 2, saved: 13 }))?.body).toBe(
      'Nothing was lost: 13 of 689 results are saved. Open the job and press Resume.'
    );
    expect(endNotice(job('Interrupted', { error: GPU_BLOCKED }))?.title).toBe(
      'Stopped: weclone-scores'
    );
  });

  it('a run that paused itself and waits for the user (too little memory even for the smallest plan): its words', () => {
    expect(endNotice(job('Paused', { error: TOO_LITTLE_MEMORY }))).toEqual({
      title: 'Paused: weclone-scores',
      body: TOO_LITTLE_MEMORY.message
    });
  });

  it('none for a pause, a run that goes on by itself (a restart, a server asked again later, a reload for the GPU), or a run going on', () => {
    for (const status of ['Paused', 'Interrupted', 'Running', 'Starting', 'Not started'] as const)
      expect(endNotice(job(status))).toBeNull();
    expect(endNotice(job('Paused', { error: SERVER_DOWN }))).toBeNull();
    expect(endNotice(job('Stopped', { error: GPU_BLOCKED, reloading: true }))).toBeNull();
    expect(endNotice(job('Completed', { reloading: true }))).toBeNull();
  });
});

describe('JobNotifier', () => {
  function notifier(state = { allowed: true, hidden: true }) {
    const shown: [string, JobNotice][] = [];
    const it = new JobNotifier({
      allowed: () => state.allowed,
      hidden: () => state.hidden,
      show: (jobId, notice) => shown.push([jobId, notice])
    });
    return { it, shown, state };
  }

  it('a run that ends while the tab is hidden: one notice, for that job', () => {
    const { it: n, shown } = notifier();
    n.observe('a', job('Starting'));
    n.observe('a', job('Running'));
    n.observe('b', job('Paused'));
    n.observe('a', job('Completed', { done: 689 }));
    n.observe('a', job('Completed', { done: 689 }));
    expect(shown.map(([id, notice]) => [id, notice.title])).toEqual([
      ['a', 'Done: weclone-scores']
    ]);
  });

  it('nothing while the tab is shown, or without the setting and the permission', () => {
    const { it: n, shown, state } = notifier({ allowed: true, hidden: false });
    n.observe('a', job('Running'));
    n.observe('a', job('Completed'));
    state.allowed = false;
    state.hidden = true;
    n.observe('a', job('Running'));
    n.observe('a', job('Stopped'));
    expect(shown).toEqual([]);
  });

  it('nothing for a job opened already ended, nor for a Pause', () => {
    const { it: n, shown } = notifier();
    n.observe('a', job('Completed'));
    n.observe('b', job('Stopped', { error: GPU_BLOCKED }));
    n.observe('c', job('Running'));
    n.observe('c', job('Pausing'));
    n.observe('c', job('Paused'));
    // Completed later without a run seen here (another tab ran it): not this tab's to tell.
    n.observe('c', job('Completed'));
    expect(shown).toEqual([]);
  });

  it('a run interrupted with no reason goes on by itself: its end is the one told', () => {
    const { it: n, shown } = notifier();
    n.observe('a', job('Running'));
    n.observe('a', job('Interrupted'));
    expect(shown).toEqual([]);
    n.observe('a', job('Completed', { done: 689 }));
    n.observe('a', job('Running'));
    n.observe('a', job('Interrupted', { error: GPU_BLOCKED }));
    expect(shown.map(([, notice]) => notice.title)).toEqual([
      'Done: weclone-scores',
      'Stopped: weclone-scores'
    ]);
    expect(shown[1]?.[1].body).toBe(GPU_BLOCKED.message);
  });

  it('a page reload for the GPU, or a server asked again later, is not an end: the run after it is told', () => {
    const { it: n, shown } = notifier();
    n.observe('a', job('Running'));
    n.observe('a', job('Stopped', { error: GPU_BLOCKED, reloading: true }));
    n.observe('b', job('Running'));
    n.observe('b', job('Paused', { error: SERVER_DOWN }));
    expect(shown).toEqual([]);
    n.observe('b', job('Starting'));
    n.observe('b', job('Paused', { error: TOO_LITTLE_MEMORY }));
    expect(shown.map(([id, notice]) => [id, notice.title])).toEqual([
      ['b', 'Paused: weclone-scores']
    ]);
  });

  it('each run is told once: Resume, then its end again', () => {
    const { it: n, shown } = notifier();
    n.observe('a', job('Running'));
    n.observe('a', job('Stopped'));
    n.observe('a', job('Stopped'));
    n.observe('a', job('Starting'));
    n.observe('a', job('Completed'));
    expect(shown.map(([, notice]) => notice.title)).toEqual([
      'Stopped: weclone-scores',
      'Done: weclone-scores'
    ]);
  });
});
