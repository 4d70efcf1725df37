/** Messages from the page to the service worker. */
export const SKIP_WAITING = 'SKIP_WAITING';
export const HELLO = 'HELLO';

export type PageMessage =
  /** The waiting version may take over (the user pressed Reload). */
  | { type: typeof SKIP_WAITING }
  /** This page runs `version`: its cache must stay while the page is open. */
  | { type: typeof HELLO; version: string };
