// End-to-end encryption keys (OMEMO) as people see them: fingerprints in
// blocks of 8 hex characters (as Conversations and Dino show them), trust
// in words, which devices wait for a decision, and a QR code drawn as one
// SVG path.

import type { DeviceTrust, DeviceView, QrCode, UriVerification } from './engine';

/** The fingerprint in blocks of 8 lowercase hex characters. */
export function fingerprintBlocks(fingerprint: string): string[] {
  const hex = fingerprint.replace(/[^0-9a-fA-F]/g, '').toLowerCase();
  return hex.match(/.{1,8}/g) ?? [];
}

/** Trust in words, short (a badge). */
export const trustLabel: Record<DeviceTrust, string> = {
  undecided: 'Not decided',
  trusted: 'Trusted',
  verified: 'Verified',
  distrusted: 'Distrusted',
};

/** What the trust means for the messages, in a sentence. */
export function trustMeaning(d: DeviceView): string {
  if (!d.active) return 'No longer in use: messages are not encrypted for it.';
  if (d.fingerprint === null) return 'Its key is not known yet: Tern learns it from the device’s first encrypted message.';
  switch (d.trust) {
    case 'undecided':
      return 'New: encrypted messages are not sent to it until you verify or trust it.';
    case 'trusted':
      return 'Trusted without verification: encrypted messages are sent to it.';
    case 'verified':
      return 'Verified by you: encrypted messages are sent to it.';
    case 'distrusted':
      return 'Distrusted: encrypted messages are never sent to it.';
  }
}

/** Devices in use whose key is known and whose trust is not decided: the
 *  user should verify or trust them to keep sending encrypted messages. */
export function undecided(devices: readonly DeviceView[]): DeviceView[] {
  return devices.filter((d) => d.active && d.fingerprint !== null && d.trust === 'undecided');
}

/** Text that looks like an `xmpp:` trust URI (the engine checks it). */
export function looksLikeTrustUri(text: string): boolean {
  return /^\s*xmpp:[^?\s]+\?.*omemo-sid-\d+=/i.test(text);
}

/** What verifying with a code did, in a sentence (a mismatch is a warning). */
export function verificationText(v: UriVerification, name: string): { ok: string | null; warning: string | null } {
  const n = (k: number, one: string, many: string) => (k === 1 ? one : many.replace('#', String(k)));
  const ok =
    v.verified.length > 0
      ? `${n(v.verified.length, 'One device', '# devices')} of ${name} ${v.verified.length === 1 ? 'is' : 'are'} now verified.`
      : null;
  const warning =
    v.mismatched.length > 0
      ? `The code does not match the key Tern knows for ${n(v.mismatched.length, 'device', 'devices')} ${v.mismatched.join(', ')} of ${name}. ` +
        'Someone may be impersonating them, or the code is old. Nothing was changed; ask them in person or by another channel.'
      : null;
  return { ok, warning };
}

/** The dark modules of a QR code as one SVG path (`M x y h1 v1 h-1 z`…),
 *  in module units, shifted by `quiet` modules of margin. */
export function qrPath(code: QrCode, quiet = 4): string {
  const parts: string[] = [];
  for (let y = 0; y < code.size; y++) {
    let x = 0;
    while (x < code.size) {
      if (!code.dark[y * code.size + x]) {
        x++;
        continue;
      }
      // A run of dark modules in this row becomes one rectangle.
      let end = x;
      while (end < code.size && code.dark[y * code.size + end]) end++;
      parts.push(`M${x + quiet} ${y + quiet}h${end - x}v1h-${end - x}z`);
      x = end;
    }
  }
  return parts.join('');
}
