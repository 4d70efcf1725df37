/** Server-sent event streams as OpenAI-compatible servers send them, for the server engine's tests. */

/** vLLM's stream for `text`: chunks, a finish chunk, a usage chunk, [DONE]; split anywhere. */
export function sse(text: string, cut = 7): string[] {
  const events = [
    ...text.split(' ').map((word, i) => ({
      choices: [{ index: 0, delta: { content: (i ? ' ' : '') + word }, finish_reason: null }]
    })),
    { choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
    { choices: [], usage: { prompt_tokens: 9, completion_tokens: 3, total_tokens: 12 } }
  ];
  const body =
    ': keep-alive\n\n' +
    events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') +
    'data: [DONE]\n\n';
  const pieces: string[] = [];
  for (let i = 0; i < body.length; i += cut) pieces.push(body.slice(i, i + cut));
  return pieces;
}

/**
 * A body that sends `pieces`, then ends; `dropAfter`: fails after that many pieces;
 * `hangAfter`: sends nothing more after that many, ever.
 */
export function sseBody(
  pieces: string[],
  { dropAfter, hangAfter }: { dropAfter?: number; hangAfter?: number } = {}
): ReadableStream<Uint8Array<ArrayBuffer>> {
  const encoder = new TextEncoder();
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (dropAfter !== undefined && i >= dropAfter) {
        controller.error(new TypeError('network error'));
        return;
      }
      if (hangAfter !== undefined && i >= hangAfter) return new Promise<void>(() => {});
      const piece = pieces[i++];
      if (piece === undefined) controller.close();
      else controller.enqueue(encoder.encode(piece));
    }
  });
}
