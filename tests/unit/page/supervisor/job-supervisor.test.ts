// The supervisor against a fake runner bridge, store, locks and clock: each run in the "worker"
// does what the test scripts, and time moves only when the test moves it.
import { describe, expect, it } from 'vitest';
import type { JobBroadcast } from '$lib/page/job-broadcast';
import { JobSupervisor, PAUSE_GRACE_MS } from '$lib/page/supervisor/job-supervisor';
import type { JobLocks, RunnerBridge, SupervisorStore } from '$lib/page/supervisor/supervisor-deps';
import { ReloadGuard } from '$lib/page/supervisor/reload-guard';
import { HANG_FLOOR_MS, MAX_AUTO_RELOADS, MAX_WORKER_CRASHES } from '$lib/page/supervisor/rules';
import type { ItemResult, JobProgress, RunLogEntry, RunState } from '$lib/shared/job';
import type { ItemError } from '$lib/shared/stop';
import { RESUME_AFTER_RELOAD_KEY, jobLockName } from '$lib/shared/storage-names';
import { initialProgress } from '$lib/store/jobs';
import type { RunEvent, RunOutcome } from '$lib/worker/runner';
import { FakeClock, MemoryStorage } from './fakes';

const JOB = 'job-1';
const CRASH = 'The runner stopped: it crashed.';

function progress(state: RunState, done = 0): JobProgress {
  return { ...initialProgress(0), state, cursor: done, done };
}

function committed(index: number): RunEvent {
  const result: ItemResult = {
    index,
    customId: `q-${index + 1}`,
    status: 'done',
    text: 'answer',
    finishReason: 'stop',
    usage: null,
    error: null,
    model: 'm',
    finishedAt: 1,
    attempts: 1
  };
  return { type: 'committed', result, progress: progress('running', index + 1) };
}

/** What one run in the worker does with its events callback. The worker's death ends it too. */
type Step = (emit: (event: RunEvent) => void) => Promise<RunOutcome>;

const completes: Step = async () => ({
  state: 'completed',
  progress: progress('completed', 10),
  error: null
});
/** The engine starts item 1 and never answers. */
const hangs: Step = (emit) => {
  emit({ type: 'item', index: 0, customId: 'q-1', attempt: 1 });
  return new Promise(() => undefined);
};
const crashes: Step = () => Promise.reject(new Error(CRASH));
const commitsThenCrashes: Step = (emit) => {
  emit(committed(0));
  return crashes(emit);
};
const busy: Step = async () => ({ state: 'busy', progress: null, error: null });
const stoppedWith =
  (code: ItemError['code'], state: RunState = 'stopped'): Step =>
  async () => ({ state, progress: progress(state), error: { code, message: `stopped: ${code}` } });
const serverDown = stoppedWith('server-down', 'paused');

class FakeBridge implements RunnerBridge {
  runs = 0;
  /** Workers started (the first run starts one, as the bridge does, and every restart). */
  started = 0;
  restarts = 0;
  refreshes = 0;
  pauses = 0;
  readonly terminated: string[] = [];
  readonly runTimes: number[] = [];
  #died: Promise<never> | null = null;
  #fail: (error: Error) => void = () => undefined;

  constructor(
    private readonly clock: FakeClock,
    readonly steps: Step[]
  ) {}

