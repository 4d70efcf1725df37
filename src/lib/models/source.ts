/**
 * The model source: WebLLM's official hosts (weights on huggingface.co,
 * compiled model libraries on raw.githubusercontent.com) or one self-hosted
 * mirror, for networks that cannot reach them.
 *
 * Mirror layout, below one base URL (https; http only for localhost / 127.0.0.1):
 *
 *   <base>/<model_id>/resolve/main/mlc-chat-config.json
 *   <base>/<model_id>/resolve/main/ndarray-cache.json   (or tensor-cache.json, the same file by its newer name)
 *   <base>/<model_id>/resolve/main/tokenizer.json
 *   <base>/<model_id>/resolve/main/params_shard_<n>.bin   (every shard the manifest lists)
 *   <base>/libs/v0_2_48/<model library>.wasm
 *
 * `<base>/<model_id>/resolve/main/` is a copy of the Hugging Face repo
 * mlc-ai/<model_id> (WebLLM adds "resolve/main/" to every model URL, see
 * webllm-cache.ts); `<base>/libs/` is a copy of `web-llm-models/` in
 * github.com/mlc-ai/binary-mlc-llm-libs, so a mirror can hold the libraries of
 * several WebLLM versions side by side. A mirror must allow this site to read
 * its files (Access-Control-Allow-Origin).
 *
 * Both the downloader (page) and WebLLMEngine (worker) take their URLs from
 * here, so they name the same cache entries. Nothing here imports WebLLM: its
 * 6 MB stay in the worker (the unit tests check these tables against it).
 */
import type { AppConfig, ModelRecord } from '@mlc-ai/web-llm';
import { CHAT_CONFIG_FILE, cleanModelUrl, tokenizerFileOf } from './webllm-cache';

/** The WebLLM the app ships and the tests run (package.json pins it; a unit test checks). */
export const WEBLLM_VERSION = '0.2.79';
/** WebLLM 0.2.79 `modelVersion`: the folder of the model libraries it can run. */
export const MODEL_LIB_VERSION = 'v0_2_48';
/** WebLLM 0.2.79 `modelLibURLPrefix`. */
export const OFFICIAL_LIB_PREFIX =
  'https://raw.githubusercontent.com/mlc-ai/binary-mlc-llm-libs/main/web-llm-models/';
const OFFICIAL_MODEL_PREFIX = 'https://huggingface.co/mlc-ai/';

/**
 * Each catalog model's library file in WebLLM 0.2.79's `prebuiltAppConfig`.
 * Qwen2.5 runs on the Qwen2 libraries except at 3B, which has its own.
 */
export const MODEL_LIB_FILES: Readonly<Record<string, string>> = {
  'Qwen2.5-7B-Instruct-q4f16_1-MLC': 'Qwen2-7B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-7B-Instruct-q4f32_1-MLC': 'Qwen2-7B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-3B-Instruct-q4f16_1-MLC': 'Qwen2.5-3B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-3B-Instruct-q4f32_1-MLC': 'Qwen2.5-3B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-1.5B-Instruct-q4f16_1-MLC': 'Qwen2-1.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-1.5B-Instruct-q4f32_1-MLC': 'Qwen2-1.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-0.5B-Instruct-q4f16_1-MLC': 'Qwen2-0.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm',
  'Qwen2.5-0.5B-Instruct-q4f32_1-MLC': 'Qwen2-0.5B-Instruct-q4f32_1-ctx4k_cs1k-webgpu.wasm'
};

/** Where one model's files come from: WebLLM's record fields `model` and `model_lib`. */
export interface ModelUrls {
  /** As WebLLM's record has it; `modelUrl` is the folder WebLLM resolves files against. */
  model: string;
  modelUrl: string;
  modelLib: string;
  libFile: string;
}

export function modelUrls(modelId: string, mirror: string | null): ModelUrls {
  const libFile = MODEL_LIB_FILES[modelId];
  if (!libFile) throw new Error(`No model library is known for ${modelId}.`);
  const model = mirror ? new URL(modelId, mirror).href : OFFICIAL_MODEL_PREFIX + modelId;
  const modelLib = mirror
    ? new URL(`libs/${MODEL_LIB_VERSION}/${libFile}`, mirror).href
    : `${OFFICIAL_LIB_PREFIX}${MODEL_LIB_VERSION}/${libFile}`;
  return { model, modelUrl: cleanModelUrl(model), modelLib, libFile };
}

/**
 * WebLLM's app config with the catalog models pointing at the source. The
 * official source is WebLLM's own config, untouched.
 */
export function withModelSource(base: AppConfig, mirror: string | null): AppConfig {
  if (!mirror) return base;
  const model_list = base.model_list.map((record): ModelRecord => {
    if (!MODEL_LIB_FILES[record.model_id]) return record;
    const urls = modelUrls(record.model_id, mirror);
    return { ...record, model: urls.model, model_lib: urls.modelLib };
  });
  // The downloader writes Cache API entries; the engine must read the same backend.
  return { ...base, useIndexedDBCache: false, model_list };
}

export type MirrorUrl = { ok: true; base: string } | { ok: false; message: string };

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Checks the form of a mirror's base URL and normalizes it (one trailing "/").
 * The browser refuses http from an https page, and sends nothing secret to a
 * mirror, but model files over plain http could be altered on the way: so
 * http only for this machine.
 */
