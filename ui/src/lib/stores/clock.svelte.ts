// The time of day for labels such as "Yesterday" in lists: moves every
// half minute, so they turn over at midnight.

class Clock {
  now = $state(Date.now());

  constructor() {
    if (typeof window !== 'undefined') setInterval(() => (this.now = Date.now()), 30_000);
  }
}

export const clock = new Clock();
