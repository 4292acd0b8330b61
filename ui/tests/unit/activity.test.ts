import { afterEach, describe, expect, it, vi } from 'vitest';

const userActive = vi.fn(() => Promise.resolve());
vi.mock('../../src/lib/api', () => ({ api: { userActive: () => userActive() } }));

const { ACTIVE_EVERY_MS, throttle, userActive: active } = await import('../../src/lib/activity');

describe('throttle', () => {
  it('calls at once, then at most once per interval, dropping calls in between', () => {
    let t = 0;
    const f = vi.fn();
    const g = throttle(f, 1000, () => t);
    g();
    expect(f).toHaveBeenCalledTimes(1);
    for (t = 1; t < 1000; t += 50) g();
    expect(f).toHaveBeenCalledTimes(1);
    t = 1000;
    g();
    g();
    expect(f).toHaveBeenCalledTimes(2);
    // A steady stream of events (one a frame) for 5 s: one call a second.
    const at: number[] = [];
    const h = throttle(() => at.push(t), 1000, () => t);
    for (t = 0; t < 5000; t += 16) h();
    expect(at).toEqual([0, 1008, 2016, 3024, 4032]);
  });

  it('is not held back when nothing happened for a while', () => {
    let t = 50_000;
    const f = vi.fn();
    const g = throttle(f, 1000, () => t);
    g();
    t += 60_000;
    g();
    expect(f).toHaveBeenCalledTimes(2);
  });
});

describe('userActive', () => {
  afterEach(() => vi.useRealTimers());

  it('tells the engine at most once a second', () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    userActive.mockClear();
    for (let i = 0; i < 100; i++) {
      active();
      vi.advanceTimersByTime(10);
    }
    // 1 s of scrolling at 100 events a second.
    expect(userActive).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(ACTIVE_EVERY_MS);
    active();
    expect(userActive).toHaveBeenCalledTimes(2);
  });

  it('ignores a failed call', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    vi.advanceTimersByTime(5 * ACTIVE_EVERY_MS);
    userActive.mockClear();
    userActive.mockImplementationOnce(() => Promise.reject(new Error('offline')));
    active();
    await Promise.resolve();
    expect(userActive).toHaveBeenCalledTimes(1);
  });
});
