/**
 * The page's side of the worker boundary: the one module that owns the
 * runner worker. It starts the worker lazily, restarts it, terminates it, and
 * turns a dead worker into a WorkerGoneError for every call still waiting,
 * so no caller hangs on a worker that is gone. Only the worker's types cross
 * this boundary.
 */
import * as Comlink from 'comlink';
import { RUNNER_WORKER_NAME } from '$lib/shared/storage-names';
import type { RunnerApi, ServerModels } from '$lib/worker/api';
import type { RunEvent, RunOutcome } from '$lib/worker/runner';

/** The runner worker died, or was stopped: what was committed is safe. */
class WorkerGoneError extends Error {
  override readonly name = 'WorkerGoneError';
  readonly code = 'worker-crashed';
}

interface Running {
  worker: Worker;
  api: Comlink.Remote<RunnerApi>;
  died: Promise<never>;
  fail(error: WorkerGoneError): void;
}

let current: Running | null = null;

function start(): Running {
  const worker = new Worker(new URL('../../../workers/runner.worker.ts', import.meta.url), {
    type: 'module',
    name: RUNNER_WORKER_NAME
  });
  let fail: (error: WorkerGoneError) => void = () => undefined;
  const died = new Promise<never>((_, reject) => (fail = reject));
  // eslint-disable-next-line no-restricted-syntax -- every call in flight races `died` and gets its rejection; with none, nobody waits
  died.catch(() => undefined);
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    fail(new WorkerGoneError(`The runner stopped: ${event.message || 'it crashed'}.`));
  });
  return { worker, api: Comlink.wrap<RunnerApi>(worker), died, fail };
}

function running(): Running {
  current ??= start();
  return current;
}

async function call<T>(fn: (api: Comlink.Remote<RunnerApi>) => Promise<T>): Promise<T> {
  const { api, died } = running();
  return Promise.race([fn(api), died]);
}

/** Runs now in the worker, so it is not replaced under them. */
let runs = 0;

export async function runJob(
  jobId: string,
  onEvent: (event: RunEvent) => void
): Promise<RunOutcome> {
  runs++;
  try {
    const onEvents = (events: RunEvent[]) => {
      for (const event of events) onEvent(event);
    };
    return await call((api) => api.run(jobId, Comlink.proxy(onEvents)));
  } finally {
    runs--;
  }
}

export function pauseJob(jobId: string): Promise<void> {
  return call((api) => api.pause(jobId));
}

export function terminate(reason = 'The runner was stopped.'): void {
  if (!current) return;
  current.fail(new WorkerGoneError(reason));
  current.api[Comlink.releaseProxy]();
  current.worker.terminate();
  current = null;
}

export function restart(): void {
  terminate();
  running();
}

/**
 * A worker follows the Content-Security-Policy it was started with, and servers
 * the user just set are added to it (by the service worker) only for workers
 * started after: the idle worker is replaced so the next run can reach them.
 */
export function refreshWhenIdle(): void {
  if (runs === 0) terminate('The runner was replaced to reach a new server.');
}

/** The models a server serves, asked by a worker of its own started now (so it may reach it). */
export async function listServerModels(baseUrl: string): Promise<ServerModels> {
  const fresh = start();
  try {
    return await Promise.race([fresh.api.listModels(baseUrl), fresh.died]);
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  } finally {
    fresh.api[Comlink.releaseProxy]();
    fresh.worker.terminate();
  }
}
