/** What the real-runtime tests read and write: prompt files, the export, the job's store. */
import type { Page, Worker } from '@playwright/test';

/**
 * An OpenAI batch input file: one user message per line, greedy, a few tokens each; `each`
 * adds fields to one line's body (its own max_tokens, say).
 */
export function chatFile(
  name: string,
  prompts: string[],
  body: Record<string, unknown> = {},
  each: Record<string, unknown>[] = []
) {
  const lines = prompts.map((content, i) =>
    JSON.stringify({
      custom_id: `q-${i + 1}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { messages: [{ role: 'user', content }], temperature: 0, ...body, ...each[i] }
    })
  );
  return { name, mimeType: 'application/jsonl', buffer: Buffer.from(lines.join('\n') + '\n') };
}

export interface OutputLine {
  custom_id: string;
  response: {
    status_code: number;
    body: {
      model: string;
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } & Record<
        string,
        unknown
      >;
    };
  };
}

export function outputLines(jsonl: string): OutputLine[] {
  return jsonl
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as OutputLine);
}

export function runLog(page: Page) {
  return page.getByTestId('run-log');
}

/**
 * Starts the job and records the size of every GPU buffer the runner worker creates (WebLLM's
 * runtime calls GPUDevice.createBuffer for each tensor it allocates), and which it destroys. The page makes its runner
 * worker at Start; the hook is in place within milliseconds, long before the runtime allocates
 * anything (it first reads the library, the config and the weights from the cache).
 */
export async function startRecordingBuffers(
  page: Page,
  start: () => Promise<void>
): Promise<{ sizes(): Promise<number[]>; live(): Promise<number[]> }> {
  const isRunner = (worker: Worker) => /runner/.test(worker.url());
  let worker = page.workers().find(isRunner);
  const existed = worker !== undefined;
  if (!worker) {
    const created = page.waitForEvent('worker', isRunner);
    await start();
    worker = await created;
  }
  await worker.evaluate(() => {
    const scope = globalThis as unknown as {
      __buffers?: Map<GPUBuffer, number>;
      __sizes?: number[];
    };
    if (scope.__buffers) return;
    const buffers = (scope.__buffers = new Map<GPUBuffer, number>());
    const sizes: number[] = (scope.__sizes = []);
    const create = GPUDevice.prototype.createBuffer;
    GPUDevice.prototype.createBuffer = function (descriptor) {
      const buffer = create.call(this, descriptor);
      sizes.push(descriptor.size);
      buffers.set(buffer, descriptor.size);
      return buffer;
    };
    const destroy = GPUBuffer.prototype.destroy;
    GPUBuffer.prototype.destroy = function () {
      buffers.delete(this);
      return destroy.call(this);
    };
  });
  if (existed) await start();
  const recorded = worker;
  return {
    /** Every buffer made, in order. */
    sizes: () =>
      recorded.evaluate(() => [...((globalThis as { __sizes?: number[] }).__sizes ?? [])]),
    /** The buffers made and not destroyed. */
    live: () =>
      recorded.evaluate(() => [
        ...((globalThis as { __buffers?: Map<GPUBuffer, number> }).__buffers?.values() ?? [])
      ])
  };
}
