/** A request for the step loop's tests: greedy, these prompt ids, and what it streams, kept. */
import type { LoopRequest } from '$lib/worker/engine/loop/sequence';

export function loopRequest(
  promptIds: number[],
  maxTokens: number,
  extra: Partial<LoopRequest> = {}
) {
  const streamed: string[] = [];
  const req: LoopRequest = {
    request: { messages: [], temperature: 0, top_p: 1, max_tokens: maxTokens, seed: 1 },
    promptIds,
    maxTokens,
    seed: 1,
    temperature: 0,
    topP: 1,
    onText: (delta) => streamed.push(delta),
    ...extra
  };
  return { req, streamed };
}
