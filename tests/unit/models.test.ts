/**
 * The Models page's pure logic: the model source, the mirror check, the manifest and
 * the download figures. The downloader is tested in models/downloader.test.ts.
 */
import { describe, expect, it } from 'vitest';
import * as webllm from '@mlc-ai/web-llm';
import { MODELS } from '$lib/plan/catalog';
import { describeProgress, downloadProgress, RateMeter } from '$lib/models/progress';
import {
  checkMirror,
  describeModelSource,
  MODEL_LIB_FILES,
  MODEL_LIB_VERSION,
  mirrorOrigin,
  modelUrls,
  OFFICIAL_LIB_PREFIX,
  parseMirrorUrl,
  withModelSource
} from '$lib/models/source';
import {
  cleanModelUrl,
  isKeyOfModel,
  parseTensorCacheManifest,
  tokenizerFileOf
} from '$lib/models/webllm-cache';
import { fakeMirrorFiles } from '../e2e/fake-mirror';
import { MIRROR, MODEL, mirrorFetch } from './models/mirror-fetch';

const QWEN = MODELS.map((model) => model.id);

describe('model source', () => {
  it('knows every catalog model, with the URLs of WebLLM 0.2.86 prebuilt records', () => {
    expect(Object.keys(MODEL_LIB_FILES).sort()).toEqual([...QWEN].sort());
    expect(MODEL_LIB_VERSION).toBe(webllm.modelVersion);
    expect(OFFICIAL_LIB_PREFIX).toBe(webllm.modelLibURLPrefix);
    for (const id of QWEN) {
      const record = webllm.prebuiltAppConfig.model_list.find((r) => r.model_id === id);
      expect(record, id).toBeDefined();
      const urls = modelUrls(id, null);
      expect(urls.model).toBe(record?.model);
      expect(urls.modelLib).toBe(record?.model_lib);
      // No manifest: config and tensor-cache.json sit at the model URL.
      expect(record?.model_manifest).toBeUndefined();
    }
  });

  it('maps a mirror onto <base>/<model_id>/resolve/main/ and <base>/libs/<version>/', () => {
    const urls = modelUrls(MODEL, MIRROR);
    expect(urls.model).toBe(`${MIRROR}${MODEL}`);
    expect(urls.modelUrl).toBe(`${MIRROR}${MODEL}/resolve/main/`);
    expect(urls.modelLib).toBe(
      `${MIRROR}libs/v0_2_86/base/Qwen2-0.5B-Instruct-q4f16_1_cs1k-webgpu.wasm`
    );
  });

  it('builds an app config whose catalog records point at the mirror, others untouched', () => {
    const config = withModelSource(webllm.prebuiltAppConfig, MIRROR);
    const record = config.model_list.find((r) => r.model_id === MODEL);
    expect(record?.model).toBe(`${MIRROR}${MODEL}`);
    expect(record?.overrides).toEqual({ context_window_size: 4096 });
    expect(config.cacheBackend).toBe('cache');
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
    expect(mirror.log).toContain(`HEAD /libs/v0_2_86/base/${MODEL_LIB_FILES[MODEL] ?? ''}`);
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
    expect(check.message).toContain(`${MIRROR}libs/v0_2_86/base/`);
  });
});

