/**
 * The baselines of `npm run bench`: the same engines with nothing around them. No store,
 * no page, no worker, no recovery: a loop that calls the simulated engine one item after
 * another, and a client that keeps N chat requests in flight against a server and reads
 * each streamed answer to its end. The app's figures are divided by these. The page
 * also times the pure parsers at 100,000 items (parsers.ts).
 */
import { requestFor } from '$lib/presets';
import type { ItemInput, JobSettings } from '$lib/shared/job';
import { SimulatedEngine } from '$lib/worker/engine/simulated';
import { parsers } from './parsers';

export interface BareRun {
  items: number;
  /** Items per second from the first item's end to the last's. */
  itemsPerSecond: number;
  /** Mean time per item (ms). */
  msPerItem: number;
}

function rate(ends: number[]): BareRun {
  const first = ends[0] ?? 0;
  const last = ends.at(-1) ?? 0;
  const seconds = (last - first) / 1000;
  const itemsPerSecond = seconds > 0 ? (ends.length - 1) / seconds : 0;
  return { items: ends.length, itemsPerSecond, msPerItem: 1000 / itemsPerSecond };
}

/** The simulated engine, item after item, as the runner calls it. */
async function simulated(
  settings: JobSettings,
  inputs: ItemInput[],
  options: { tokenDelayMs: number; itemDelayMs: number; gpuPassPerItem: boolean }
): Promise<BareRun> {
  const engine = new SimulatedEngine({
    tokenDelayMs: options.tokenDelayMs,
    itemDelayMs: options.itemDelayMs,
    gpuPassPerItem: options.gpuPassPerItem,
    simMemoryMB: null,
    hangAtItem: null
  });
  await engine.load(
    {
      modelId: 'bench',
      contextWindow: 4096,
      weightsBytes: 0,
      activationBytes: 0,
      kvBytes: 0,
      totalBytes: 0,
      // One item after another, as the baseline is: one sequence.
      sequences: 1
    },
    () => undefined
  );
  const signal = new AbortController().signal;
  const ends: number[] = [];
  for (const input of inputs) {
    const request = requestFor(settings, [input]);
    await engine.generate(request, () => undefined, signal, { index: input.index, attempt: 1 });
    ends.push(performance.now());
  }
  await engine.unload();
  return rate(ends);
}

/** N streamed chat requests in flight, each read to its end; `baseUrl` ends in /v1 as the app takes it. */
async function server(
  baseUrl: string,
  model: string,
  settings: JobSettings,
  inputs: ItemInput[],
  inFlight: number
): Promise<BareRun> {
  const ends: number[] = [];
  let next = 0;
  async function lane() {
    while (next < inputs.length) {
      const input = inputs[next++]!;
      const request = requestFor(settings, [input]);
      const response = await fetch(`${baseUrl}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model,
          messages: request.messages,
          max_tokens: request.max_tokens,
          temperature: request.temperature,
          stream: true,
          stream_options: { include_usage: true }
        })
      });
      const body = await response.text();
      if (!response.ok || !body.includes('data: [DONE]'))
        throw new Error(`The server answered ${response.status}: ${body.slice(0, 200)}`);
      ends.push(performance.now());
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane));
  return rate(ends);
}

(window as unknown as { bare: unknown }).bare = { simulated, server, parsers };
