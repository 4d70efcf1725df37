/**
 * The page's side of the worker boundary: the one module that owns the
 * runner worker. It starts the worker lazily, restarts it, terminates it, and
 * turns a dead worker into an EngineError('worker-crashed') for every call
 * still waiting, so no caller hangs on a worker that is gone.
 */
import * as Comlink from 'comlink';
import { EngineError } from '$lib/engine/errors';
import type { RunnerApi } from './runner-api';
import type { RunEvent, RunOutcome } from './runner';

interface Running {
  worker: Worker;
  api: Comlink.Remote<RunnerApi>;
  died: Promise<never>;
  fail(error: EngineError): void;
}

let current: Running | null = null;

function start(): Running {
  const worker = new Worker(new URL('../../../workers/runner.worker.ts', import.meta.url), {
    type: 'module',
    name: 'localbatch-runner'
  });
  let fail: (error: EngineError) => void = () => undefined;
  const died = new Promise<never>((_, reject) => (fail = reject));
  died.catch(() => undefined);
  worker.addEventListener('error', (event) => {
    event.preventDefault();
    fail(
      new EngineError('worker-crashed', `The runner stopped: ${event.message || 'it crashed'}.`)
    );
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

export function runJob(jobId: string, onEvent: (event: RunEvent) => void): Promise<RunOutcome> {
  return call((api) => api.run(jobId, Comlink.proxy(onEvent)));
}

export function pauseJob(jobId: string): Promise<void> {
  return call((api) => api.pause(jobId));
}

export function terminate(reason = 'The runner was stopped.'): void {
  if (!current) return;
  current.fail(new EngineError('worker-crashed', reason));
  current.api[Comlink.releaseProxy]();
  current.worker.terminate();
  current = null;
}

export function restart(): void {
  terminate();
  running();
}