describe('tensor-cache manifest', () => {
  const base = `${MIRROR}${MODEL}/resolve/main/`;
  it('lists the shards with their sizes', () => {
    const json = { records: [{ dataPath: 'params_shard_0.bin', nbytes: 10, records: [] }] };
    expect(parseTensorCacheManifest(json, base)).toEqual([
      { dataPath: 'params_shard_0.bin', nbytes: 10 }
    ]);
  });
  it('refuses what would cost a wrong download', () => {
    expect(() => parseTensorCacheManifest({}, base)).toThrow(/lists no weight shards/);
    expect(() => parseTensorCacheManifest({ records: [{ nbytes: 1 }] }, base)).toThrow(
      /shard 1 has no "dataPath"/
    );
    expect(() => parseTensorCacheManifest({ records: [{ dataPath: 'a.bin' }] }, base)).toThrow(
      /a.bin has no valid "nbytes"/
    );
    expect(() =>
      parseTensorCacheManifest({ records: [{ dataPath: 'https://evil.test/a', nbytes: 1 }] }, base)
    ).toThrow(/outside the model's folder/);
    expect(() =>
      parseTensorCacheManifest({ records: [{ dataPath: '../../x.bin', nbytes: 1 }] }, base)
    ).toThrow(/outside the model's folder/);
    const twice = { dataPath: 'a.bin', nbytes: 1 };
    expect(() => parseTensorCacheManifest({ records: [twice, twice] }, base)).toThrow(
      /listed twice/
    );
  });
  it('picks the tokenizer WebLLM reads', () => {
    expect(tokenizerFileOf({ tokenizer_files: ['vocab.json', 'tokenizer.json'] })).toBe(
      'tokenizer.json'
    );
    expect(tokenizerFileOf({ tokenizer_files: ['tokenizer.model'] })).toBe('tokenizer.model');
    expect(tokenizerFileOf({ tokenizer_files: ['vocab.json'] })).toBeNull();
    expect(tokenizerFileOf({})).toBeNull();
  });
  it("tells a model's cache keys from any source", () => {
    const lib = MODEL_LIB_FILES[MODEL] ?? '';
    expect(isKeyOfModel(`https://a.test/mlc-ai/${MODEL}/resolve/main/x.bin`, MODEL, lib)).toBe(
      true
    );
    expect(isKeyOfModel(`https://b.test/libs/v0_2_86/base/${lib}`, MODEL, lib)).toBe(true);
    expect(
      isKeyOfModel(
        `https://a.test/mlc-ai/${MODEL.replace('0.5B', '1.5B')}/resolve/main/x`,
        MODEL,
        lib
      )
    ).toBe(false);
  });
});

describe('download progress', () => {
  it('measures speed over a sliding window', () => {
    const meter = new RateMeter(4000, 1000);
    meter.add(0, 0);
    expect(meter.rate(500)).toBeNull();
    meter.add(1_000_000, 1000);
    expect(meter.rate(1000)).toBe(1_000_000);
    meter.add(1_000_000, 2000);
    expect(meter.rate(2000)).toBe(1_000_000);
    // A stall: no bytes for a while, the speed falls.
    expect(meter.rate(6000)).toBeLessThan(1_000_000);
    expect(meter.rate(30_000)).toBe(0);
  });

  it('gives MB, share, speed and time left', () => {
    const MIB = 1024 * 1024;
    const p = downloadProgress({
      loadedBytes: 25 * MIB,
      totalBytes: 100 * MIB,
      bytesPerSecond: 5 * MIB,
      shardsDone: 1,
      shardsTotal: 4
    });
    expect(p).toEqual({
      loadedMB: 25,
      totalMB: 100,
      fraction: 0.25,
      mbPerSecond: 5,
      etaSeconds: 15,
      shardsDone: 1,
      shardsTotal: 4
    });
    expect(describeProgress(p)).toBe(
      '25.0 of 100 MiB (25%) · 5.0 MiB/s · about 15 s left · 1 of 4 shards'
    );
    const unknown = downloadProgress({
      loadedBytes: 0,
      totalBytes: 10,
      bytesPerSecond: null,
      shardsDone: 0,
      shardsTotal: 1
    });
    expect(unknown.etaSeconds).toBeNull();
    expect(describeProgress(unknown)).toContain('measuring speed · time left unknown');
    expect(
      downloadProgress({
        loadedBytes: 10,
        totalBytes: 10,
        bytesPerSecond: 0,
        shardsDone: 1,
        shardsTotal: 1
      }).etaSeconds
    ).toBe(0);
    expect(describeProgress({ ...p, etaSeconds: 3725 })).toContain('about 1 h 02 min left');
  });
});
