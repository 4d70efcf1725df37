/**
 * A page on WebLLM's real runtime with no app around it (bench/real-batch.spec.ts and
 * tests/real/ load it, tests/real/runtime-page.ts serves it):
 *
 * - `measure`: the step loop's decode speed: the model loaded as the app loads it, one step
 *   loop of 8 sequences over the same short prompts, and decode steps timed at 8, 4, 2 and 1
 *   sequences (after every prompt is in, sequences are cancelled to step down, so each size
 *   decodes the same prompts' continuations). Tokens per second at b sequences = b x steps /
 *   their time.
 * - `chatAnswers`: WebLLM's own `chat.completions`, the path the app no longer takes, for the
 *   tests' proof that the step loop's batch of one gives its answers.
 * - `batchOfOne`: the same requests through WebLLM's `chat.completions` and through the step
 *   loop's batch of one, side by side on one loaded model: their answers and decode speeds.
 */
import {
  MLCEngine,
  prebuiltAppConfig,
  xgrammarModule,
  type ChatCompletionChunk,
  type ChatCompletionRequestStreaming
} from '@mlc-ai/web-llm';
import { withModelSource } from '$lib/models/source';
import { KV_PAGE_TOKENS, sharedPrefixTokens } from '$lib/plan/kv-cache';
import { streamedChatFields, type GenerateRequest } from '$lib/shared/request';
import { LoopGenerator } from '$lib/worker/engine/loop/generator';
import { StepLoop, type StepReport } from '$lib/worker/engine/loop/loop';
import { webllmModel, type Xgrammar } from '$lib/worker/engine/loop/webllm-model';
import type { ChatOptions, RuntimeAnswer, SharedAnswer } from '../tests/real/runtime-page';

export interface RealBatchOptions {
  modelId: string;
  /** A mirror's base URL, or null: WebLLM's official hosts. */
  mirror: string | null;
  /** Decode steps timed at each size. */
  steps: number;
  sizes: number[];
}

export interface RealBatchFigures {
  modelId: string;
  adapter: string;
  loadSeconds: number;
  /** Per size: decode steps timed, their total ms, tokens per second. */
  sizes: { sequences: number; steps: number; ms: number; tokensPerSecond: number }[];
}

const say = (text: string) => console.log(`[bench-real] ${text}`);

export async function measure(options: RealBatchOptions): Promise<RealBatchFigures> {
  const sizes = [...options.sizes].sort((a, b) => b - a);
  const largest = sizes[0] ?? 1;
  const appConfig = withModelSource(prebuiltAppConfig, options.mirror);
  const started = performance.now();
  const engine = new MLCEngine({ appConfig });
  await engine.reload(options.modelId, { context_window_size: KV_PAGE_TOKENS });
  const loadSeconds = (performance.now() - started) / 1000;
  say(`loaded ${options.modelId} in ${loadSeconds.toFixed(1)} s`);
  const adapter = await navigator.gpu.requestAdapter();
  const info = adapter?.info;

  const timed = new Map<number, { steps: number; ms: number }>();
  const controllers = Array.from({ length: largest }, () => new AbortController());
  let live = largest;
  let settle: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (settle = resolve));
  const onStep = (step: StepReport) => {
    if (step.prefilledTokens > 0 || step.decodedRows !== live) return;
    const figure = timed.get(live) ?? { steps: 0, ms: 0 };
    figure.steps++;
    figure.ms += step.ms;
    timed.set(live, figure);
    say(`${live} sequences: step of ${step.ms.toFixed(0)} ms`);
    if (figure.steps < options.steps) return;
    const next = sizes[sizes.indexOf(live) + 1];
    if (next === undefined) {
      controllers.forEach((controller) => controller.abort());
      settle();
      return;
    }
    // Cancelled sequences leave before the next step: it decodes `next` rows.
    controllers.slice(next, live).forEach((controller) => controller.abort());
    live = next;
  };
  const model = webllmModel(engine, options.modelId, {
    sequences: largest,
    window: 1024,
    xgrammar: xgrammarModule.exports as Xgrammar
  });
  const batch = new StepLoop(model, { window: 1024, onStep });
  // Short prompts of two tokens each, long answers: every size decodes the same sequences.
  controllers.forEach((controller, i) => {
    batch
      .generate(
        {
          request: { messages: [], temperature: 0, top_p: 1, max_tokens: 900, seed: 1 },
          promptIds: [9707 + i * 13, 11 + i],
          maxTokens: 900,
          seed: 1,
          temperature: 0,
          topP: 1,
          onText: () => undefined
        },
        controller.signal
      )
      .catch(() => undefined);
  });
  await finished;
  await batch.close();
  await engine.unload();
  return {
    modelId: options.modelId,
    adapter: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' '),
    loadSeconds,
    sizes: sizes.map((sequences) => {
      const figure = timed.get(sequences) ?? { steps: 0, ms: 0 };
      return {
        sequences,
        ...figure,
        tokensPerSecond: figure.ms > 0 ? (sequences * figure.steps * 1000) / figure.ms : 0
      };
    })
  };
}

/** The context WebLLM's chat gets here: room for the tests' prompts and answers. */
const CHAT_WINDOW = 1024;

async function loaded(modelId: string, mirror: string | null): Promise<MLCEngine> {
  const engine = new MLCEngine({ appConfig: withModelSource(prebuiltAppConfig, mirror) });
  await engine.reload(modelId, { context_window_size: CHAT_WINDOW });
  return engine;
}

/**
 * The request as WebLLM 0.2.79 takes it. A schema goes as `response_format: {type:
 * "json_object", schema: "<the schema as a string>"}` (its ResponseFormat type: `schema` is
 * a string and needs type "json_object"); xgrammar then constrains every token to it.
 */
