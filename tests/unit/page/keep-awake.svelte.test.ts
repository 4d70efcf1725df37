// The screen's wake lock while a job runs, over a fake Screen Wake Lock API and page visibility.
import { describe, expect, it } from 'vitest';
import { KeepAwake, type AwakeDeps, type AwakeSentinel } from '$lib/page/keep-awake.svelte';

class FakeSentinel implements AwakeSentinel {
  released = false;
  #listeners: (() => void)[] = [];
  addEventListener(_type: 'release', listener: () => void): void {
    this.#listeners.push(listener);
  }
  /** The page or the browser lets it go. */
  release(): Promise<void> {
    if (!this.released) {
      this.released = true;
      for (const listener of this.#listeners) listener();
    }
    return Promise.resolve();
  }
}

function fakeBrowser(answer: 'grant' | 'refuse' | 'none' | 'later' = 'grant') {
  const sentinels: FakeSentinel[] = [];
  /** With 'later': the requests not answered yet. */
  const pending: ((sentinel: FakeSentinel) => void)[] = [];
  let visible = true;
  let onVisibility = () => {};
  const deps: AwakeDeps = {
    wakeLock:
      answer === 'none'
        ? undefined
        : {
            request: (type) => {
              expect(type).toBe('screen');
              if (answer === 'refuse')
                return Promise.reject(new Error('Wake Lock permission request denied'));
              const sentinel = new FakeSentinel();
              sentinels.push(sentinel);
              if (answer === 'later')
                return new Promise((resolve) => pending.push(() => resolve(sentinel)));
              return Promise.resolve(sentinel);
            }
          },
    visible: () => visible,
    onVisibility: (listener) => (onVisibility = listener)
  };
  return {
    deps,
    sentinels,
    /** Answers the first request not answered yet. */
    async answer() {
      pending.shift()?.(new FakeSentinel());
      await settle();
    },
    /** The tab is hidden (the browser lets the lock go, then says so) or shown. */
    async show(shown: boolean) {
      visible = shown;
      if (!shown) await Promise.all(sentinels.map((s) => s.release()));
      onVisibility();
      await settle();
    }
  };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
const held = (sentinels: FakeSentinel[]) => sentinels.filter((s) => !s.released).length;

describe('KeepAwake', () => {
  it('holds the screen while wanted, lets it go after, and asks once however often it is told', async () => {
    const browser = fakeBrowser();
    const awake = new KeepAwake(browser.deps);
    expect(awake.state).toBe('idle');
    awake.want(true);
    awake.want(true);
    await settle();
    expect(awake.state).toBe('held');
    expect(browser.sentinels.length).toBe(1);
    expect(held(browser.sentinels)).toBe(1);
    awake.want(false);
    expect(awake.state).toBe('idle');
    expect(held(browser.sentinels)).toBe(0);
  });

  it('a hidden tab loses the lock and asks again when shown', async () => {
    const browser = fakeBrowser();
    const awake = new KeepAwake(browser.deps);
    awake.want(true);
    await settle();
    await browser.show(false);
    expect(awake.state).toBe('hidden');
    expect(held(browser.sentinels)).toBe(0);
    await browser.show(true);
    expect(awake.state).toBe('held');
    expect(browser.sentinels.length).toBe(2);
    expect(held(browser.sentinels)).toBe(1);
  });

  it('a run that ends while the lock is being asked for lets it go as it comes', async () => {
    const browser = fakeBrowser();
    const awake = new KeepAwake(browser.deps);
    awake.want(true);
    awake.want(false);
    await settle();
    expect(awake.state).toBe('idle');
    expect(browser.sentinels.length).toBe(1);
    expect(held(browser.sentinels)).toBe(0);
  });

  it('says when the browser refuses, or has no wake lock, and asks again at the next run', async () => {
    let asked = 0;
    const refusing = fakeBrowser('refuse');
    const request = refusing.deps.wakeLock!.request;
    refusing.deps.wakeLock!.request = (type) => {
      asked++;
      return request(type);
    };
    const awake = new KeepAwake(refusing.deps);
    awake.want(true);
    await settle();
    expect(awake.state).toBe('refused');
    expect(awake.refusal).toBe('Wake Lock permission request denied');
    awake.want(false);
    expect(awake.state).toBe('idle');
    awake.want(true);
    await settle();
    expect(asked).toBe(2);
    expect(awake.state).toBe('refused');

    const none = new KeepAwake(fakeBrowser('none').deps);
    none.want(true);
    expect(none.state).toBe('unsupported');
  });

  it('the system letting the lock go while the tab is shown is said, not fought', async () => {
    const browser = fakeBrowser();
    const awake = new KeepAwake(browser.deps);
    awake.want(true);
    await settle();
    await browser.sentinels[0]!.release();
    expect(awake.state).toBe('refused');
    expect(awake.refusal).toBe('the system ended it, to save power or for a low battery');
    expect(browser.sentinels.length).toBe(1);
  });

  it('a lock that comes let go, the tab hidden and shown while it was asked for, is asked for again', async () => {
    const browser = fakeBrowser('later');
    const awake = new KeepAwake(browser.deps);
    awake.want(true);
    // Hidden while the request is pending: the browser lets the coming lock go.
    await browser.show(false);
    expect(awake.state).toBe('hidden');
    await browser.show(true);
    expect(browser.sentinels.length).toBe(1);
    await browser.answer();
    // The first came let go; shown now, it asks again, and the second is held.
    expect(browser.sentinels.length).toBe(2);
    await browser.answer();
    expect(awake.state).toBe('held');
    expect(held(browser.sentinels)).toBe(1);
  });
});
