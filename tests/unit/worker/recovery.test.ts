import { describe, expect, it } from 'vitest';
import { stepDown } from '$lib/plan/memory';
import type { EngineErrorCode } from '$lib/shared/stop';
import {
  MAX_ATTEMPTS,
  NO_LOSSES,
  decideFailure,
  decideLoss,
  itemList,
  poisonError,
  suspectGroup,
  suspectGroupLog,
  suspectsAfterLoss,
  suspectUnit,
  type Loss,
  type Losses
} from '$lib/worker/recovery';

const KEPT = 'Nothing was lost: 3 of 10 results are saved.';
const crash: Loss = {
  code: 'device-lost',
  lostReason: 'unknown',
  message: 'The GPU device was lost (unknown).'
};
const destroyed: Loss = {
  code: 'device-lost',
  lostReason: 'destroyed',
  message: 'The GPU device was lost (destroyed).'
};
const oom: Loss = {
  code: 'out-of-memory',
  lostReason: null,
  message: 'The GPU ran out of memory (allocation failed).'
};

function loss(l: Loss, index: number, window: number | null, losses = NO_LOSSES) {
  return decideLoss({ loss: l, index, window, losses, stepDown: (w) => stepDown(w), kept: KEPT });
}

describe('decideFailure', () => {
  it.each<[EngineErrorCode, 'load' | 'generate', boolean, string]>([
    ['device-lost', 'load', false, 'recover'],
    ['out-of-memory', 'load', true, 'recover'],
    ['device-lost', 'generate', false, 'recover'],
    ['out-of-memory', 'generate', false, 'recover'],
    ['no-webgpu', 'load', false, 'stop'],
    ['no-webgpu', 'load', true, 'gpu-blocked'],
    ['no-webgpu', 'generate', true, 'stop'],
    ['network', 'load', false, 'stop'],
    ['does-not-fit', 'load', false, 'stop'],
    ['load-failed', 'load', false, 'stop'],
    ['cancelled', 'generate', false, 'pause'],
    ['cancelled', 'load', false, 'stop'],
    ['context-exceeded', 'generate', false, 'fail-item'],
    ['generation-failed', 'generate', false, 'fail-item'],
    ['context-exceeded', 'load', false, 'stop'],
    ['load-failed', 'generate', false, 'stop']
  ])('%s while %s (lost before: %s) -> %s', (code, phase, lost, action) => {
    expect(decideFailure(code, phase, lost)).toBe(action);
  });
});

describe('decideLoss', () => {
  it('a crash: the same plan on a new device', () => {
    expect(loss(crash, 4, 4096)).toEqual({
      action: 'restart',
      losses: { index: 4, count: 1 },
      log: 'device lost (unknown) at item 5; engine restarted on a new device'
    });
  });

  it('a crash at the same item again: a smaller window', () => {
    expect(loss(crash, 4, 4096, { index: 4, count: 1 })).toEqual({
      action: 'step-down',
      window: 2048,
      losses: { index: 4, count: 2 },
      log: 'device lost (unknown) at item 5; context 4096 → 2048'
    });
  });

  it('a crash at another item counts from one again', () => {
    expect(loss(crash, 7, 4096, { index: 4, count: 2 })).toMatchObject({
      action: 'restart',
      losses: { index: 7, count: 1 }
    });
  });

  it('memory (destroyed device, or out of memory): a smaller window at once', () => {
    expect(loss(destroyed, 0, 8192)).toEqual({
      action: 'step-down',
      window: 4096,
      losses: { index: 0, count: 1 },
      log: 'device lost (destroyed) at item 1; context 8192 → 4096'
    });
    expect(loss(oom, 2, 2048)).toMatchObject({
      action: 'step-down',
      window: 1024,
      log: 'out of GPU memory at item 3; context 2048 → 1024'
    });
  });

  it('memory at the smallest window: pause, saying what was kept and what to do', () => {
    expect(loss(destroyed, 1, 1024)).toEqual({
      action: 'pause',
      losses: { index: 1, count: 1 },
      log: 'device lost (destroyed) at item 2 with the smallest plan (context 1024); paused',
      error: {
        code: 'device-lost',
        message: `The GPU device was lost (destroyed). This happened at item 2 with the smallest plan (a context of 1024 tokens). ${KEPT} Choose a smaller model, close other tabs and programs that use the GPU, then press Resume.`
      }
    });
  });

  it('crashes at the smallest window keep restarting (the attempts fail the item)', () => {
    expect(loss(crash, 1, 1024, { index: 1, count: 5 })).toMatchObject({
      action: 'restart',
      losses: { index: 1, count: 6 }
    });
  });

  it('memory before any plan: pause', () => {
    expect(loss(oom, 0, null)).toMatchObject({
      action: 'pause',
      error: { code: 'out-of-memory' }
    });
  });
});

