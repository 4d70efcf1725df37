/**
 * Keeps the screen on while this tab runs a job (the Screen Wake Lock API): a computer that
 * sleeps stops a night-long job until it wakes (nothing is lost, but the night is). The
 * browser lets the lock go when the tab is hidden; it is asked for again when the tab is shown.
 */

/** `held`: the screen stays on; `hidden`: the tab is hidden, so the browser let the lock go. */
export type AwakeState = 'idle' | 'held' | 'hidden' | 'unsupported' | 'refused';

/** The part of a WakeLockSentinel this uses. */
export interface AwakeSentinel {
  readonly released: boolean;
  release(): Promise<void>;
  addEventListener(type: 'release', listener: () => void): void;
}

export interface AwakeDeps {
  /** navigator.wakeLock; undefined where the browser has none. */
  wakeLock: { request(type: 'screen'): Promise<AwakeSentinel> } | undefined;
  visible(): boolean;
  onVisibility(listener: () => void): void;
}

const SYSTEM_ENDED = 'the system ended it, to save power or for a low battery';

export class KeepAwake {
  #state = $state<AwakeState>('idle');
  #refusal = $state('');
  readonly #deps: AwakeDeps;
  #wanted = false;
  #sentinel: AwakeSentinel | null = null;
  #asking = false;
  /** Times the tab was hidden: a lock let go while it was asked for, and the tab hidden meanwhile, is asked for again. */
  #hides = 0;

  constructor(deps: AwakeDeps) {
    this.#deps = deps;
    deps.onVisibility(() => {
      if (!deps.visible()) this.#hides++;
      this.#sync();
    });
  }

  get state(): AwakeState {
    return this.#state;
  }
  /** Why the browser refused the lock, in its words. */
  get refusal(): string {
    return this.#refusal;
  }

  /** Whether the screen should stay on now (a job runs here and the setting is on). */
  want(wanted: boolean): void {
    if (wanted === this.#wanted) return;
    this.#wanted = wanted;
    this.#sync();
  }

  #sync(): void {
    const deps = this.#deps;
    if (!this.#wanted) {
      const sentinel = this.#sentinel;
      this.#sentinel = null;
      if (sentinel && !sentinel.released)
        // eslint-disable-next-line no-restricted-syntax -- letting a screen lock go keeps no data; if it fails, the browser lets it go with the tab
        sentinel.release().catch(() => undefined);
      this.#state = 'idle';
      return;
    }
    if (!deps.wakeLock) {
      this.#state = 'unsupported';
      return;
    }
    if (!deps.visible()) {
      this.#state = 'hidden';
      return;
    }
    if (this.#sentinel && !this.#sentinel.released) {
      this.#state = 'held';
      return;
    }
    if (this.#asking) return;
    this.#asking = true;
    const hides = this.#hides;
    deps.wakeLock.request('screen').then(
      (sentinel) => {
        this.#asking = false;
        if (sentinel.released) {
          // Let go before it came: the tab was hidden meanwhile (asked for again when shown),
          // or the system ended it at once (said, not fought).
          if (this.#wanted && deps.visible() && hides === this.#hides) this.#refuse(SYSTEM_ENDED);
          else this.#sync();
          return;
        }
        if (!this.#wanted) {
          // eslint-disable-next-line no-restricted-syntax -- letting a screen lock go keeps no data; if it fails, the browser lets it go with the tab
          sentinel.release().catch(() => undefined);
          return;
        }
        this.#sentinel = sentinel;
        this.#state = 'held';
        sentinel.addEventListener('release', () => {
          if (this.#sentinel !== sentinel) return;
          this.#sentinel = null;
          // Hidden: asked for again when shown. Let go while shown (the system's choice,
          // a low battery): not asked for again until the next run or the next showing.
          if (!this.#wanted) return;
          if (deps.visible()) this.#refuse(SYSTEM_ENDED);
          else this.#state = 'hidden';
        });
      },
      (error: unknown) => {
        this.#asking = false;
        if (this.#wanted) this.#refuse(error instanceof Error ? error.message : String(error));
      }
    );
  }

  #refuse(reason: string): void {
    this.#state = 'refused';
    this.#refusal = reason;
  }
}

let tabAwake: KeepAwake | null = null;

/** This tab's one KeepAwake, on the browser's own API (made on first use, in the browser). */
export function keepAwake(): KeepAwake {
  tabAwake ??= new KeepAwake({
    wakeLock: 'wakeLock' in navigator ? (navigator.wakeLock as AwakeDeps['wakeLock']) : undefined,
    visible: () => document.visibilityState === 'visible',
    onVisibility: (listener) => document.addEventListener('visibilitychange', listener)
  });
  return tabAwake;
}
