/** The API the runner worker exposes to the page (through Comlink). Worker-side only. */
import { createEngine } from '$lib/engine';
import { Runner, type RunEvent, type RunOutcome } from './runner';
import * as store from './store';

export function createRunnerApi() {
  const runner = new Runner({
    store,
    createEngine,
    now: () => Date.now(),
    locks: globalThis.navigator?.locks
  });
  return {
    run(jobId: string, onEvent: (event: RunEvent) => void): Promise<RunOutcome> {
      return runner.run(jobId, onEvent);
    },
    pause(jobId: string): void {
      runner.pause(jobId);
    }
  };
}

export type RunnerApi = ReturnType<typeof createRunnerApi>;
