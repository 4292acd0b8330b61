// Geometry of the picture cropper: a square frame of `side` pixels over a
// picture of `w`x`h`, which covers the frame at zoom 1 and can be moved
// and zoomed but never leaves part of the frame empty.

export interface CropView {
  /** The picture's size as shown upright (natural size). */
  w: number;
  h: number;
  /** The frame's side on screen. */
  side: number;
  /** 1 = the picture's short side fills the frame. */
  zoom: number;
  /** The picture's top-left corner relative to the frame's, on screen (≤ 0). */
  x: number;
  y: number;
}

/** The part of the picture in the frame, as fractions of its size (what the
 *  engine's `Crop` reads). */
export interface CropRect {
  left: number;
  top: number;
  width: number;
  height: number;
}

export const MAX_ZOOM = 4;

/** Screen pixels per picture pixel. */
const scale = (v: CropView) => (v.side / Math.min(v.w, v.h)) * v.zoom;

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/** Keeps the zoom in range and the frame covered. */
export function settle(v: CropView): CropView {
  const zoom = clamp(Number.isFinite(v.zoom) ? v.zoom : 1, 1, MAX_ZOOM);
  const s = (v.side / Math.min(v.w, v.h)) * zoom;
  const dw = v.w * s;
  const dh = v.h * s;
  return { ...v, zoom, x: clamp(v.x, v.side - dw, 0), y: clamp(v.y, v.side - dh, 0) };
}

/** The largest centred square, as the engine takes without a crop. */
export function initial(w: number, h: number, side: number): CropView {
  const s = side / Math.min(w, h);
  return settle({ w, h, side, zoom: 1, x: (side - w * s) / 2, y: (side - h * s) / 2 });
}

/** Moved by (dx, dy) screen pixels. */
export const moved = (v: CropView, dx: number, dy: number): CropView => settle({ ...v, x: v.x + dx, y: v.y + dy });

/** Zoomed to `zoom`, keeping the picture point under the frame's centre there. */
export function zoomed(v: CropView, zoom: number): CropView {
  const before = scale(v);
  const next = settle({ ...v, zoom });
  const after = scale(next);
  const c = v.side / 2;
  // Picture coordinates of the centre stay put.
  const px = (c - v.x) / before;
  const py = (c - v.y) / before;
  return settle({ ...next, x: c - px * after, y: c - py * after });
}

/** The shown picture's size on screen. */
export function shown(v: CropView): { width: number; height: number } {
  const s = scale(v);
  return { width: v.w * s, height: v.h * s };
}

/** What the frame holds, in fractions of the picture (always inside 0..1). */
export function rect(v: CropView): CropRect {
  const { width, height } = shown(v);
  const f = (n: number) => clamp(n, 0, 1);
  return {
    left: f(-v.x / width),
    top: f(-v.y / height),
    width: f(v.side / width),
    height: f(v.side / height),
  };
}

/** The `Tern-Crop` header value: `left,top,width,height`. */
export const cropHeader = (r: CropRect): string => [r.left, r.top, r.width, r.height].map((n) => n.toFixed(6)).join(',');

/** Largest picture the cropper shows (decoded, it takes 4 bytes a pixel in
 *  the page). Larger ones are used without a preview: the centred square. */
export const MAX_PREVIEW_PIXELS = 40_000_000;

/**
 * A picture's size in pixels from its first bytes (PNG, GIF, JPEG, WebP),
 * without decoding it; `null` when the bytes do not say.
 */
export function pictureSize(b: Uint8Array): { width: number; height: number } | null {
  const u16be = (i: number) => (b[i] << 8) | b[i + 1];
  const u16le = (i: number) => b[i] | (b[i + 1] << 8);
  const u24le = (i: number) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
  const u32be = (i: number) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
  const ascii = (i: number, n: number) => String.fromCharCode(...b.subarray(i, i + n));
  const ok = (width: number, height: number) => (width > 0 && height > 0 ? { width, height } : null);
  if (b.length >= 24 && ascii(1, 3) === 'PNG' && ascii(12, 4) === 'IHDR') return ok(u32be(16), u32be(20));
  if (b.length >= 10 && ascii(0, 3) === 'GIF') return ok(u16le(6), u16le(8));
  if (b.length >= 30 && ascii(0, 4) === 'RIFF' && ascii(8, 4) === 'WEBP') {
    const kind = ascii(12, 4);
    if (kind === 'VP8 ') return ok(u16le(26) & 0x3fff, u16le(28) & 0x3fff);
    if (kind === 'VP8L') {
      const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
      return ok((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
    }
    if (kind === 'VP8X') return ok(u24le(24) + 1, u24le(27) + 1);
    return null;
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) {
        i += 1;
        continue;
      }
      const sof = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (sof) return ok(u16be(i + 7), u16be(i + 5));
      if (marker === 0xd9 || marker === 0xda) return null;
      i += 2 + u16be(i + 2);
    }
  }
  return null;
}
