// Jobs to store in the store tests: their records and items.
import type { ItemResult, JobMeta, ParsedItem } from '$lib/shared/job';

export function meta(id: string, total: number): JobMeta {
  return {
    id,
    name: id,
    createdAt: 1,
    sourceFileName: 'in.jsonl',
    format: 'jsonl',
    total,
    settings: { name: id, systemPrompt: '', temperature: 0, top_p: 1, max_tokens: 8, seed: 0 },
    engine: { kind: 'webllm', modelId: null },
    needs: { longestPromptTokens: 10, maxAnswerTokens: 8, exact: false }
  };
}

export function items(n: number): ParsedItem[] {
  return Array.from({ length: n }, (_, i) => ({
    line: i + 1,
    customId: `q-${i + 1}`,
    messages: [{ role: 'user', content: `prompt ${i + 1}` }],
    params: {}
  }));
}

export function failed(index: number): ItemResult {
  return {
    index,
    customId: `q-${index + 1}`,
    status: 'failed',
    text: '',
    finishReason: null,
    usage: null,
    error: { code: 'generation-failed', message: 'no' },
    model: 'm',
    finishedAt: 2,
    attempts: 1
  };
}
