/**
 * OpenAI batch output JSONL: one line per finished item, in input order, in the shape the
 * OpenAI Batch API (and vLLM's run_batch) writes. Key order is fixed so output is byte-stable.
 */
import type { ItemInput, ItemResult } from '$lib/jobs/types';
import type { ExportInput, Exporter } from '$lib/formats/types';

function line(jobId: string, input: ItemInput, result: ItemResult): string {
  const index = input.index;
  const head = {
    id: `batch_req_${jobId}_${index}`,
    custom_id: input.customId
  };
  const requestId = `${jobId}-${index}`;
  if (result.status === 'failed') {
    return JSON.stringify({
      ...head,
      response: { status_code: 400, request_id: requestId, body: null },
      error: {
        code: result.error?.code ?? 'unknown',
        message: result.error?.message ?? 'The item failed without an error message.'
      }
    });
  }
  const usage = result.usage;
  return JSON.stringify({
    ...head,
    response: {
      status_code: 200,
      request_id: requestId,
      body: {
        id: `chatcmpl-${jobId}-${index}`,
        object: 'chat.completion',
        created: Math.floor(result.finishedAt / 1000),
        model: result.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: result.text },
            logprobs: null,
            finish_reason: result.finishReason
          }
        ],
        // Only the counts: the speed fields are measurements, never exported.
        usage:
          usage === null
            ? null
            : {
                prompt_tokens: usage.prompt_tokens,
                completion_tokens: usage.completion_tokens,
                total_tokens: usage.total_tokens
              }
      }
    },
    error: null
  });
}

export const openaiBatchOutput: Exporter = {
  id: 'openai-batch-output',
  label: 'OpenAI batch output',
  mimeType: 'application/jsonl',
  extension: 'jsonl',
  write({ job, inputs, results }: ExportInput): string {
    let out = '';
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      const result = results[i];
      if (input === undefined || result === undefined) continue;
      out += line(job.id, input, result) + '\n';
    }
    return out;
  }
};