export function parseMirrorUrl(text: string): MirrorUrl {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, message: 'Enter the base URL of the mirror.' };
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return {
      ok: false,
      message: `"${trimmed}" is not a URL. Write it in full, like https://models.example.org/mlc/.`
    };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, message: `The mirror must be an https:// URL, not ${url.protocol}//.` };
  }
  if (url.protocol === 'http:' && !LOCAL_HOSTS.has(url.hostname)) {
    return {
      ok: false,
      message: `The mirror must use https://; http:// is allowed only for localhost and 127.0.0.1 (not ${url.hostname}).`
    };
  }
  if (url.username || url.password) {
    return { ok: false, message: 'The mirror URL must not contain a user name or password.' };
  }
  if (url.search || url.hash) {
    return { ok: false, message: 'The mirror URL must not have a query (?…) or a fragment (#…).' };
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return { ok: true, base: url.href };
}

/** The source in a few words, for the job page and the Models page. */
export function describeModelSource(mirror: string | null): string {
  return mirror ? `mirror ${mirror}` : 'huggingface.co (official)';
}

/**
 * The origins the model source needs to be reached at, for the
 * Content-Security-Policy's connect-src. Hugging Face answers /resolve/ with a
 * redirect to its CDNs (cdn-lfs*.huggingface.co, cas-bridge.xethub.hf.co), and
 * connect-src applies to every hop of a redirect.
 */
/** The origin of a mirror base URL (for the CSP's connect-src), or null. */
export function mirrorOrigin(base: string | null): string | null {
  if (!base) return null;
  try {
    return new URL(base).origin;
  } catch {
    return null;
  }
}

/** What the check found for one model on the mirror. */
interface MirrorModelCheck {
  modelId: string;
  /** null: found and readable; else what went wrong. */
  configProblem: string | null;
  libProblem: string | null;
}

export interface MirrorCheck {
  ok: boolean;
  message: string;
  models: MirrorModelCheck[];
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

function statusText(response: Response): string {
  return `${response.status}${response.statusText ? ' ' + response.statusText : ''}`;
}

async function checkConfig(url: string, doFetch: Fetch): Promise<string | null> {
  let response: Response;
  try {
    response = await doFetch(url, { cache: 'no-store' });
  } catch (error) {
    return `could not be reached (${error instanceof Error ? error.message : String(error)})`;
  }
  if (!response.ok) return `answered ${statusText(response)} for ${url}`;
  let json: unknown;
  try {
    json = await response.json();
  } catch {
    return `${url} is not JSON`;
  }
  if (!tokenizerFileOf(json)) {
    return `${url} is not an MLC chat config WebLLM can use (its "tokenizer_files" names neither tokenizer.json nor tokenizer.model)`;
  }
  return null;
}

async function checkLib(url: string, doFetch: Fetch): Promise<string | null> {
  try {
    const response = await doFetch(url, { method: 'HEAD', cache: 'no-store' });
    // A server that does not do HEAD is not a missing file.
    if (response.ok || response.status === 405 || response.status === 501) return null;
    return `answered ${statusText(response)} for ${url}`;
  } catch (error) {
    return `could not be reached (${error instanceof Error ? error.message : String(error)})`;
  }
}

/**
 * Asks the mirror for each model's mlc-chat-config.json (and, where found,
 * its library): a mirror is usable when it holds at least one model whole.
 * Says what failed in words a person setting up a mirror can act on.
 */
export async function checkMirror(
  base: string,
  modelIds: string[],
  doFetch: Fetch = (input, init) => fetch(input, init)
): Promise<MirrorCheck> {
  const models = await Promise.all(
    modelIds.map(async (modelId): Promise<MirrorModelCheck> => {
      const urls = modelUrls(modelId, base);
      const configProblem = await checkConfig(
        new URL(CHAT_CONFIG_FILE, urls.modelUrl).href,
        doFetch
      );
      const libProblem = configProblem ? null : await checkLib(urls.modelLib, doFetch);
      return { modelId, configProblem, libProblem };
    })
  );
  const whole = models.filter((m) => !m.configProblem && !m.libProblem);
  const origin = new URL(base).origin;
  if (whole.length) {
    const list = whole.map((m) => m.modelId).join(', ');
    return {
      ok: true,
      models,
      message:
        whole.length === models.length
          ? `The mirror holds all ${models.length} models.`
          : `The mirror holds ${whole.length} of ${models.length} models: ${list}.`
    };
  }
  const first = models[0];
  const libMissing = models.find((m) => !m.configProblem && m.libProblem);
  const unreachable = models.every((m) => m.configProblem?.startsWith('could not be reached'));
  let message: string;
  if (!first) {
    message = 'There is no model to check.';
  } else if (libMissing) {
    message = `The mirror has the models' configs but not their libraries: ${origin} ${libMissing.libProblem}. It should hold them at ${base}libs/${MODEL_LIB_VERSION}/.`;
  } else if (unreachable) {
    message = `${origin} ${first.configProblem}. Check that the mirror is running and that it lets this site read its files (it must send Access-Control-Allow-Origin).`;
  } else {
    message = `The mirror has no usable model: ${origin} ${first.configProblem}. It should hold each model's files at ${base}<model id>/resolve/main/.`;
  }
  return { ok: false, models, message };
}
