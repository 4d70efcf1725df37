import { describe, expect, it } from 'vitest';
import { budgetFor } from '$lib/plan/budget';
import { MiB, GiB, adapter, SWIFTSHADER, NVIDIA, AMD, APPLE, INTEL, INTEL_ARC } from './adapters';

describe('budgetFor', () => {
  it('the user figure wins', () => {
    expect(budgetFor(APPLE, { userMB: 12000 })).toMatchObject({
      bytes: 12000 * MiB,
      source: 'user'
    });
  });
  it('integrated GPUs share system memory: half, two thirds on Apple', () => {
    expect(budgetFor(INTEL, { userMB: null }).bytes).toBe(4 * GiB);
    expect(budgetFor(SWIFTSHADER, { userMB: null }).bytes).toBe(4 * GiB);
    expect(budgetFor(APPLE, { userMB: null }).bytes).toBe(Math.floor((8 * GiB * 2) / 3));
    expect(budgetFor(adapter({ vendor: 'intel', deviceMemoryGB: 4 }), { userMB: null }).bytes).toBe(
      2 * GiB
    );
  });
  it('integrated without deviceMemory, and discrete GPUs: unknown', () => {
    expect(
      budgetFor(adapter({ vendor: 'apple', deviceMemoryGB: null }), { userMB: null })
    ).toMatchObject({ bytes: null, source: 'unknown' });
    expect(budgetFor(NVIDIA, { userMB: null })).toMatchObject({ bytes: null, source: 'unknown' });
    expect(budgetFor(AMD, { userMB: null }).reason).toContain('Check this GPU');
    expect(budgetFor(INTEL_ARC, { userMB: null }).bytes).toBeNull();
  });
  it('a description saying integrated counts as integrated', () => {
    const apu = adapter({ vendor: 'amd', description: 'AMD Radeon(TM) Graphics (integrated)' });
    expect(budgetFor(apu, { userMB: null }).source).toBe('shared');
  });
});
