import { describe, expect, it } from 'vitest';
import { fingerprintRows, formatFingerprint } from '../../src/lib/fingerprint';

const hex = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';

describe('fingerprints', () => {
  it('groups bytes as AB:CD in upper case', () => {
    const f = formatFingerprint(hex);
    expect(f.startsWith('9F:86:D0:81:88:4C')).toBe(true);
    expect(f.split(':')).toHaveLength(32);
    expect(formatFingerprint('9f:86:d0')).toBe('9F:86:D0');
    expect(formatFingerprint(' 9F 86 ')).toBe('9F:86');
  });

  it('splits into rows of eight bytes', () => {
    const rows = fingerprintRows(hex);
    expect(rows).toHaveLength(4);
    expect(rows[0]).toBe('9F:86:D0:81:88:4C:7D:65');
    expect(fingerprintRows('')).toEqual([]);
  });
});
