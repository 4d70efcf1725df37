import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

describe('the repository', () => {
  it('holds no model library: mlc-ai/binary-mlc-llm-libs publishes no license (docs/testing.md)', () => {
    const tracked = execFileSync(
      'git',
      ['ls-files', '--cached', '--others', '--exclude-standard'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024
      }
    );
    expect(tracked.split('\n').filter((path) => /\.wasm$/i.test(path))).toEqual([]);
  });
});
