/**
 * A toy StepModel for the loop's unit tests: each sequence's next token is a function of the
 * tokens its own KV slot holds, so an answer depends on its own prompt only, as a real model's
 * greedy answer does. It records every forward call, so tests can see how the loop scheduled
 * them, and fails or loses its device on demand.
 */
import type { LostInfo } from '$lib/worker/engine/errors';
import type { Grammars, StepModel } from '$lib/worker/engine/loop/model';

const VOCAB = 20;
const STOP = 19;

/**
 * The toy model: the next token after the tokens a slot holds, a function of every one of them
 * and their order (a slot holding one token more or less, or another, answers otherwise).
 */
function nextToken(tokens: readonly number[]): number {
  let hash = 7;
  for (const token of tokens) hash = (hash * 31 + token + 1) % 1_000_003;
  return hash % VOCAB;
}

function oneHot(token: number): number[] {
  return Array.from({ length: VOCAB }, (_, t) => (t === token ? 1 : 0));
}

const letters = (ids: ArrayLike<number>) =>
  Array.from(ids, (id) => String.fromCharCode(97 + id)).join('');

export interface ToyModel extends StepModel {
  calls: { fn: 'prefill' | 'decode'; slots: number[]; lengths: number[] }[];
  added: number[];
  removed: number[];
  /** Each trim of a slot back to the kept prefix: the slot and the tokens dropped. */
  trimmed: { slot: number; count: number }[];
  /** Slots opened on a kept prefix, in order. */
  reused: number[];
  /** Makes the next forward call throw this. */
  failNext: unknown;
  /** Loses the device: `lost` settles with this. */
  loseDevice(info: LostInfo): void;
  /** Loses the device while the next read-back waits, which then throws as WebLLM's does. */
  loseDuringRead: (LostInfo & { lostAfterMs?: number }) | null;
  disposed: boolean;
}

/**
 * A schema "bad" does not compile, a schema "refuse" rejects every token; others allow every
 * token. `compiled` lists the schemas compiled.
 */
export function toyGrammars(compiled: string[] = []): Grammars {
  return {
    matcher: (schema) => {
      if (schema === 'bad') return Promise.reject(new Error('Invalid JSON schema'));
      compiled.push(schema);
      return Promise.resolve({
        getNextTokenBitmask: () => Promise.resolve(new Int32Array([-1])),
        acceptToken: () => schema !== 'refuse',
        dispose() {}
      });
    },
    dispose() {}
  };
}

export function toyModel(slots: number, prefillChunk = 4, grammars = toyGrammars()): ToyModel {
  const held = new Map<number, number[]>();
  let loseDevice: (info: LostInfo) => void = () => undefined;
  const lost = new Promise<LostInfo>((resolve) => (loseDevice = resolve));
  const forward = async (fn: 'prefill' | 'decode', rows: { slot: number; ids: number[] }[]) => {
    if (model.failNext !== null) {
      const error = model.failNext;
      model.failNext = null;
      throw error;
    }
    model.calls.push({
      fn,
      slots: rows.map((r) => r.slot),
      lengths: rows.map((r) => r.ids.length)
    });
    const logits = rows.map(({ slot, ids }) => {
      const tokens = held.get(slot);
      if (!tokens) throw new Error(`slot ${slot} has no sequence`);
      tokens.push(...ids);
      return oneHot(nextToken(tokens));
    });
    const lose = model.loseDuringRead;
    if (lose) {
      model.loseDuringRead = null;
      const { lostAfterMs = 0, ...info } = lose;
      setTimeout(() => model.loseDevice(info), lostAfterMs);
      throw new Error('The logits never came back from the GPU.');
    }
    await Promise.resolve();
    return new Float32Array(logits.flat());
  };
  const model: ToyModel = {
    name: 'toy',
    slots,
    prefillChunk,
    vocabSize: VOCAB,
    stopTokens: [STOP],
    stopStrings: [],
    defaults: { temperature: 0, top_p: 1, repetition_penalty: 1 },
    lost,
    sampler: {
      newRng: () => ({
        setSeed(seed: number) {
          // As WebLLM's LinearCongruentialGenerator: a negative seed leaves a state it refuses.
          if (seed < 0) throw new Error('Random state is unexpectedly not strictly positive.');
        },
        randomFloat: () => 0.5
      }),
      sample: (logits) => logits.indexOf(Math.max(...logits))
    },
    grammars,
    promptIds: () => [],
    detokenize: letters,
    addSequence(slot) {
      if (held.has(slot)) throw new Error(`slot ${slot} is taken`);
      held.set(slot, []);
      model.added.push(slot);
    },
    removeSequence(slot) {
      held.delete(slot);
      model.removed.push(slot);
    },
    sharing: {
      trim(slot, count) {
        const tokens = held.get(slot);
        if (!tokens || count > tokens.length) throw new Error(`slot ${slot} cannot drop ${count}`);
        tokens.splice(tokens.length - count);
        model.trimmed.push({ slot, count });
      },
      reuse(slot) {
        if (!held.has(slot)) throw new Error(`slot ${slot} has no sequence`);
        model.reused.push(slot);
      }
    },
    async prefill(slot, ids, logits) {
      const out = await forward('prefill', [{ slot, ids: [...ids] }]);
      return logits ? out : null;
    },
    decode: (rows) =>
      forward(
        'decode',
        rows.map((row) => ({ slot: row.slot, ids: [row.token] }))
      ),
    dispose() {
      model.disposed = true;
    },
    calls: [],
    added: [],
    removed: [],
    trimmed: [],
    reused: [],
    failNext: null,
    loseDevice: (info) => loseDevice(info),
    loseDuringRead: null,
    disposed: false
  };
  return model;
}

/** The answer the toy model gives a prompt alone, greedy, as text. */
export function aloneAnswer(prompt: number[], maxTokens: number): string {
  const tokens = [...prompt];
  let text = '';
  for (let i = 0; i < maxTokens; i++) {
    const token = nextToken(tokens);
    if (token === STOP) break;
    text += String.fromCharCode(97 + token);
    tokens.push(token);
  }
  return text;
}
