import { describe, expect, it } from 'vitest';
import { EngineError, translateEngineError } from '$lib/worker/engine/errors';

describe('translateEngineError', () => {
  const context = { phase: 'load' as const, model: 'Qwen2.5-7B-Instruct-q4f32_1-MLC' };

  it('names the unreachable hosts on a failed fetch', () => {
    const error = translateEngineError(new TypeError('Failed to fetch'), {
      ...context,
      unreachable: ['huggingface.co', 'raw.githubusercontent.com']
    });
    expect(error.code).toBe('network');
    expect(error.message).toBe(
      'Could not download Qwen2.5-7B-Instruct-q4f32_1-MLC: huggingface.co and raw.githubusercontent.com could not be reached. Check the network connection.'
    );
    expect(error.hosts).toEqual(['huggingface.co', 'raw.githubusercontent.com']);
  });

  it('maps every shape a lost device takes on the real runtime to device-lost', () => {
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    const generate = { ...context, phase: 'generate' as const };
    for (const error of [
      // The request in flight when the GPU process is killed (0.2.79, measured).
      named('OperationError', 'A valid external Instance reference no longer exists.'),
      // The next call on 0.2.79: WebLLM unloaded the model when the device was lost (measured).
      new Error('Module has already been disposed'),
      // The next call on 0.2.80 and later (measured on 0.2.86).
      named('BindingError', 'Cannot pass deleted object as a pointer of type Tokenizer*')
    ]) {
      expect(translateEngineError(error, generate).code).toBe('device-lost');
    }
  });

  it('maps WebLLM and WebGPU errors to codes', () => {
    const named = (name: string, message: string) => Object.assign(new Error(message), { name });
    expect(translateEngineError(named('DeviceLostError', 'lost'), context).code).toBe(
      'device-lost'
    );
    expect(
      translateEngineError(
        named('ContextWindowSizeExceededError', 'Prompt tokens exceed context window size'),
        {
          ...context,
          phase: 'generate'
        }
      ).code
    ).toBe('context-exceeded');
    expect(translateEngineError(new Error('Device is lost'), context).code).toBe('device-lost');
    expect(translateEngineError(new Error('GPU out of memory'), context).code).toBe(
      'out-of-memory'
    );
    expect(translateEngineError(new Error('weird'), context).code).toBe('load-failed');
    expect(translateEngineError(new Error('weird'), { ...context, phase: 'generate' }).code).toBe(
      'generation-failed'
    );
    const typed = new EngineError('cancelled', 'Stopped.');
    expect(translateEngineError(typed, context)).toBe(typed);
  });

  it('says what a thrown plain object held, not "[object Object]"', () => {
    const generate = { ...context, phase: 'generate' as const };
    expect(translateEngineError({ code: 7 }, generate).message).toBe(
      'Generation failed: [object Object] {"code":7}'
    );
    expect(translateEngineError({ message: 'kernel failed' }, generate).message).toBe(
      'Generation failed: kernel failed'
    );
    expect(translateEngineError({}, generate).message).toBe('Generation failed: [object Object]');
  });
});
