import { describe, expect, it } from 'vitest';
import { cropHeader, initial, MAX_ZOOM, moved, rect, shown, zoomed } from '../../src/lib/crop';

describe('picture cropper', () => {
  it('starts on the centred square, like the engine without a crop', () => {
    const v = initial(600, 300, 240);
    expect(shown(v)).toEqual({ width: 480, height: 240 });
    expect(rect(v)).toEqual({ left: 0.25, top: 0, width: 0.5, height: 1 });
    const tall = initial(100, 400, 200);
    expect(rect(tall)).toEqual({ left: 0, top: 0.375, width: 1, height: 0.25 });
  });

  it('moves but never leaves the frame partly empty', () => {
    let v = initial(600, 300, 240);
    v = moved(v, 1000, 50);
    expect(rect(v)).toEqual({ left: 0, top: 0, width: 0.5, height: 1 });
    v = moved(v, -5000, 0);
    expect(rect(v).left).toBeCloseTo(0.5);
    expect(rect(v).left + rect(v).width).toBeCloseTo(1);
  });

  it('zooms around the centre, within limits', () => {
    const v = zoomed(initial(400, 400, 200), 2);
    expect(rect(v)).toEqual({ left: 0.25, top: 0.25, width: 0.5, height: 0.5 });
    expect(zoomed(v, 100).zoom).toBe(MAX_ZOOM);
    expect(zoomed(v, 0.1).zoom).toBe(1);
    expect(zoomed(v, Number.NaN).zoom).toBe(1);
    // Zooming out from a corner pulls the picture back over the frame.
    const corner = moved(v, 1000, 1000);
    expect(rect(zoomed(corner, 1))).toEqual({ left: 0, top: 0, width: 1, height: 1 });
  });

  it('stays square in picture pixels, and inside the picture', () => {
    for (const [w, h] of [
      [3000, 2000],
      [17, 4000],
      [1, 1],
    ]) {
      let v = zoomed(initial(w, h, 256), 3.3);
      v = moved(v, -123.4, 77.7);
      const r = rect(v);
      expect(r.width * w).toBeCloseTo(r.height * h, 6);
      for (const n of [r.left, r.top, r.width, r.height, r.left + r.width, r.top + r.height]) {
        expect(n).toBeGreaterThanOrEqual(0);
        expect(n).toBeLessThanOrEqual(1 + 1e-9);
      }
    }
    expect(cropHeader({ left: 0.25, top: 0, width: 0.5, height: 1 })).toBe('0.250000,0.000000,0.500000,1.000000');
  });
});
