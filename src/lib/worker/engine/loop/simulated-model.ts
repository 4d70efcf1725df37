/**
 * The step loop's simulated model: a real WebGPU device does a small compute pass for each
 * prefill and each decode step (so a GPU-process kill is a real loss, seen by the same
 * `GPUDevice.lost`), and the logits of a row leave one choice: the next piece of the
 * placeholder answer its request scripts (simulated-text.ts, a pure function of the prompt,
 * the sampling settings and the seed). Sampled greedily or at any temperature, a sequence
 * spells the same text in any batch, so runs are reproducible, and the loop above it (its
 * admission, retirement and recovery with several sequences in flight) is the real one.
 *
 * Its vocabulary is the pieces of the answers it has scripted so far (id 0 is its stop
 * token); its grammars allow every token, since a script is valid for its schema already
 * (or broken on purpose, by `breakEvery`). The fault knobs act on the sequences they name.
 */
import {
  brokenJson,
  jsonCompletion,
  simulatedCompletion,
  simulatedJson,
  simulatedPromptIds,
  type SimulatedCompletion
} from '../simulated-text';
import type { LostInfo } from '../errors';
import type { Grammars, SequenceSource, StepModel } from './model';

export const SIMULATED_MODEL = 'simulated-Qwen2.5-7B-Instruct';

/** What the simulated model is asked to do beyond its answers: the fault knobs and speeds. */
export interface SimulatedKnobs {
  /** A wait in each prefill's last chunk and each decode step, in ms. */
  tokenDelayMs: number;
  /** Hang (no step ends, ever) on the first attempt at this item index, after a few tokens. */
  hangAtItem: number | null;
  /** Each answer starts by quoting the prompt, as a model may: output must show as text. */
  echo?: boolean;
  /** A JSON answer is cut short (not valid JSON) the first time this model answers every Nth item. */
  breakEvery?: number | null;
  /** This item crashes the GPU whenever it runs: every item running with it loses the device. */
  poisonItem?: number | null;
  /** Items whose first attempt stops after one token until a fault ends it (listed n times: n attempts). */
  holdAt?: readonly number[];
  /** A wait before each item's first token, on top of the steps' own (a fixed cost per item). */
  itemDelayMs?: number;
  /** A GPU pass per item (its prefill) and none per decode step (the benchmark's near-free model). */
  gpuPassPerItem?: boolean;
}

/** The device's work: one small compute pass, resolved when the GPU has done it. */
type GpuPass = (salt: number) => Promise<void>;

/** Tokens a hung item gives before it hangs. */
const TOKENS_BEFORE_HANG = 3;
/** The most prompt tokens one prefill reads (the real libraries' chunk). */
const PREFILL_CHUNK = 1024;

/**
 * Attempts held in this worker ("index:attempt"). Models are made again after a lost device,
 * and "Retry failed" counts an item's attempts from 1 again: each is still held once only.
 */
const heldAttempts = new Set<string>();

function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}

/** Resolves when the device is lost or the signal aborts, whichever comes first. */
function untilFault(lost: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- lost never rejects
    void lost.then(() => resolve());
  });
}

interface Slot {
  /** The answer's token ids, the stop token last where the answer stops by itself. */
  script: number[];
  /** Tokens given so far. */
  given: number;
  /** The first attempt of a held item: it waits after its first token. */
  hold: boolean;
  hang: boolean;
  /** The poison item's index, where this is it. */
  poison: number | null;
  signal: AbortSignal | undefined;
}

export interface SimulatedModelOptions extends SimulatedKnobs {
  slots: number;
  /** The device's loss, as `GPUDevice.lost` says it. */
  deviceLost: Promise<LostInfo>;
  gpuPass: GpuPass;
  /** Destroys the device (the poison item's crash). */
  destroyDevice(): void;
}

