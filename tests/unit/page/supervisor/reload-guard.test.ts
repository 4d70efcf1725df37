import { describe, expect, it } from 'vitest';
import { ReloadGuard } from '$lib/page/supervisor/reload-guard';
import { MAX_AUTO_RELOADS, RELOAD_WINDOW_MS } from '$lib/page/supervisor/rules';
import { AUTO_RELOADS_KEY, RESUME_AFTER_RELOAD_KEY } from '$lib/shared/storage-names';
import { MemoryStorage } from './fakes';

describe('ReloadGuard', () => {
  function guard(start = 1_000_000) {
    const storage = new MemoryStorage();
    const clock = { now: start };
    let reloads = 0;
    const g = new ReloadGuard(
      storage,
      () => clock.now,
      () => reloads++
    );
    return { g, storage, clock, reloads: () => reloads };
  }

  it('counts its reloads in sessionStorage and stops at the budget, always marking the job', () => {
    const { g, storage, clock, reloads } = guard();
    for (let i = 0; i < MAX_AUTO_RELOADS; i++) {
      const decision = g.prepare('job-1');
      expect(decision.reload).toBe(true);
      g.reload();
      clock.now += 1000;
    }
    expect(reloads()).toBe(MAX_AUTO_RELOADS);
    expect(JSON.parse(storage.getItem(AUTO_RELOADS_KEY) ?? '[]')).toHaveLength(MAX_AUTO_RELOADS);
    storage.removeItem(RESUME_AFTER_RELOAD_KEY);
    const refused = g.prepare('job-1');
    expect(refused).toEqual({
      reload: false,
      recent: Array.from({ length: MAX_AUTO_RELOADS }, (_, i) => 1_000_000 + i * 1000)
    });
    // The reload the user is asked for resumes the job.
    expect(storage.getItem(RESUME_AFTER_RELOAD_KEY)).toBe('job-1');
    clock.now += RELOAD_WINDOW_MS;
    expect(g.prepare('job-1').reload).toBe(true);
  });

  it('gives the job to resume once', () => {
    const { g } = guard();
    g.prepare('job-7');
    expect(g.takeResumeTarget()).toBe('job-7');
    expect(g.takeResumeTarget()).toBe(null);
  });

  it('reads a damaged reload list as none', () => {
    const { g, storage } = guard();
    storage.setItem(AUTO_RELOADS_KEY, '{not json');
    expect(g.prepare('job-1')).toEqual({ reload: true, reloads: [1_000_000] });
    storage.setItem(AUTO_RELOADS_KEY, '"a text"');
    expect(g.prepare('job-1').reload).toBe(true);
  });
});
