/**
 * What the supervisor talks to, as small interfaces: the worker (through the runner
 * bridge), the store, time, the job locks, the other tabs and the reload guard; and
 * the page's own of each. Unit tests give fakes instead.
 */
import * as jobs from '$lib/store/jobs';
import { broadcast, type JobBroadcast } from '../job-broadcast';
import * as runnerBridge from '../runner-bridge';
import { pageClock, type PageClock } from './page-clock';
import { reloadGuard, type ReloadGuard } from './reload-guard';

/** The worker, as the supervisor uses it (runner-bridge.ts). */
export type RunnerBridge = Pick<
  typeof runnerBridge,
  'runJob' | 'pauseJob' | 'terminate' | 'restart' | 'refreshWhenIdle'
>;

/** What the supervisor reads and writes in the store (store/jobs.ts). */
export type SupervisorStore = Pick<
  typeof jobs,
  | 'getProgress'
  | 'appendLog'
  | 'recordFailure'
  | 'queueAgain'
  | 'updateJob'
  | 'requestPause'
  | 'clearPauseRequest'
  | 'pauseRequested'
  | 'markPaused'
>;

/** The job locks of this browser (Web Locks): the tab whose worker holds one runs the job. */
export interface JobLocks {
  /** Whether a worker (of any tab) holds the lock now. */
  held(name: string): Promise<boolean>;
  /** Resolves once the lock is free (it is taken and let go at once). */
  whenFree(name: string): Promise<void>;
}

export interface SupervisorDeps {
  bridge: RunnerBridge;
  store: SupervisorStore;
  clock: PageClock;
  /** null where the browser has no Web Locks: this tab then never waits for another. */
  locks: JobLocks | null;
  /** Sends a message to the other tabs. */
  broadcast: (message: JobBroadcast) => void;
  reloadGuard: () => ReloadGuard;
}

function webLocks(): JobLocks | null {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  if (!locks) return null;
  return {
    async held(name) {
      const { held = [] } = await locks.query();
      return held.some((lock) => lock.name === name);
    },
    async whenFree(name) {
      await locks.request(name, async () => undefined);
    }
  };
}

export function pageDeps(): SupervisorDeps {
  return {
    bridge: runnerBridge,
    store: {
      getProgress: jobs.getProgress,
      appendLog: jobs.appendLog,
      recordFailure: jobs.recordFailure,
      queueAgain: jobs.queueAgain,
      updateJob: jobs.updateJob,
      requestPause: jobs.requestPause,
      clearPauseRequest: jobs.clearPauseRequest,
      pauseRequested: jobs.pauseRequested,
      markPaused: jobs.markPaused
    },
    clock: pageClock,
    locks: webLocks(),
    broadcast,
    reloadGuard
  };
}
