/**
 * Typed engine errors. Every failure an engine can meet becomes one of these
 * codes, so the runner can decide: fail this item and go on, or stop the run
 * with everything kept. The codes are in $lib/shared/stop.
 */
import { NoAdapterError, requireAdapter } from '$lib/gpu/probe';
import type { EngineErrorCode } from '$lib/shared/stop';

export class EngineError extends Error {
  override readonly name = 'EngineError';
  constructor(
    readonly code: EngineErrorCode,
    message: string,
    readonly hosts: string[] = [],
    /** GPUDeviceLostInfo.reason where known: "destroyed" is how an out-of-memory shows. */
    readonly lostReason: string | null = null
  ) {
    super(message);
  }
}

/** What `GPUDevice.lost` resolves to, as far as an error says it. */
export interface LostInfo {
  reason: string;
  message: string;
}

/**
 * A lost device as the engines report it, with its reason ("destroyed" is how an
 * out-of-memory shows, and recovery reads it so) and the browser's message.
 */
export function deviceLostError(info: LostInfo | null): EngineError {
  const reason = info?.reason ?? 'unknown';
  const message = info?.message ? `: ${info.message.trim()}` : '';
  return new EngineError(
    'device-lost',
    `The GPU device was lost (${reason}${message}).`,
    [],
    reason
  );
}

/** `error` as an EngineError: itself, or `fallback` with its message. */
export function asEngineError(error: unknown, fallback: EngineErrorCode): EngineError {
  if (error instanceof EngineError) return error;
  return new EngineError(fallback, error instanceof Error ? error.message : String(error));
}

export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function describe(error: unknown): { name: string; message: string } {
  if (error instanceof Error) return { name: error.name, message: error.message };
  // A runtime may throw a plain object: its message if it has one, else what it holds.
  if (typeof error === 'object' && error !== null) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    if (typeof message === 'string')
      return { name: typeof name === 'string' ? name : 'object', message };
    let json = '';
    try {
      json = JSON.stringify(error);
    } catch {
      // circular: say what it is
    }
    const what = Object.prototype.toString.call(error);
    return { name: 'object', message: json && json !== '{}' ? `${what} ${json}` : what };
  }
  return { name: typeof error, message: String(error) };
}

/**
 * Turns whatever WebLLM (or the browser under it) threw into an EngineError.
 * `unreachable` lists hosts found unreachable after a failed fetch.
 */
export function translateEngineError(
  error: unknown,
  context: { phase: 'load' | 'generate'; model: string; unreachable?: string[] }
): EngineError {
  if (error instanceof EngineError) return error;
  const { name, message } = describe(error);
  const text = `${name}: ${message}`;
  if (name === 'AbortError') return new EngineError('cancelled', 'Stopped.');
  // The shapes a lost device takes, as measured on the real runtime: WebLLM's own error; the
  // request in flight after a GPU-process kill ("A valid external Instance reference no longer
  // exists."); the next call ("Module has already been disposed": WebLLM unloaded on the loss);
  // and, in the app's worker on 0.2.79 as on 0.2.86, a BindingError on the tokenizer WebLLM
  // deleted ("Cannot pass deleted object as a pointer of type Tokenizer*": npm run test:real's
  // GPU-process kill fails without this mapping).
  if (
    name === 'DeviceLostError' ||
    /device (was |is )?lost|external Instance reference|Module has already been disposed|Cannot pass deleted object/i.test(
      text
    )
  ) {
    return new EngineError('device-lost', `The GPU device was lost (${message}).`);
  }
  if (/out of memory|OutOfMemory|QuotaExceeded.*GPU|allocation failed/i.test(text)) {
    return new EngineError('out-of-memory', `The GPU ran out of memory (${message}).`);
  }
  if (name === 'ContextWindowSizeExceededError' || /context window size/i.test(message)) {
    return new EngineError(
      'context-exceeded',
      `The prompt is longer than the model's context window (${message}).`
    );
  }
  if (
    (name === 'TypeError' && /fetch|network/i.test(message)) ||
    /NetworkError|Failed to fetch|ERR_NAME_NOT_RESOLVED|ERR_INTERNET_DISCONNECTED/i.test(text)
  ) {
    const hosts = context.unreachable ?? [];
    const where = hosts.length ? hosts.join(' and ') : 'the model host';
    return new EngineError(
      'network',
      `Could not download ${context.model}: ${where} could not be reached. Check the network connection.`,
      hosts
    );
  }
  if (/WebGPU|navigator\.gpu|requestAdapter|No adapter/i.test(text)) {
    return new EngineError('no-webgpu', `WebGPU is not available: ${message}`);
  }
  return context.phase === 'load'
    ? new EngineError('load-failed', `The model could not be loaded: ${message}`)
    : new EngineError('generation-failed', `Generation failed: ${message}`);
}

/** An adapter for an engine, or EngineError('no-webgpu') that says why there is none. */
export async function engineAdapter(): Promise<GPUAdapter> {
  try {
    return await requireAdapter();
  } catch (error) {
    if (error instanceof NoAdapterError) throw new EngineError('no-webgpu', error.message);
    throw error;
  }
}
