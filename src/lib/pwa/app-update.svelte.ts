/**
 * The service worker from the page's side: registers it, and notices when a
 * new version has installed and is waiting. The page then offers "Reload";
 * the waiting worker takes over only then, so nothing changes under a
 * running job without the user's say (and the job resumes after the reload).
 */
import { dev, version } from '$app/environment';
import { HELLO, SKIP_WAITING, type PageMessage } from './messages';

/** Tells the service worker which version this page runs, so that version's files stay cached. */
function hello(): void {
  const message: PageMessage = { type: HELLO, version };
  navigator.serviceWorker.controller?.postMessage(message);
}

/** How often a long-open page asks the server for a new version. */
const CHECK_EVERY_MS = 30 * 60 * 1000;

class AppUpdate {
  /** A new version is installed and waits for a reload. */
  ready = $state(false);
  #registration: ServiceWorkerRegistration | null = null;
  #reloading = false;

  async start(): Promise<void> {
    if (!('serviceWorker' in navigator) || this.#registration) return;
    let registration: ServiceWorkerRegistration;
    try {
      registration = await navigator.serviceWorker.register('/service-worker.js', {
        type: dev ? 'module' : 'classic'
      });
    } catch (error) {
      // The app works without it, only not offline.
      console.warn('LocalBatch: the service worker could not be registered', error);
      return;
    }
    this.#registration = registration;
    /** Whether a version controlled this page before: then a new one is an update. */
    let controlled = navigator.serviceWorker.controller !== null;
    const watch = (worker: ServiceWorker | null) => {
      if (!worker) return;
      const check = () => {
        // The first install has nothing to replace: not an update.
        if (worker.state === 'installed' && navigator.serviceWorker.controller) this.ready = true;
      };
      check();
      worker.addEventListener('statechange', check);
    };
    if (registration.waiting && controlled) this.ready = true;
    watch(registration.installing);
    registration.addEventListener('updatefound', () => watch(registration.installing));
    hello();
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      hello();
      if (this.#reloading) location.reload();
      // A new version took over by itself (no page was open when it installed, as during a
      // reload): this page still runs the old code, so offer the reload all the same.
      else if (controlled) this.ready = true;
      controlled = true;
    });
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- check() never rejects (an unreachable server is a normal state)
    setInterval(() => void this.check(), CHECK_EVERY_MS);
    document.addEventListener('visibilitychange', () => {
      // eslint-disable-next-line @typescript-eslint/no-floating-promises -- check() never rejects (an unreachable server is a normal state)
      if (document.visibilityState === 'visible') void this.check();
    });
  }

  /** Asks the server whether there is a new version. */
  async check(): Promise<void> {
    hello();
    // eslint-disable-next-line no-restricted-syntax -- offline, or the server unreachable: the next check asks again
    await this.#registration?.update().catch(() => undefined);
  }

  /** Lets the waiting version take over, then reloads into it. */
  apply(): void {
    const waiting = this.#registration?.waiting;
    if (!waiting) return location.reload();
    this.#reloading = true;
    const message: PageMessage = { type: SKIP_WAITING };
    waiting.postMessage(message);
  }
}

export const appUpdate = new AppUpdate();
