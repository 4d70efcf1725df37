/**
 * The page's reloads for a GPU that Chrome blocked after crashes: how many it
 * made lately (a budget, rules.ts) and which job to resume after a reload, kept
 * in this tab's sessionStorage. Storage, clock and reload are given, so the
 * guard runs in unit tests.
 */
import { AUTO_RELOADS_KEY, RESUME_AFTER_RELOAD_KEY } from '$lib/shared/storage-names';
import { decideReload, type ReloadDecision } from './rules';

export type TabStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

export class ReloadGuard {
  constructor(
    private readonly storage: TabStorage,
    private readonly clock: () => number,
    private readonly reloadPage: () => void
  ) {}

  /**
   * Marks `jobId` to resume after the next reload (this tab's own, or the one
   * the user is asked for), and says whether this tab may reload itself now;
   * when it may, the reload is counted.
   */
  prepare(jobId: string): ReloadDecision {
    const decision = decideReload(this.clock(), this.#reloads());
    if (decision.reload) this.storage.setItem(AUTO_RELOADS_KEY, JSON.stringify(decision.reloads));
    this.storage.setItem(RESUME_AFTER_RELOAD_KEY, jobId);
    return decision;
  }

  reload(): void {
    this.reloadPage();
  }

  /** The job this tab reloaded for, once: it is forgotten as it is read. */
  takeResumeTarget(): string | null {
    const jobId = this.storage.getItem(RESUME_AFTER_RELOAD_KEY);
    this.storage.removeItem(RESUME_AFTER_RELOAD_KEY);
    return jobId;
  }

  #reloads(): number[] {
    try {
      const stored: unknown = JSON.parse(this.storage.getItem(AUTO_RELOADS_KEY) ?? '[]');
      return Array.isArray(stored) ? stored.filter((at) => typeof at === 'number') : [];
    } catch {
      return [];
    }
  }
}

let tabGuard: ReloadGuard | null = null;

/** This tab's guard: sessionStorage, the real clock, location.reload. */
export function reloadGuard(): ReloadGuard {
  tabGuard ??= new ReloadGuard(
    sessionStorage,
    () => Date.now(),
    () => location.reload()
  );
  return tabGuard;
}