describe('poisonError', () => {
  it('names the attempts and the last error, keeping its code', () => {
    expect(
      poisonError({ code: 'device-lost', message: 'The GPU device was lost (unknown).' })
    ).toEqual({
      code: 'device-lost',
      message: `${MAX_ATTEMPTS} attempts did not finish this item; the last one ended with: The GPU device was lost (unknown).`
    });
  });

  it('an item whose attempts all died with the page is "interrupted"', () => {
    expect(poisonError(null)).toEqual({
      code: 'interrupted',
      message: `${MAX_ATTEMPTS} attempts did not finish this item; the last one ended with: The page or the engine stopped while this item was being generated.`
    });
  });
});

describe('decideLoss with several sequences at once', () => {
  const withSequences = (l: Loss, sequences: number, losses: Losses = NO_LOSSES, alone = false) =>
    decideLoss({
      loss: l,
      index: 2,
      window: 4096,
      sequences,
      alone,
      losses,
      stepDown: (w) => stepDown(w),
      kept: KEPT
    });

  it('a memory loss halves the sequences at once before it touches the window', () => {
    expect(withSequences(destroyed, 8)).toEqual({
      action: 'fewer-sequences',
      sequences: 4,
      losses: { index: 2, count: 1 },
      log: 'device lost (destroyed) at item 3; sequences at once 8 → 4'
    });
    expect(withSequences(destroyed, 3)).toMatchObject({ action: 'fewer-sequences', sequences: 1 });
  });

  it('at one sequence, the window steps down as before', () => {
    expect(withSequences(destroyed, 1)).toMatchObject({
      action: 'step-down',
      window: 2048,
      log: 'device lost (destroyed) at item 3; context 4096 → 2048'
    });
  });

  it('a crash restarts with the same plan; the same item lost twice halves the sequences', () => {
    expect(withSequences(crash, 4)).toMatchObject({ action: 'restart' });
    expect(withSequences(crash, 4, { index: 2, count: 1 })).toMatchObject({
      action: 'fewer-sequences',
      sequences: 2
    });
  });

  it('a crash the same item repeats alone is its own: the sequences stay, as at one sequence', () => {
    // Lost twice at item 3, the second time with nothing beside it: a poison item, not the batch.
    expect(withSequences(crash, 4, { index: 2, count: 1 }, true)).toMatchObject({
      action: 'step-down',
      window: 2048,
      log: 'device lost (unknown) at item 3; context 4096 → 2048'
    });
    expect(withSequences(crash, 4, NO_LOSSES, true)).toMatchObject({ action: 'restart' });
    // A memory loss halves them all the same: the cache holds a window for each sequence.
    expect(withSequences(destroyed, 4, NO_LOSSES, true)).toMatchObject({
      action: 'fewer-sequences',
      sequences: 2
    });
  });
});

describe('decideLoss while suspects run', () => {
  it('a crash they repeat changes neither the sequences nor the window; memory still does', () => {
    const suspected = (l: Loss) =>
      decideLoss({
        loss: l,
        index: 2,
        window: 4096,
        sequences: 8,
        suspected: true,
        losses: { index: 2, count: 2 },
        stepDown: (w) => stepDown(w),
        kept: KEPT
      });
    expect(suspected(crash)).toMatchObject({
      action: 'restart',
      losses: { index: 2, count: 3 },
      log: 'device lost (unknown) at item 3; engine restarted on a new device'
    });
    expect(suspected(destroyed)).toMatchObject({ action: 'fewer-sequences', sequences: 4 });
  });
});

