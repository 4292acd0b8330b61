// Consistent colours for nicks (XEP-0392): the hue angle comes from the
// SHA-1 of the nick, so a person has the same colour here as in other
// clients that follow the XEP. Synchronous (crypto.subtle is not), and
// remembered per nick.

/** SHA-1 of bytes (FIPS 180-4), as 20 bytes. */
export function sha1(bytes: Uint8Array): Uint8Array {
  const len = bytes.length;
  const words = new Uint32Array((((len + 8) >> 6) + 1) * 16);
  for (let i = 0; i < len; i++) words[i >> 2] |= bytes[i] << (24 - (i % 4) * 8);
  words[len >> 2] |= 0x80 << (24 - (len % 4) * 8);
  words[words.length - 1] = len * 8;
  if (len >= 2 ** 29) words[words.length - 2] = Math.floor((len * 8) / 2 ** 32);
  let [a, b, c, d, e] = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];
  const w = new Uint32Array(80);
  const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));
  for (let off = 0; off < words.length; off += 16) {
    for (let t = 0; t < 16; t++) w[t] = words[off + t];
    for (let t = 16; t < 80; t++) w[t] = rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);
    let [A, B, C, D, E] = [a, b, c, d, e];
    for (let t = 0; t < 80; t++) {
      const f = t < 20 ? (B & C) | (~B & D) : t < 40 ? B ^ C ^ D : t < 60 ? (B & C) | (B & D) | (C & D) : B ^ C ^ D;
      const k = t < 20 ? 0x5a827999 : t < 40 ? 0x6ed9eba1 : t < 60 ? 0x8f1bbcdc : 0xca62c1d6;
      const tmp = (rotl(A, 5) + f + E + k + w[t]) >>> 0;
      E = D;
      D = C;
      C = rotl(B, 30) >>> 0;
      B = A;
      A = tmp;
    }
    a = (a + A) >>> 0;
    b = (b + B) >>> 0;
    c = (c + C) >>> 0;
    d = (d + D) >>> 0;
    e = (e + E) >>> 0;
  }
  const out = new Uint8Array(20);
  [a, b, c, d, e].forEach((h, i) => {
    out[i * 4] = h >>> 24;
    out[i * 4 + 1] = (h >>> 16) & 0xff;
    out[i * 4 + 2] = (h >>> 8) & 0xff;
    out[i * 4 + 3] = h & 0xff;
  });
  return out;
}

const encoder = new TextEncoder();
const angles = new Map<string, number>();

/** The XEP-0392 hue angle of a text, in degrees [0, 360). */
export function nickHue(nick: string): number {
  let h = angles.get(nick);
  if (h === undefined) {
    const d = sha1(encoder.encode(nick));
    h = ((d[0] | (d[1] << 8)) / 65536) * 360;
    if (angles.size > 5000) angles.clear();
    angles.set(nick, h);
  }
  return h;
}
