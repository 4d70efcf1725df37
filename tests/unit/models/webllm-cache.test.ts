/** WebLLM's cache layout: the weights manifest and what it lists. */
import { describe, expect, it } from 'vitest';
import { MODEL_LIB_FILES } from '$lib/models/source';
import { isKeyOfModel, parseTensorCacheManifest, tokenizerFileOf } from '$lib/models/webllm-cache';
import { MIRROR, MODEL } from './mirror-fetch';

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
