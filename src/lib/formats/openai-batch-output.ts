/**
 * OpenAI batch output JSONL, written: one line per finished item, in input order, in the
 * shape the OpenAI Batch API (and vLLM's run_batch) writes. Key order is fixed so output is
 * byte-stable. The same files are read back by `openai-batch-output-read.ts`.
 */
import { exporter, lines } from './writer';
import type { ExportItem, ExportResult, Exporter } from './types';

function line(jobId: string, input: ExportItem, result: ExportResult): string {
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
                total_tokens: usage.total_tokens,
                ...(usage.prompt_tokens_details
                  ? {
                      prompt_tokens_details: {
                        cached_tokens: usage.prompt_tokens_details.cached_tokens
                      }
                    }
                  : {})
              }
      }
    },
    error: null
  });
}

export const openaiBatchOutput: Exporter = exporter(
  {
    id: 'openai-batch-output',
    label: 'OpenAI batch output',
    mimeType: 'application/jsonl',
    extension: 'jsonl'
  },
  (job) => lines((input, result) => line(job.id, input, result))
);