function webllmRequest(request: GenerateRequest): ChatCompletionRequestStreaming {
  return {
    ...streamedChatFields(request),
    ...(request.schema
      ? { response_format: { type: 'json_object', schema: JSON.stringify(request.schema) } }
      : {})
  };
}

/**
 * Each request through WebLLM's own `chat.completions`. Its `completion_tokens` counts decode
 * steps only (the first answer token, sampled at the end of prefill, is counted nowhere:
 * measured), so one is added: every token sampled, as the loop counts them.
 */
async function webllmAnswers(engine: MLCEngine, requests: GenerateRequest[]) {
  const answers: RuntimeAnswer[] = [];
  for (const request of requests) {
    const stream = await engine.chat.completions.create(webllmRequest(request));
    let text = '';
    let finish = 'stop';
    let last: ChatCompletionChunk | null = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      text += choice?.delta?.content ?? '';
      if (choice?.finish_reason) finish = choice.finish_reason;
      last = chunk;
    }
    const usage = last?.usage;
    answers.push({
      text,
      finish,
      prompt: usage?.prompt_tokens ?? 0,
      completion: (usage?.completion_tokens ?? 0) + 1,
      decodeTokensPerSecond: usage?.extra?.decode_tokens_per_s ?? null
    });
    say(`chat.completions: ${JSON.stringify(text)} (${finish})`);
  }
  return answers;
}

/** WebLLM's own `chat.completions` answers to `requests`. */
export async function chatAnswers(options: ChatOptions): Promise<RuntimeAnswer[]> {
  const engine = await loaded(options.modelId, options.mirror);
  try {
    return await webllmAnswers(engine, options.requests);
  } finally {
    await engine.unload();
  }
}

export interface BatchOfOneFigures {
  webllm: RuntimeAnswer[];
  loop: RuntimeAnswer[];
  /** Decode tokens per second over every request, the loop's over WebLLM's (0 when unknown). */
  ratio: number;
}

/** The requests through WebLLM's `chat.completions`, then through the loop's batch of one. */
export async function batchOfOne(options: ChatOptions): Promise<BatchOfOneFigures> {
  const engine = await loaded(options.modelId, options.mirror);
  try {
    const webllm = await webllmAnswers(engine, options.requests);
    // The loop frees WebLLM's chat cache: chat.completions is done with.
    const model = webllmModel(engine, options.modelId, {
      sequences: 1,
      window: CHAT_WINDOW,
      xgrammar: xgrammarModule.exports as Xgrammar
    });
    const generator = new LoopGenerator(model, CHAT_WINDOW);
    const loop: RuntimeAnswer[] = [];
    const signal = new AbortController().signal;
    for (const request of options.requests) {
      const result = await generator.generate(request, () => undefined, signal);
      loop.push({
        text: result.text,
        finish: result.finishReason,
        prompt: result.usage.prompt_tokens,
        completion: result.usage.completion_tokens,
        decodeTokensPerSecond: result.usage.decode_tokens_per_s ?? null
      });
      say(`batch of one: ${JSON.stringify(result.text)} (${result.finishReason})`);
    }
    await generator.close();
    // Decode steps over their time, every request together: WebLLM reports each request's
    // rate, the loop's generator its rate over all its steps so far.
    let steps = 0;
    let seconds = 0;
    for (const answer of webllm) {
      const decoded = answer.completion - 1;
      if (decoded > 0 && answer.decodeTokensPerSecond) {
        steps += decoded;
        seconds += decoded / answer.decodeTokensPerSecond;
      }
    }
    const webllmRate = seconds > 0 ? steps / seconds : 0;
    const loopRate = loop.at(-1)?.decodeTokensPerSecond ?? 0;
    return { webllm, loop, ratio: webllmRate > 0 ? loopRate / webllmRate : 0 };
  } finally {
    await engine.unload();
  }
}

/**
 * The requests through the loop at `sequences` at once, the prefix every prompt begins with
 * (in whole KV pages) a chunk of its own; `share` keeps it in each slot for the next prompt
 * (WebLLM's library's own `kv_state_popn`), else every prompt reads it.
 */
export async function sharedPrefix(
  options: ChatOptions & { sequences: number; share: boolean }
): Promise<{ prefixTokens: number; answers: SharedAnswer[]; seconds: number }> {
  const engine = await loaded(options.modelId, options.mirror);
  try {
    const model = webllmModel(engine, options.modelId, {
      sequences: options.sequences,
      window: CHAT_WINDOW,
      xgrammar: xgrammarModule.exports as Xgrammar
    });
    const prefixTokens = sharedPrefixTokens(options.requests.map((r) => model.promptIds(r)));
    const generator = new LoopGenerator(model, CHAT_WINDOW, {
      tokens: prefixTokens,
      share: options.share
    });
    const signal = new AbortController().signal;
    const started = performance.now();
    const answers = await Promise.all(
      options.requests.map(async (request) => {
        const result = await generator.generate(request, () => undefined, signal);
        say(
          `prefix ${options.share ? 'kept' : 'read'}: ${JSON.stringify(result.text)} (${result.finishReason})`
        );
        return {
          text: result.text,
          finish: result.finishReason,
          prompt: result.usage.prompt_tokens,
          completion: result.usage.completion_tokens,
          decodeTokensPerSecond: result.usage.decode_tokens_per_s ?? null,
          cached: result.usage.prompt_tokens_details?.cached_tokens ?? 0
        };
      })
    );
    const seconds = (performance.now() - started) / 1000;
    await generator.close();
    return { prefixTokens, answers, seconds };
  } finally {
    await engine.unload();
  }
}

Object.assign(globalThis, { realBatch: measure, chatAnswers, batchOfOne, sharedPrefix });
