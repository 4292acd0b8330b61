import { describe, expect, it } from 'vitest';
import {
  fingerprintBlocks,
  looksLikeTrustUri,
  qrPath,
  trustMeaning,
  undecided,
  verificationText,
} from '../../src/lib/encryption';
import type { DeviceView } from '../../src/lib/engine';

const FP = '015dda9f ceabdeef 00074b28 0d3d0e57 12834c75 c569f6eb 4a758da7 b2221019';
const device = (p: Partial<DeviceView>): DeviceView => ({
  device_id: 1,
  fingerprint: FP,
  trust: 'trusted',
  active: true,
  has_session: true,
  ...p,
});

describe('encryption keys', () => {
  it('shows fingerprints in blocks of eight, as Conversations and Dino do', () => {
    expect(fingerprintBlocks(FP)).toEqual(FP.split(' '));
    expect(fingerprintBlocks(FP.replaceAll(' ', '').toUpperCase())).toEqual(FP.split(' '));
    expect(fingerprintBlocks('')).toEqual([]);
  });

  it('asks for a decision only on devices in use whose key is known', () => {
    const list = [
      device({ device_id: 1, trust: 'undecided' }),
      device({ device_id: 2, trust: 'undecided', fingerprint: null }),
      device({ device_id: 3, trust: 'undecided', active: false }),
      device({ device_id: 4, trust: 'verified' }),
      device({ device_id: 5, trust: 'distrusted' }),
    ];
    expect(undecided(list).map((d) => d.device_id)).toEqual([1]);
  });

  it('says what the trust means for messages', () => {
    expect(trustMeaning(device({ trust: 'undecided' }))).toMatch(/not sent to it until you verify or trust/);
    expect(trustMeaning(device({ fingerprint: null }))).toMatch(/key is not known yet/);
    expect(trustMeaning(device({ active: false }))).toMatch(/No longer in use/);
    expect(trustMeaning(device({ trust: 'distrusted' }))).toMatch(/never sent/);
  });

  it('recognises trust URIs', () => {
    expect(looksLikeTrustUri(`xmpp:juliet@capulet.example?omemo-sid-123=${FP.replaceAll(' ', '')}`)).toBe(true);
    expect(looksLikeTrustUri('  xmpp:a@b?message;omemo-sid-1=ab')).toBe(true);
    expect(looksLikeTrustUri('xmpp:juliet@capulet.example')).toBe(false);
    expect(looksLikeTrustUri('https://example.org/?omemo-sid-1=ab')).toBe(false);
  });

  it('words the outcome of a code, a mismatch as a warning', () => {
    expect(verificationText({ jid: 'j@x', verified: [1], mismatched: [] }, 'Juliet')).toEqual({
      ok: 'One device of Juliet is now verified.',
      warning: null,
    });
    const v = verificationText({ jid: 'j@x', verified: [1, 2], mismatched: [7] }, 'Juliet');
    expect(v.ok).toBe('2 devices of Juliet are now verified.');
    expect(v.warning).toMatch(/^The code does not match the key Tern knows for device 7 of Juliet\. Someone may be impersonating/);
  });

  it('draws a QR code as runs of dark modules', () => {
    const code = { size: 3, dark: [true, true, false, false, false, false, true, false, true] };
    expect(qrPath(code, 0)).toBe('M0 0h2v1h-2zM0 2h1v1h-1zM2 2h1v1h-1z');
    expect(qrPath(code)).toBe('M4 4h2v1h-2zM4 6h1v1h-1zM6 6h1v1h-1z');
  });
});