export function simulatedModel(options: SimulatedModelOptions): StepModel {
  const pieces: string[] = [''];
  const ids = new Map<string, number>([['', 0]]);
  const slots = new Map<number, Slot>();
  /** Items whose answer `breakEvery` has broken once already. */
  const broken = new Set<number>();
  let crash: (info: LostInfo) => void = () => undefined;
  const crashed = new Promise<LostInfo>((resolve) => (crash = resolve));
  const lost = Promise.race([options.deviceLost, crashed]);

  const idOf = (piece: string): number => {
    let id = ids.get(piece);
    if (id === undefined) {
      id = pieces.length;
      pieces.push(piece);
      ids.set(piece, id);
    }
    return id;
  };

  const completion = (source: SequenceSource): SimulatedCompletion => {
    const { request, item } = source;
    if (!request.schema) return simulatedCompletion(request, options.echo === true);
    const json = simulatedJson({ ...request, schema: request.schema });
    const every = options.breakEvery ?? null;
    const breaks =
      every !== null &&
      every > 0 &&
      item !== undefined &&
      (item.index + 1) % every === 0 &&
      !broken.has(item.index);
    if (breaks && item) broken.add(item.index);
    return jsonCompletion(breaks ? brokenJson(json) : json);
  };

  const holds = (source: SequenceSource): boolean => {
    const { item } = source;
    if (!item) return false;
    const listed = (options.holdAt ?? []).filter((index) => index === item.index).length;
    const key = `${item.index}:${item.attempt}`;
    if (item.attempt > listed || heldAttempts.has(key)) return false;
    heldAttempts.add(key);
    return true;
  };

  /** Opens a slot for a sequence: its answer's script, and the knobs that act on it. */
  const openSlot = (slot: number, source: SequenceSource): void => {
    const answer = completion(source);
    const script = answer.tokens.map(idOf);
    if (answer.finishReason === 'stop') script.push(0);
    const { item } = source;
    slots.set(slot, {
      script,
      given: 0,
      hold: holds(source),
      hang: item !== undefined && item.index === options.hangAtItem && item.attempt === 1,
      poison: item !== undefined && item.index === options.poisonItem ? item.index : null,
      signal: source.signal
    });
  };

  /** Each row's logits: its script's next token far above every other. */
  const logitsOf = (rows: readonly number[]): Float32Array => {
    const vocab = pieces.length;
    const out = new Float32Array(rows.length * vocab);
    rows.forEach((slotIndex, r) => {
      const slot = slots.get(slotIndex);
      if (!slot) throw new Error(`The simulated model has no sequence in slot ${slotIndex}.`);
      const token = slot.script[slot.given] ?? 0;
      slot.given++;
      out[r * vocab + token] = 1e4;
    });
    return out;
  };

  const grammars: Grammars = {
    matcher: () =>
      Promise.resolve({
        getNextTokenBitmask: () =>
          Promise.resolve(new Int32Array(Math.ceil(pieces.length / 32)).fill(-1)),
        acceptToken: () => true,
        dispose() {}
      }),
    dispose() {}
  };

  return {
    name: SIMULATED_MODEL,
    slots: options.slots,
    prefillChunk: PREFILL_CHUNK,
    get vocabSize() {
      return pieces.length;
    },
    stopTokens: [0],
    stopStrings: [],
    defaults: { temperature: 0.7, top_p: 0.8, repetition_penalty: 1 },
    lost,
    sampler: {
      newRng: () => ({ setSeed: () => undefined, randomFloat: () => 0.5 }),
      // The logits leave one choice, at any temperature.
      sample: (logits) => {
        let best = 0;
        for (let t = 1; t < logits.length; t++)
          if ((logits[t] ?? 0) > (logits[best] ?? 0)) best = t;
        return best;
      }
    },
    grammars,
    promptIds: simulatedPromptIds,
    detokenize: (tokens) => Array.from(tokens, (id) => pieces[id] ?? '').join(''),
    addSequence(slot, source) {
      openSlot(slot, source);
    },
    removeSequence(slot) {
      slots.delete(slot);
    },
    // Its answers are scripts, so a kept prefix needs only the slot: the GPU pass of the
    // prefix's read is what keeping it saves.
    sharing: {
      trim(slot) {
        if (!slots.has(slot))
          throw new Error(`The simulated model has no sequence in slot ${slot}.`);
      },
      reuse(slot, source) {
        if (!slots.has(slot))
          throw new Error(`The simulated model has no sequence in slot ${slot}.`);
        openSlot(slot, source);
      }
    },
    async prefill(slotIndex, promptIds, wantLogits) {
      const slot = slots.get(slotIndex);
      if (slot && slot.poison !== null) {
        // As a GPU-process crash: the device goes, with every sequence on it.
        crash({ reason: 'unknown', message: `the simulated crash at item ${slot.poison + 1}` });
        options.destroyDevice();
        throw new Error('The simulated model crashed the GPU.');
      }
      await options.gpuPass(promptIds.length);
      if (!wantLogits) return null;
      await sleep((options.itemDelayMs ?? 0) + options.tokenDelayMs);
      return logitsOf([slotIndex]);
    },
    async decode(rows) {
      for (const row of rows) {
        const slot = slots.get(row.slot);
        if (slot?.hold) {
          // The item runs, visibly, until the test's fault (a lost device, Pause) ends it.
          slot.hold = false;
          await untilFault(lost, slot.signal);
        }
        // The hung-engine knob: after a few tokens, no step ends, ever (only terminating the worker ends it).
        if (slot?.hang && slot.given >= Math.min(TOKENS_BEFORE_HANG, slot.script.length - 1))
          await new Promise<never>(() => {});
      }
      if (!options.gpuPassPerItem) await options.gpuPass(rows.length);
      await sleep(options.tokenDelayMs);
      return logitsOf(rows.map((row) => row.slot));
    },
    dispose() {
      slots.clear();
    }
  };
}
