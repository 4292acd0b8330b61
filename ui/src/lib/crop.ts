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
