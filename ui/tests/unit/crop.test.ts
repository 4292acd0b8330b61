import { describe, expect, it } from 'vitest';
import { cropHeader, initial, MAX_ZOOM, moved, pictureSize, rect, shown, zoomed } from '../../src/lib/crop';

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

  it('reads a picture’s size from its first bytes', () => {
    const bytes = (...parts: (string | number[])[]) =>
      new Uint8Array(parts.flatMap((p) => (typeof p === 'string' ? [...p].map((c) => c.charCodeAt(0)) : p)));
    const png = bytes([0x89], 'PNG', [13, 10, 26, 10, 0, 0, 0, 13], 'IHDR', [0, 0, 0x75, 0x30, 0, 0, 0x4e, 0x20]);
    expect(pictureSize(png)).toEqual({ width: 30000, height: 20000 });
    expect(pictureSize(bytes('GIF89a', [0x2c, 0x01, 0xc8, 0x00]))).toEqual({ width: 300, height: 200 });
    // JPEG: an APP1 segment, then SOF0 (height 3000, width 4000).
    const jpeg = bytes([0xff, 0xd8, 0xff, 0xe1, 0, 4, 1, 2, 0xff, 0xc0, 0, 17, 8, 0x0b, 0xb8, 0x0f, 0xa0, 3]);
    expect(pictureSize(jpeg)).toEqual({ width: 4000, height: 3000 });
    const vp8x = bytes('RIFF', [0, 0, 0, 0], 'WEBP', 'VP8X', [10, 0, 0, 0, 0, 0, 0, 0], [0x3f, 0x1f, 0], [0xcf, 0x07, 0], [0, 0]);
    expect(pictureSize(vp8x)).toEqual({ width: 8000, height: 2000 });
    // VP8L: width-1 and height-1 in 14 bits each after the 0x2f signature.
    const w = 640 - 1;
    const h = 480 - 1;
    const bits = w | (h << 14);
    const vp8l = bytes('RIFF', [0, 0, 0, 0], 'WEBP', 'VP8L', [0, 0, 0, 0, 0x2f], [bits & 255, (bits >> 8) & 255, (bits >> 16) & 255, (bits >>> 24) & 255], [0, 0, 0, 0, 0]);
    expect(pictureSize(vp8l)).toEqual({ width: 640, height: 480 });
    const vp8 = bytes('RIFF', [0, 0, 0, 0], 'WEBP', 'VP8 ', [0, 0, 0, 0], [0, 0, 0, 0x9d, 0x01, 0x2a], [0x80, 0x02, 0xe0, 0x01]);
    expect(pictureSize(vp8)).toEqual({ width: 640, height: 480 });
    // Nothing to go on, or lies.
    expect(pictureSize(bytes('not a picture at all'))).toBeNull();
    expect(pictureSize(new Uint8Array())).toBeNull();
    expect(pictureSize(bytes([0xff, 0xd8, 0xff, 0xe1, 0xff, 0xff]))).toBeNull();
    expect(pictureSize(bytes([0xff, 0xd8, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull();
    expect(pictureSize(bytes('GIF89a', [0, 0, 0, 0]))).toBeNull();
  });
});