  runJob = (_jobId: string, onEvent: (event: RunEvent) => void): Promise<RunOutcome> => {
    this.runs++;
    this.runTimes.push(this.clock.now());
    const step = this.steps.shift();
    if (!step) return Promise.reject(new Error(`run ${this.runs} was not scripted`));
    return Promise.race([step(onEvent), this.#worker()]);
  };

  pauseJob = (): Promise<void> => {
    this.pauses++;
    return Promise.race([Promise.resolve(), this.#worker()]);
  };

  terminate = (reason = 'The runner was stopped.'): void => {
    this.terminated.push(reason);
    this.#stop(reason);
  };

  restart = (): void => {
    this.restarts++;
    this.#stop('The runner was stopped.');
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- a new worker: its death is raced by the next call
    this.#worker();
  };

  refreshWhenIdle = (): void => {
    this.refreshes++;
  };

  #worker(): Promise<never> {
    if (!this.#died) {
      this.started++;
      this.#died = new Promise<never>((_, reject) => (this.#fail = reject));
      this.#died.catch(() => undefined);
    }
    return this.#died;
  }

  #stop(reason: string): void {
    this.#fail(new Error(reason));
    this.#died = null;
  }
}

class FakeStore implements SupervisorStore {
  progress = progress('running');
  readonly log: RunLogEntry[] = [];
  readonly failures: { index: number; error: ItemError }[] = [];
  onLog: (entry: RunLogEntry) => void = () => undefined;
  getProgress = async () => this.progress;
  appendLog = async (_jobId: string, entry: RunLogEntry) => {
    this.log.push(entry);
    this.onLog(entry);
  };
  recordFailure = async (_jobId: string, index: number, error: ItemError) => {
    this.failures.push({ index, error });
  };
  queueAgain = async () => 0;
  updateJob = async () => undefined;
  /** When Pause was stored (null: it was not, or Resume took it back). */
  pauseAt: number | null = null;
  failPauseWith: Error | null = null;
  requestPause = async (_jobId: string, at: number) => {
    if (this.failPauseWith) throw this.failPauseWith;
    this.pauseAt = at;
  };
  clearPauseRequest = async () => {
    this.pauseAt = null;
  };
  pauseRequested = async () => this.pauseAt !== null;
  markPaused = async (_jobId: string, now: number) => {
    const changed = this.progress.state === 'running';
    if (changed) {
      this.progress = { ...this.progress, state: 'paused', stopReason: null, updatedAt: now };
    }
    return { progress: this.progress, changed };
  };
}

/** Web Locks of the browser: `taken` are held by another tab's worker. */
class FakeLocks implements JobLocks {
  readonly taken = new Set<string>();
  #waiting: { name: string; free: () => void }[] = [];
  held = async (name: string) => this.taken.has(name);
  whenFree = (name: string): Promise<void> =>
    this.taken.has(name)
      ? new Promise((free) => this.#waiting.push({ name, free }))
      : Promise.resolve();
  /** The other tab closes: its worker lets the lock go. */
  letGo(name: string): void {
    this.taken.delete(name);
    for (const waiter of this.#waiting.filter((w) => w.name === name)) waiter.free();
    this.#waiting = this.#waiting.filter((w) => w.name !== name);
  }
}

function setup(steps: Step[]) {
  const clock = new FakeClock();
  const bridge = new FakeBridge(clock, steps);
  const store = new FakeStore();
  const locks = new FakeLocks();
  const sent: JobBroadcast[] = [];
  const storage = new MemoryStorage();
  const reloads = { count: 0 };
  const guard = new ReloadGuard(storage, clock.now, () => reloads.count++);
  const supervisor = new JobSupervisor(JOB, {
    bridge,
    store,
    clock,
    locks,
    broadcast: (message) => sent.push(message),
    reloadGuard: () => guard
  });
  const kinds = () => store.log.map((entry) => entry.kind);
  const session = supervisor.session;
  return { clock, bridge, store, locks, sent, storage, reloads, supervisor, session, kinds };
}

describe('JobSupervisor: a hung engine', () => {
  it('gets no token for the time limit: the item is marked, the worker replaced, the job resumes', async () => {
    const t = setup([hangs, completes]);
    const start = t.clock.now();
    const running = t.supervisor.run();
    await t.clock.advance(HANG_FLOOR_MS - 1);
    expect(t.session.running).toBe(true);
    expect(t.session.current).toEqual({ index: 0, customId: 'q-1', attempt: 1 });
    expect(t.bridge.terminated).toEqual([]);
    await t.clock.advance(1);
    const seconds = HANG_FLOOR_MS / 1000;
    const message = `No token for ${seconds} s: the engine hung at item 1.`;
    expect(t.store.failures).toEqual([{ index: 0, error: { code: 'hung', message } }]);
    expect(t.bridge.terminated).toEqual([message]);
    await running;
    expect([t.bridge.runs, t.bridge.started]).toEqual([2, 2]);
    const entry: RunLogEntry = {
      at: start + HANG_FLOOR_MS,
      index: 0,
      kind: 'hung',
      message: `no token for ${seconds} s at item 1; engine restarted in a new worker`
    };
    expect(t.store.log).toEqual([entry]);
    expect(t.session.log).toEqual([entry]);
    expect(t.sent).toContainEqual({ jobId: JOB, type: 'log', entry });
    expect(t.session.status).toBe('Completed');
    expect([t.session.running, t.session.current, t.session.error]).toEqual([false, null, null]);
    // The hang watch stopped with the run.
    expect(t.clock.waiting).toBe(0);
  });

  it(`Pause pressed while the engine hangs: after ${PAUSE_GRACE_MS / 1000} s its worker is stopped, the job is stored paused, and no run starts after`, async () => {
    const t = setup([hangs]);
    const running = t.supervisor.run();
    await t.clock.advance(5000);
    await t.supervisor.pause();
    expect([t.session.running, t.session.pausing]).toEqual([true, true]);
    expect(t.store.pauseAt).toBe(t.clock.now());
    await t.clock.advance(PAUSE_GRACE_MS - 1000);
    expect(t.bridge.terminated).toEqual([]);
    await t.clock.advance(1000);
    await running;
    expect(t.bridge.terminated).toEqual([
      `The engine did not stop within ${PAUSE_GRACE_MS / 1000} s of Pause; its worker was stopped.`
    ]);
    // Well before the hang watch: nothing was marked hung, and the store says paused.
    expect(t.store.failures).toEqual([]);
    expect(t.kinds()).toEqual(['paused']);
    expect(t.store.progress.state).toBe('paused');
    expect([t.bridge.runs, t.bridge.started, t.bridge.pauses]).toEqual([1, 2, 1]);
    expect([t.session.running, t.session.pausing, t.session.error]).toEqual([false, false, null]);
    expect(t.session.status).toBe('Paused');
    // The other tabs are sent it.
    expect(t.sent).toContainEqual({
      jobId: JOB,
      type: 'progress',
      rows: [],
      progress: t.store.progress
    });
  });
});

describe('JobSupervisor: Pause', () => {
  it('never rejects: a Pause the disk refuses is said in the run log, and the run still pauses', async () => {
    const t = setup([hangs]);
    t.store.failPauseWith = new DOMException('Quota exceeded', 'QuotaExceededError');
    const running = t.supervisor.run();
    await t.clock.advance(100);
    await expect(t.supervisor.pause()).resolves.toBeUndefined();
    expect(t.store.log[0]?.message).toMatch(
      /^Pause could not be saved \(Quota exceeded\): this run stops, but another tab/
    );
    await t.clock.advance(PAUSE_GRACE_MS + 1000);
    await running;
    expect([t.session.pausing, t.store.progress.state]).toEqual([false, 'paused']);
  });

  it('never rejects when the worker is already gone; the run ends paused', async () => {
    const t = setup([crashes, completes]);
    t.bridge.pauseJob = () => Promise.reject(new Error('The runner stopped: it crashed.'));
    t.store.onLog = (entry) => {
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- pressed while the supervisor runs; the test awaits run()
      if (entry.kind === 'restart') void t.supervisor.pause();
    };
    await t.supervisor.run();
    expect(t.store.progress.state).toBe('paused');
    expect(t.bridge.runs).toBe(1);
  });

  it('during the lock retry after a worker was replaced: no more tries, stored paused, not waited for', async () => {
    const t = setup([crashes, busy, busy, busy, busy, completes]);
    const running = t.supervisor.run();
    await t.clock.advance(150);
    expect(t.bridge.runs).toBe(3);
    await t.supervisor.pause();
    await t.clock.advance(1000);
    await running;
    expect(t.bridge.runs).toBe(3);
    expect(t.store.progress.state).toBe('paused');
    expect(t.store.pauseAt).not.toBeNull();
    expect([t.session.elsewhere, t.session.status]).toEqual([false, 'Paused']);
    expect(t.kinds()).toEqual(['restart', 'paused']);
  });

  it('Resume takes the stored Pause back and runs', async () => {
    const t = setup([completes]);
    t.store.pauseAt = 5;
    t.store.progress = progress('paused', 3);
    await t.supervisor.resume();
    expect(t.store.pauseAt).toBeNull();
    expect(t.bridge.runs).toBe(1);
    expect(t.session.status).toBe('Completed');
  });

  it('Resume the disk refuses: said in the run log, nothing runs', async () => {
    const t = setup([completes]);
    t.store.clearPauseRequest = () => Promise.reject(new Error('disk full'));
    await expect(t.supervisor.resume()).resolves.toBeUndefined();
    expect(t.bridge.runs).toBe(0);
    expect(t.store.log.map((entry) => entry.message)).toEqual([
      'Resume could not be saved (disk full); nothing was changed. Free some disk space and press Resume again'
    ]);
  });
});

describe('JobSupervisor: a crashed worker', () => {
  it(`gets a new worker up to ${MAX_WORKER_CRASHES} crashes in a row, then stops saying so`, async () => {
    const t = setup(Array<Step>(MAX_WORKER_CRASHES).fill(crashes));
    t.store.progress = progress('running', 4);
    await t.supervisor.run();
    expect([t.bridge.runs, t.bridge.restarts]).toEqual([MAX_WORKER_CRASHES, MAX_WORKER_CRASHES]);
    expect(t.store.log.map((entry) => entry.message)).toEqual(
      Array(MAX_WORKER_CRASHES - 1).fill(`the runner crashed (${CRASH}); restarted`)
    );
    expect(t.session.error?.code).toBe('worker-crashed');
    expect(t.session.error?.message).toContain(
      `${CRASH} It crashed ${MAX_WORKER_CRASHES} times in a row. Nothing was lost: 4 of`
    );
    expect(t.session.error?.message).toMatch(/Press Resume to continue\.$/);
    expect(t.session.status).toBe('Interrupted');
    expect(t.session.canResume).toBe(true);
  });

  it('a run-log line the full disk refuses is still shown, and the run goes on to its own pause', async () => {
    const t = setup([crashes, stoppedWith('quota', 'paused')]);
    t.store.appendLog = async () => {
      throw new DOMException('Quota exceeded', 'QuotaExceededError');
    };
    await t.supervisor.run();
    expect([t.bridge.runs, t.bridge.restarts]).toEqual([2, 1]);
    expect(t.session.log.map((entry) => entry.message)).toContain(
      `the runner crashed (${CRASH}); restarted`
    );
    expect(t.session.error).toEqual({ code: 'quota', message: 'stopped: quota' });
    expect(t.session.status).toBe('Paused');
  });

  it('counts crashes in a row only: a commit between them starts the count again', async () => {
    // The third crash in a row would stop the job; the commit before it makes it the first.
    const t = setup([crashes, crashes, commitsThenCrashes, crashes, completes]);
    await t.supervisor.run();
    expect(t.bridge.runs).toBe(5);
    expect(t.kinds()).toEqual(Array(4).fill('restart'));
    expect(t.session.row(0)).toMatchObject({ status: 'done', firstLine: 'answer' });
    expect(t.session.error).toBe(null);
    expect(t.session.status).toBe('Completed');
  });

  it('waits for the lock the dead worker may still hold, asking every 100 ms', async () => {
    const t = setup([crashes, busy, busy, completes]);
    const running = t.supervisor.run();
    await t.clock.advance(199);
    expect(t.bridge.runs).toBe(3);
    await t.clock.advance(1);
    await running;
    expect(t.bridge.runs).toBe(4);
    expect(t.session.elsewhere).toBe(false);
    expect(t.session.status).toBe('Completed');
  });

  it('Pause pressed while the worker is replaced: no run starts after', async () => {
    const t = setup([crashes, completes]);
    t.store.onLog = (entry) => {
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- Pause, pressed while the supervisor runs; the test awaits run()
      if (entry.kind === 'restart') void t.supervisor.pause();
    };
    await t.supervisor.run();
    // The dead worker never stored the pause: the supervisor did.
    expect(t.kinds()).toEqual(['restart', 'paused']);
    expect([t.bridge.runs, t.bridge.pauses]).toEqual([1, 1]);
    expect([t.session.running, t.session.pausing, t.session.error]).toEqual([false, false, null]);
    expect([t.session.status, t.store.progress.state]).toEqual(['Paused', 'paused']);
    expect(t.session.canResume).toBe(true);
  });
});

describe('JobSupervisor: a server that is down', () => {
  const schedule = [5_000, 10_000, 20_000, 40_000, 60_000, 60_000];

  it('is asked again after 5 s, doubling to a minute, and the job resumes by itself when it answers', async () => {
    const t = setup([...schedule.map(() => serverDown), completes]);
    await t.supervisor.run();
    expect(t.session.status).toBe('Paused');
    expect(t.session.error?.code).toBe('server-down');
    // It waits for the server: the page must not let it go.
    expect(t.supervisor.idle).toBe(false);
    for (const wait of schedule) {
      const runs = t.bridge.runs;
      await t.clock.advance(wait - 1);
      expect(t.bridge.runs).toBe(runs);
      await t.clock.advance(1);
      expect(t.bridge.runs).toBe(runs + 1);
    }
    const times = t.bridge.runTimes;
    expect(times.slice(1).map((at, i) => at - times[i]!)).toEqual(schedule);
    // Each try in a fresh worker, so a server set meanwhile is reachable.
    expect(t.bridge.refreshes).toBe(schedule.length);
    expect(t.session.status).toBe('Completed');
    expect(t.session.error).toBe(null);
    expect(t.supervisor.idle).toBe(true);
    expect(t.clock.waiting).toBe(0);

    // Once it answered, the next time it is down starts again at 5 s.
    t.bridge.steps.push(serverDown, completes);
    await t.supervisor.run();
    await t.clock.advance(schedule[0]!);
    expect(t.bridge.runTimes.at(-1)! - t.bridge.runTimes.at(-2)!).toBe(schedule[0]);
    expect(t.session.status).toBe('Completed');
  });

  it('is not asked again after Pause', async () => {
    const t = setup([serverDown]);
    await t.supervisor.run();
    await t.supervisor.pause();
    await t.clock.advance(10 * 60_000);
    expect(t.bridge.runs).toBe(1);
    expect(t.clock.waiting).toBe(0);
  });
});

describe('JobSupervisor: a second tab', () => {
  const lock = jobLockName(JOB);
  const row = { status: 'done', firstLine: 'answer', tokens: 3, score: 0 } as const;

  it('shows the progress the running tab sends, and takes over when that tab closes mid-run', async () => {
    const t = setup([completes]);
    t.locks.taken.add(lock);
    await t.supervisor.refreshLock();
    expect(t.session.elsewhere).toBe(true);
    t.supervisor.receive({
      jobId: JOB,
      type: 'progress',
      rows: [[0, row]],
      progress: progress('running', 1)
    });
    expect(t.session.status).toBe('Running in another tab');
    expect([t.session.row(0), t.session.saved]).toEqual([row, 1]);
    expect(t.supervisor.idle).toBe(false);
    expect(t.bridge.runs).toBe(0);

    t.store.progress = progress('running', 3);
    t.locks.letGo(lock);
    await t.clock.advance(0);
    expect(t.kinds()).toEqual(['takeover']);
    expect(t.sent).toContainEqual({ jobId: JOB, type: 'log', entry: t.store.log[0] });
    expect(t.bridge.runs).toBe(1);
    expect(t.session.elsewhere).toBe(false);
    expect(t.session.status).toBe('Completed');
  });

  it('does not take over a job the other tab paused before it closed', async () => {
    const t = setup([]);
    t.locks.taken.add(lock);
    await t.supervisor.refreshLock();
    t.store.progress = progress('paused', 2);
    t.locks.letGo(lock);
    await t.clock.advance(0);
    expect(t.bridge.runs).toBe(0);
    expect(t.kinds()).toEqual([]);
    expect(t.session.status).toBe('Paused');
  });

  it('does not take over a job left running after a Pause (its tab closed while pausing): stored paused', async () => {
    const t = setup([]);
    t.locks.taken.add(lock);
    await t.supervisor.refreshLock();
    t.store.progress = progress('running', 2);
    t.store.pauseAt = 7;
    t.locks.letGo(lock);
    await t.clock.advance(0);
    expect(t.bridge.runs).toBe(0);
    expect(t.kinds()).toEqual([]);
    expect([t.store.progress.state, t.session.status]).toEqual(['paused', 'Paused']);
  });

  it('Start while another tab holds the job: this tab shows it runs elsewhere and waits', async () => {
    const t = setup([busy, completes]);
    t.locks.taken.add(lock);
    await t.supervisor.run();
    expect([t.bridge.runs, t.session.elsewhere, t.session.running]).toEqual([1, true, false]);
    t.locks.letGo(lock);
    await t.clock.advance(0);
    expect(t.bridge.runs).toBe(2);
    expect(t.session.status).toBe('Completed');
  });
});

describe('JobSupervisor: a GPU that Chrome blocked', () => {
  it(`reloads the page ${MAX_AUTO_RELOADS} times in the window, then stops and asks for one Reload`, async () => {
    const t = setup(Array<Step>(MAX_AUTO_RELOADS + 1).fill(stoppedWith('gpu-blocked')));
    for (let reload = 1; reload <= MAX_AUTO_RELOADS; reload++) {
      await t.supervisor.run();
      expect(t.reloads.count).toBe(reload);
      // The run goes on after the reload: no notice of its end (page/job-notice.ts).
      expect(t.session.reloading).toBe(true);
      await t.clock.advance(60_000);
    }
    await t.supervisor.run();
    expect(t.reloads.count).toBe(MAX_AUTO_RELOADS);
    expect(t.session.reloading).toBe(false);
    expect(t.kinds()).toEqual([...Array(MAX_AUTO_RELOADS).fill('reload'), 'stopped']);
    expect(t.session.error?.code).toBe('gpu-blocked');
    expect(t.session.error?.message).toContain(
      `reloaded the page ${MAX_AUTO_RELOADS} times in the last 10 minutes`
    );
    // The Reload the user is asked for resumes this job.
    expect(t.storage.getItem(RESUME_AFTER_RELOAD_KEY)).toBe(JOB);
  });

  it('reloads for "no WebGPU" only when the page was just reloaded for the GPU', async () => {
    const t = setup([stoppedWith('no-webgpu'), stoppedWith('no-webgpu')]);
    await t.supervisor.run();
    expect(t.reloads.count).toBe(0);
    expect(t.session.error?.code).toBe('no-webgpu');
    await t.supervisor.run({ afterGpuReload: true });
    expect(t.reloads.count).toBe(1);
  });
});
