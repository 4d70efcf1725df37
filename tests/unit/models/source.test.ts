/**
 * The model source (official or a mirror) and the mirror check. The manifest, the download
 * figures and the downloader have test files of their own beside this one.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as webllm from '@mlc-ai/web-llm';
import { MODELS } from '$lib/plan/catalog';
import {
  checkMirror,
  describeModelSource,
  MODEL_LIB_FILES,
  MODEL_LIB_VERSION,
  WEBLLM_VERSION,
  mirrorOrigin,
  modelUrls,
  OFFICIAL_LIB_PREFIX,
  parseMirrorUrl,
  withModelSource
} from '$lib/models/source';
import { cleanModelUrl } from '$lib/models/webllm-cache';
import { fakeMirrorFiles } from '../../e2e/fake-mirror';
import { MIRROR, MODEL, mirrorFetch } from './mirror-fetch';

const QWEN = MODELS.map((model) => model.id);

describe('model source', () => {
  it('knows every catalog model, with the URLs of WebLLM 0.2.79 prebuilt records', () => {
    // The version the app ships is the one installed here, pinned exactly.
    const read = (path: string) => JSON.parse(readFileSync(path, 'utf8'));
    expect(read('node_modules/@mlc-ai/web-llm/package.json').version).toBe(WEBLLM_VERSION);
    expect(read('package.json').dependencies['@mlc-ai/web-llm']).toBe(WEBLLM_VERSION);
    expect(Object.keys(MODEL_LIB_FILES).sort()).toEqual([...QWEN].sort());
    expect(MODEL_LIB_VERSION).toBe(webllm.modelVersion);
    expect(OFFICIAL_LIB_PREFIX).toBe(webllm.modelLibURLPrefix);
    for (const id of QWEN) {
      const record = webllm.prebuiltAppConfig.model_list.find((r) => r.model_id === id);
      expect(record, id).toBeDefined();
      const urls = modelUrls(id, null);
      expect(urls.model).toBe(record?.model);
      expect(urls.modelLib).toBe(record?.model_lib);
      // No package manifest (0.2.80+ records may name one): config and ndarray-cache.json sit at
      // the model URL.
      expect(Object.keys(record ?? {})).not.toContain('model_manifest');
    }
  });

  it('maps a mirror onto <base>/<model_id>/resolve/main/ and <base>/libs/<version>/', () => {
    const urls = modelUrls(MODEL, MIRROR);
    expect(urls.model).toBe(`${MIRROR}${MODEL}`);
    expect(urls.modelUrl).toBe(`${MIRROR}${MODEL}/resolve/main/`);
    expect(urls.modelLib).toBe(
      `${MIRROR}libs/v0_2_48/Qwen2-0.5B-Instruct-q4f16_1-ctx4k_cs1k-webgpu.wasm`
    );
  });

  it('builds an app config whose catalog records point at the mirror, others untouched', () => {
    const config = withModelSource(webllm.prebuiltAppConfig, MIRROR);
    const record = config.model_list.find((r) => r.model_id === MODEL);
    expect(record?.model).toBe(`${MIRROR}${MODEL}`);
    expect(record?.overrides).toEqual({ context_window_size: 4096 });
    expect(config.useIndexedDBCache).toBe(false);
    const llama = config.model_list.find((r) => r.model_id.startsWith('Llama-3.2-1B'));
    expect(llama?.model.startsWith('https://huggingface.co/')).toBe(true);
    expect(withModelSource(webllm.prebuiltAppConfig, null)).toBe(webllm.prebuiltAppConfig);
    // The original is not changed.
    expect(
      webllm.prebuiltAppConfig.model_list
        .find((r) => r.model_id === MODEL)
        ?.model.startsWith('https://huggingface.co/')
    ).toBe(true);
  });

  it('cleans model URLs as WebLLM does', () => {
    expect(cleanModelUrl('https://huggingface.co/mlc-ai/X')).toBe(
      'https://huggingface.co/mlc-ai/X/resolve/main/'
    );
    expect(cleanModelUrl('https://huggingface.co/mlc-ai/X/')).toBe(
      'https://huggingface.co/mlc-ai/X/resolve/main/'
    );
    expect(cleanModelUrl('https://h/m/X/resolve/v2/')).toBe('https://h/m/X/resolve/v2/');
  });

  it('validates a mirror URL and says what is wrong', () => {
    expect(parseMirrorUrl(' https://mirror.lan/mlc ')).toEqual({
      ok: true,
      base: 'https://mirror.lan/mlc/'
    });
    expect(parseMirrorUrl('http://127.0.0.1:4340')).toEqual({
      ok: true,
      base: 'http://127.0.0.1:4340/'
    });
    expect(parseMirrorUrl('http://localhost:8080/m/')).toMatchObject({ ok: true });
    const bad = (text: string) => {
      const result = parseMirrorUrl(text);
      return result.ok ? '' : result.message;
    };
    expect(bad('')).toMatch(/Enter the base URL/);
    expect(bad('mirror.lan')).toMatch(/is not a URL/);
    expect(bad('ftp://mirror.lan/')).toMatch(/must be an https:\/\/ URL/);
    expect(bad('http://mirror.lan/')).toMatch(/http:\/\/ is allowed only for localhost/);
    expect(bad('https://u:p@mirror.lan/')).toMatch(/user name or password/);
    expect(bad('https://mirror.lan/?a=1')).toMatch(/query/);
  });

  it("gives a mirror's origin, for connect-src", () => {
    expect(mirrorOrigin('http://127.0.0.1:4340/mlc/')).toBe('http://127.0.0.1:4340');
    expect(mirrorOrigin(null)).toBeNull();
    expect(mirrorOrigin('not a url')).toBeNull();
  });

  it('describes the source for the job page', () => {
    expect(describeModelSource(null)).toBe('huggingface.co (official)');
    expect(describeModelSource(MIRROR)).toBe(`mirror ${MIRROR}`);
  });
});

describe('mirror check', () => {
  it('passes when the mirror holds the models', async () => {
    const mirror = mirrorFetch();
    const check = await checkMirror(MIRROR, QWEN, mirror.fetch);
    expect(check.ok).toBe(true);
    expect(check.message).toBe('The mirror holds all 8 models.');
    expect(mirror.log).toContain(`GET /${MODEL}/resolve/main/mlc-chat-config.json`);
    expect(mirror.log).toContain(`HEAD /libs/v0_2_48/${MODEL_LIB_FILES[MODEL] ?? ''}`);
  });

  it('lists the models a partial mirror holds', async () => {
    const files = fakeMirrorFiles(1, 10);
    for (const path of [...files.keys()]) if (!path.includes('0.5B')) files.delete(path);
    const check = await checkMirror(MIRROR, QWEN, mirrorFetch(files).fetch);
    expect(check.ok).toBe(true);
    expect(check.message).toBe(
      'The mirror holds 2 of 8 models: Qwen2.5-0.5B-Instruct-q4f16_1-MLC, Qwen2.5-0.5B-Instruct-q4f32_1-MLC.'
    );
  });

  it('says when the mirror cannot be reached', async () => {
    const check = await checkMirror('https://elsewhere.test/', QWEN, mirrorFetch().fetch);
    expect(check.ok).toBe(false);
    expect(check.message).toMatch(/^https:\/\/elsewhere\.test could not be reached/);
    expect(check.message).toMatch(/Access-Control-Allow-Origin/);
  });

  it('says when the files are not where the layout puts them', async () => {
    const check = await checkMirror(MIRROR, QWEN, mirrorFetch(new Map()).fetch);
    expect(check.ok).toBe(false);
    expect(check.message).toContain(
      `answered 404 Not Found for ${MIRROR}Qwen2.5-7B-Instruct-q4f16_1-MLC/resolve/main/mlc-chat-config.json`
    );
    expect(check.message).toContain(`${MIRROR}<model id>/resolve/main/`);
  });

  it('says when a config is not JSON, or not an MLC chat config', async () => {
    const files = new Map([
      [`/${QWEN[0]}/resolve/main/mlc-chat-config.json`, new TextEncoder().encode('<html>')]
    ]);
    expect((await checkMirror(MIRROR, [QWEN[0] ?? ''], mirrorFetch(files).fetch)).message).toMatch(
      /is not JSON/
    );
    files.set(`/${QWEN[0]}/resolve/main/mlc-chat-config.json`, new TextEncoder().encode('{}'));
    expect((await checkMirror(MIRROR, [QWEN[0] ?? ''], mirrorFetch(files).fetch)).message).toMatch(
      /not an MLC chat config/
    );
  });

  it('says when the libraries are missing', async () => {
    const files = fakeMirrorFiles(1, 10);
    for (const path of [...files.keys()]) if (path.startsWith('/libs/')) files.delete(path);
    const check = await checkMirror(MIRROR, QWEN, mirrorFetch(files).fetch);
    expect(check.ok).toBe(false);
    expect(check.message).toMatch(/configs but not their libraries/);
    expect(check.message).toContain(`${MIRROR}libs/v0_2_48/`);
  });
});