describe('suspects: together once, then by halves', () => {
  const units = (group: { indices: number[] }[]) => group.map((unit) => unit.indices);
  const EIGHT = [0, 1, 2, 3, 4, 5, 6, 7];

  it('together: every suspect unit at once, up to the sequences the engine runs', () => {
    expect(units(suspectGroup(EIGHT, 'together', [], 1, 8))).toEqual(EIGHT.map((i) => [i]));
    expect(units(suspectGroup(EIGHT, 'together', [], 1, 4))).toEqual([[0], [1], [2], [3]]);
  });

  it('half: the first half of the units, rounded up, at least one', () => {
    expect(units(suspectGroup(EIGHT, 'half', [], 1, 8))).toEqual([[0], [1], [2], [3]]);
    expect(units(suspectGroup([4, 5, 6], 'half', [], 1, 8))).toEqual([[4], [5]]);
    expect(units(suspectGroup([6], 'half', [], 1, 8))).toEqual([[6]]);
    // Units sharing a prompt are halved whole: two prompts of 4 pairs, the first one.
    expect(suspectGroup([0, 1, 2, 3, 8, 9, 10, 11], 'half', [], 4, 8)).toEqual([
      { indices: [0, 1, 2, 3], shared: true }
    ]);
  });

  const after = (lost: number[], suspectsBefore: number[], attempts = 1, isolated = false) =>
    suspectsAfterLoss({
      lost,
      suspectsBefore,
      isolated,
      retry: [],
      size: 1,
      attempts: () => attempts
    });

  it('the batch lost: all of it suspected, to run again together', () => {
    expect(after(EIGHT, [])).toEqual({ suspects: EIGHT, run: 'together', poison: null });
    // One item alone at 4 sequences at once is suspected too: it runs alone next.
    expect(after([9], [])).toEqual({ suspects: [9], run: 'together', poison: null });
  });

  it('one sequence at a time: nobody is a suspect (the lone item is failed by its attempts)', () => {
    expect(after([9], [], 1, true)).toEqual({ suspects: [], run: 'together', poison: null });
  });

  it('suspects lost: those in flight stay suspected, by halves; the rest go back to the batch', () => {
    expect(after([0, 1, 2, 3], EIGHT)).toEqual({
      suspects: [0, 1, 2, 3],
      run: 'half',
      poison: null
    });
  });

  it('a suspect lost alone is poison once its attempts in all reach MAX_ATTEMPTS', () => {
    expect(after([3], [3, 4], MAX_ATTEMPTS - 1).poison).toBeNull();
    expect(after([3], [3, 4], MAX_ATTEMPTS)).toEqual({ suspects: [3], run: 'half', poison: 3 });
    // Two lost: not yet alone, whatever their attempts.
    expect(after([3, 4], [3, 4, 5], 9).poison).toBeNull();
  });

  it('says which items run and why nothing runs beside them, items numbered from 1', () => {
    expect(suspectGroupLog([{ indices: [0] }, { indices: [1] }], 2, 'together')).toBe(
      'items 1 and 2 run again with nothing beside them: the device was lost while they ran'
    );
    expect(suspectGroupLog([{ indices: [4] }], 3, 'half')).toBe(
      'item 5 (1 of 3 suspects) runs alone, to find the item that loses the device'
    );
    expect(suspectGroupLog([{ indices: [0, 1, 2, 3] }], 8, 'half')).toBe(
      'items 1–4 (4 of 8 suspects) run with nothing beside them, to find the item that loses the device'
    );
    expect(itemList([11, 0, 1, 2, 8, 5, 6])).toBe('1–3, 6, 7, 9 and 12');
  });
});

describe('suspectUnit: what runs after a loss, alone', () => {
  it('one item to a prompt: the first suspect alone', () => {
    expect(suspectUnit([5, 6, 7], [], 1)).toEqual({ indices: [5], shared: false });
  });

  it('a shared prompt runs again as it ran: its suspects together, the next prompt after it', () => {
    // Two prompts of 4 pairs were in flight (0-3 and 8-11), listed unit by unit.
    const suspects = [0, 1, 2, 3, 8, 9, 10, 11];
    expect(suspectUnit(suspects, [], 4)).toEqual({ indices: [0, 1, 2, 3], shared: true });
    expect(suspectUnit(suspects.slice(4), [], 4)).toEqual({
      indices: [8, 9, 10, 11],
      shared: true
    });
  });

  it('a prompt that skipped handled items, and the last short one, stay as they ran', () => {
    expect(suspectUnit([0, 2, 3, 5, 6, 7, 8], [], 4)).toEqual({
      indices: [0, 2, 3, 5],
      shared: true
    });
    expect(suspectUnit([12, 13, 4, 5, 6, 7], [], 4)).toEqual({ indices: [12, 13], shared: true });
  });

  it('an item queued to run alone runs alone, and ends the prompt before it', () => {
    expect(suspectUnit([9, 0, 1], [9], 4)).toEqual({ indices: [9], shared: false });
    expect(suspectUnit([0, 1, 9, 2], [9], 4)).toEqual({ indices: [0, 1], shared: true });
  });
});
