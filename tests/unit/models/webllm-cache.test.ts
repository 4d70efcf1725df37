/** WebLLM's cache layout: the weights manifest and what it lists. */
import { describe, expect, it } from 'vitest';
import { MODEL_LIB_FILES } from '$lib/models/source';
import { isKeyOfModel, parseWeightsManifest, tokenizerFileOf } from '$lib/models/webllm-cache';
import { MIRROR, MODEL } from './mirror-fetch';

describe('weights manifest (ndarray-cache.json)', () => {
  const base = `${MIRROR}${MODEL}/resolve/main/`;
  it('lists the shards with their sizes', () => {
    const json = { records: [{ dataPath: 'params_shard_0.bin', nbytes: 10, records: [] }] };
    expect(parseWeightsManifest(json, base)).toEqual([
      { dataPath: 'params_shard_0.bin', nbytes: 10 }
    ]);
  });
  it('refuses what would cost a wrong download', () => {
    expect(() => parseWeightsManifest({}, base)).toThrow(/lists no weight shards/);
    expect(() => parseWeightsManifest({ records: [{ nbytes: 1 }] }, base)).toThrow(
      /shard 1 has no "dataPath"/
    );
    expect(() => parseWeightsManifest({ records: [{ dataPath: 'a.bin' }] }, base)).toThrow(
      /a.bin has no valid "nbytes"/
    );
    expect(() =>
      parseWeightsManifest({ records: [{ dataPath: 'https://evil.test/a', nbytes: 1 }] }, base)
    ).toThrow(/outside the model's folder/);
    expect(() =>
      parseWeightsManifest({ records: [{ dataPath: '../../x.bin', nbytes: 1 }] }, base)
    ).toThrow(/outside the model's folder/);
    const twice = { dataPath: 'a.bin', nbytes: 1 };
    expect(() => parseWeightsManifest({ records: [twice, twice] }, base)).toThrow(/listed twice/);
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
    expect(isKeyOfModel(`https://b.test/libs/v0_2_48/${lib}`, MODEL, lib)).toBe(true);
    expect(
      isKeyOfModel(
        `https://a.test/mlc-ai/${MODEL.replace('0.5B', '1.5B')}/resolve/main/x`,
        MODEL,
        lib
      )
    ).toBe(false);
  });
});
