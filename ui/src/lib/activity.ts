// Tells the engine the user is active (scrolling a timeline or the
// conversation list, typing), so that it pauses fetching history in the
// background meanwhile. Said at most once a second, however fast the
// scroll or input events come.

import { api } from './api';

/** Once a second at most. */
export const ACTIVE_EVERY_MS = 1000;

/**
 * Calls `f` at most once per `ms`: at once, then not again until `ms` have
 * passed since it last ran (calls in between are dropped, none is delayed).
 * `now` is a monotonic clock, so a change of the system time cannot hold
 * calls back.
 */
export function throttle(f: () => void, ms: number, now: () => number = () => performance.now()): () => void {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last < ms) return;
    last = t;
    f();
  };
}

/** The user scrolled or typed. */
export const userActive = throttle(() => void api.userActive().catch(() => {}), ACTIVE_EVERY_MS);
