import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { nickHue, sha1 } from '../../src/lib/colour';

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('nick colours (XEP-0392)', () => {
  it('computes SHA-1 like node', () => {
    for (const s of ['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'x'.repeat(1000), '😺 Romeo']) {
      const bytes = new TextEncoder().encode(s);
      expect(hex(sha1(bytes))).toBe(createHash('sha1').update(bytes).digest('hex'));
    }
  });

  it('gives the angles of the XEP’s test vectors', () => {
    expect(nickHue('Romeo')).toBeCloseTo(327.255249, 4);
    expect(nickHue('juliet@capulet.lit')).toBeCloseTo(209.4104, 4);
    expect(nickHue('😺')).toBeCloseTo(331.199341, 4);
    expect(nickHue('council')).toBeCloseTo(359.994507, 4);
  });
});
