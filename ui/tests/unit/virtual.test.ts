import { describe, expect, it } from 'vitest';
import { Heights } from '../../src/lib/virtual';

describe('Heights', () => {
  it('sums offsets and finds the row at a position', () => {
    const h = new Heights([10, 20, 30, 40]);
    expect(h.total).toBe(100);
    expect([0, 1, 2, 3, 4].map((i) => h.offset(i))).toEqual([0, 10, 30, 60, 100]);
    expect(h.indexAt(0)).toBe(0);
    expect(h.indexAt(9.9)).toBe(0);
    expect(h.indexAt(10)).toBe(1);
    expect(h.indexAt(59)).toBe(2);
    expect(h.indexAt(1000)).toBe(3);
    h.set(1, 50);
    expect(h.offset(3)).toBe(90);
    expect(h.indexAt(59)).toBe(1);
  });

  it('gives a small window of rows at 100,000 rows', () => {
    const h = new Heights(new Array(100_000).fill(48));
    expect(h.total).toBe(4_800_000);
    const [a, b] = h.range(2_400_000, 700, 5);
    expect(a).toBe(50_000 - 5);
    expect(b - a).toBeLessThan(40);
    expect(new Heights([]).range(0, 100)).toEqual([0, 0]);
  });
});
