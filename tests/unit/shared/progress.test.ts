import { describe, expect, it } from 'vitest';
import type { JobProgress } from '$lib/shared/job';
import { initialProgress } from '$lib/store/jobs';
import {
  allHandled,
  isHandled,
  markHandled,
  nextUnhandled,
  progressAfter,
  queueAgain
} from '$lib/shared/progress';
import type { ItemResult } from '$lib/shared/job';

const start: JobProgress = initialProgress(0);

function handled(indices: number[]): JobProgress {
  return indices.reduce((p, i) => markHandled(p, i), start);
}

describe('progress: a cursor and the ranges handled above it', () => {
  it('finishing in order moves the cursor', () => {
    expect(handled([0, 1, 2])).toMatchObject({ cursor: 3, ahead: [] });
  });

  it('out of order: ranges above the cursor, merged, absorbed when the gap closes', () => {
    const p = handled([2, 5, 3, 6, 9]);
    expect(p).toMatchObject({
      cursor: 0,
      ahead: [
        [2, 4],
        [5, 7],
        [9, 10]
      ]
    });
    expect(markHandled(markHandled(p, 4), 0)).toMatchObject({
      cursor: 1,
      ahead: [
        [2, 7],
        [9, 10]
      ]
    });
    expect(markHandled(markHandled(markHandled(p, 4), 0), 1)).toMatchObject({
      cursor: 7,
      ahead: [[9, 10]]
    });
  });

  it('marking an item twice changes nothing', () => {
    const p = handled([4, 4, 5]);
    expect(p.ahead).toEqual([[4, 6]]);
    expect(markHandled(handled([0]), 0)).toMatchObject({ cursor: 1, ahead: [] });
  });

  it('finds the next item to run, past the handled and the busy ones', () => {
    const p = handled([1, 2, 5]);
    expect(nextUnhandled(p, 10, 0, new Set())).toBe(0);
    expect(nextUnhandled(p, 10, 1, new Set())).toBe(3);
    expect(nextUnhandled(p, 10, 0, new Set([0, 3, 4]))).toBe(6);
    expect(nextUnhandled(p, 6, 3, new Set([3, 4]))).toBeNull();
    expect(isHandled(p, 2)).toBe(true);
    expect(isHandled(p, 3)).toBe(false);
  });

  it('queued items count as handled for the cursor, and the job is done only when the queue is empty', () => {
    const p = queueAgain(handled([0, 2]), [1]);
    expect(p).toMatchObject({ cursor: 3, retry: [1] });
    expect(allHandled(p, 3)).toBe(false);
    expect(allHandled({ ...p, retry: [] }, 3)).toBe(true);
    expect(allHandled({ ...p, retry: [], suspects: [2] }, 3)).toBe(false);
  });

  it('a suspect queued to run alone (left out of its shared answer) leaves the suspects', () => {
    const p = queueAgain({ ...handled([0]), suspects: [1, 2, 3, 4] }, [2, 4]);
    expect(p).toMatchObject({ suspects: [1, 3], retry: [2, 4] });
  });

  it('1,000 scattered items finished above the cursor stay 1,000 small ranges', () => {
    let p = start;
    for (let i = 0; i < 1000; i++) p = markHandled(p, 10 + i * 97);
    expect(p.ahead).toHaveLength(1000);
    expect(nextUnhandled(p, 100_000, 10, new Set())).toBe(11);
  });

  it('sums the prompt tokens of each result, and those a kept prefix saved (cached_tokens)', () => {
    const result = (index: number, cached: number | null): ItemResult => ({
      index,
      customId: `q-${index + 1}`,
      status: 'done',
      text: 'ok',
      finishReason: 'stop',
      error: null,
      model: 'm',
      usage: {
        prompt_tokens: 120,
        completion_tokens: 3,
        total_tokens: 123,
        ...(cached === null ? {} : { prompt_tokens_details: { cached_tokens: cached } })
      },
      attempts: 1,
      finishedAt: 1
    });
    let p = start;
    [null, 112, 112].forEach((cached, index) => {
      p = progressAfter(p, result(index, cached), null, 10, 20);
    });
    expect(p).toMatchObject({ promptTokens: 360, cachedTokens: 224, completionTokens: 9, done: 3 });
  });
});
