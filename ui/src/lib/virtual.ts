// Row geometry for a virtualised list: heights by row (measured or
// estimated) in a Fenwick tree, so offsets and "which row is at y" cost
// O(log n) even at 100,000 rows.

export class Heights {
  private tree: Float64Array;
  private values: Float64Array;
  readonly count: number;

  constructor(heights: ArrayLike<number>) {
    this.count = heights.length;
    this.values = Float64Array.from(heights);
    this.tree = new Float64Array(this.count + 1);
    // O(n) build.
    for (let i = 0; i < this.count; i++) {
      const j = i + 1;
      this.tree[j] += this.values[i];
      const parent = j + (j & -j);
      if (parent <= this.count) this.tree[parent] += this.tree[j];
    }
  }

  height(i: number): number {
    return this.values[i] ?? 0;
  }

  /** Sets row `i`'s height; returns the change. */
  set(i: number, h: number): number {
    const delta = h - this.values[i];
    if (delta === 0) return 0;
    this.values[i] = h;
    for (let j = i + 1; j <= this.count; j += j & -j) this.tree[j] += delta;
    return delta;
  }

  /** Top of row `i` (the sum of the heights before it). */
  offset(i: number): number {
    let sum = 0;
    for (let j = Math.min(i, this.count); j > 0; j -= j & -j) sum += this.tree[j];
    return sum;
  }

  get total(): number {
    return this.offset(this.count);
  }

  /** The row at `y` (clamped to the list). */
  indexAt(y: number): number {
    if (this.count === 0) return 0;
    let pos = 0;
    let rest = y;
    let step = 1;
    while (step * 2 <= this.count) step *= 2;
    for (; step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= this.count && this.tree[next] <= rest) {
        pos = next;
        rest -= this.tree[next];
      }
    }
    return Math.min(pos, this.count - 1);
  }

  /** First and last (exclusive) rows that cover `[top, top + height]`, plus `overscan` rows each side. */
  range(top: number, height: number, overscan = 5): [number, number] {
    if (this.count === 0) return [0, 0];
    const a = this.indexAt(Math.max(0, top));
    const b = this.indexAt(top + height);
    return [Math.max(0, a - overscan), Math.min(this.count, b + 1 + overscan)];
  }
}
