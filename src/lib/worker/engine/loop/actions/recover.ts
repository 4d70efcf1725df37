/**
 * Recover: what a failed step means. A dying GPU process makes the runtime throw what it meets
 * (at times not even an Error), often before `device.lost` settles: the loop waits up to a
 * second for it, so a loss is told by the device, with its reason ("destroyed" is how an
 * out-of-memory shows, and recovery reads it so). Every sequence, live and waiting, then fails
 * with the same typed error, and the loop takes no more: the engine is loaded again.
 */
import { deviceLostError, translateEngineError, type EngineError } from '../../errors';
import type { LoopState } from '../state';

/** How long a step's error waits for the device to say it is lost. */
const LOSS_WAIT_MS = 1_000;

/** The device's loss, once it is known: a step stops before it reads from a lost device. */
export function checkDevice(state: LoopState): void {
  if (state.lost) throw deviceLostError(state.lost);
}

/** A step's error as the loop fails with it: the device's loss when that is what it was. */
export async function stepFailure(state: LoopState, error: unknown): Promise<EngineError> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    state.model.lost,
    new Promise<void>((resolve) => (timer = setTimeout(resolve, LOSS_WAIT_MS)))
  ]);
  clearTimeout(timer);
  // `lost` has settled when it won the race; its handler in loopState may not have run yet.
  const lost = state.lost ?? (await Promise.race([state.model.lost, Promise.resolve(null)]));
  if (lost) return deviceLostError(lost);
  return translateEngineError(error, { phase: 'generate', model: state.model.name });
}

/** Fails every sequence, live and waiting, with `error`. */
export function failAll(state: LoopState, error: EngineError): void {
  for (const sequence of state.live.splice(0)) sequence.end(error);
  for (const sequence of state.waiting.splice(0)) sequence.end(error);
}
