// Encryption keys for the screen harness (scenario `chats-keys`): Juliet
// with a verified phone, a new laptop not decided on and an old tablet no
// longer in use; the account's own device with its code, another device
// and a removed one. The commands answer like the shell and emit
// `encryption_devices` as the engine does after each decision.

import type { ClientEvent, DeviceTrust, DeviceView, OwnEncryptionView, QrCode, UriVerification } from '../../src/lib/engine';
import { PEERS } from './chats';

type Send = (ev: ClientEvent) => void;

const ME = 'alice@example.org';
const JULIET = PEERS.JULIET;
const uiError = (kind: string, message: string) => Promise.reject({ kind, message });
const hex = (seed: number) => {
  let s = '';
  let x = seed;
  for (let i = 0; i < 64; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    s += '0123456789abcdef'[(x >> 16) & 15];
  }
  return s;
};
const grouped = (h: string) => h.match(/.{8}/g)!.join(' ');

export const KEYS = {
  phone: 1848291734,
  laptop: 402771563,
  tablet: 77120455,
  phoneFp: grouped(hex(1)),
  laptopFp: grouped(hex(2)),
  tabletFp: grouped(hex(3)),
  ownId: 1196053817,
  ownFp: grouped(hex(4)),
  otherOwn: 905112337,
  otherOwnFp: grouped(hex(5)),
  removedOwn: 31337,
};

const devices = new Map<string, DeviceView[]>();

function setup() {
  devices.set(JULIET, [
    { device_id: KEYS.phone, fingerprint: KEYS.phoneFp, trust: 'verified', active: true, has_session: true },
    { device_id: KEYS.laptop, fingerprint: KEYS.laptopFp, trust: 'undecided', active: true, has_session: true },
    { device_id: KEYS.tablet, fingerprint: KEYS.tabletFp, trust: 'trusted', active: false, has_session: true },
  ]);
  devices.set(ME, [
    { device_id: KEYS.otherOwn, fingerprint: KEYS.otherOwnFp, trust: 'trusted', active: true, has_session: true },
    { device_id: KEYS.removedOwn, fingerprint: null, trust: 'undecided', active: false, has_session: false },
  ]);
}

/** A QR-code-like matrix (finder patterns in three corners, the rest from the text). */
function fakeQr(text: string): QrCode {
  const size = 33;
  const dark: boolean[] = [];
  let h = 7;
  for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
  const finder = (x: number, y: number) => {
    const m = Math.max(Math.abs(x - 3), Math.abs(y - 3));
    return m !== 2 && m <= 3;
  };
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      if (x < 8 && y < 8) dark.push(finder(x, y));
      else if (x >= size - 8 && y < 8) dark.push(finder(x - (size - 7), y));
      else if (x < 8 && y >= size - 8) dark.push(finder(x, y - (size - 7)));
      else {
        h = (h * 1103515245 + 12345) >>> 0;
        dark.push(((h >>> 16) & 1) === 1);
      }
    }
  return { size, dark };
}

const changed = (send: Send, jid: string) => send({ type: 'encryption_devices', account: ME, jid });

/** Answers an encryption command, or `undefined` when `cmd` is not one. */
export function encryptionCommand(scenario: string, cmd: string, a: Record<string, unknown>, send: Send): unknown {
  if (devices.size === 0 && scenario.startsWith('chats-keys')) setup();
  switch (cmd) {
    case 'encryption_devices':
      // A copy, as from the real shell (the UI keeps what it got).
      return structuredClone(devices.get(a.jid as string) ?? []);
    case 'own_encryption': {
      const view: OwnEncryptionView = {
        account: a.account as string,
        device_id: KEYS.ownId,
        fingerprint: KEYS.ownFp,
        uri: `xmpp:${a.account as string}?omemo-sid-${KEYS.ownId}=${KEYS.ownFp.replaceAll(' ', '')}`,
        devices: structuredClone(devices.get(a.account as string) ?? []),
        problem:
          scenario === 'chats-keys-refused'
            ? 'Your server refused to publish this device’s encryption keys (the server refused: forbidden). Other apps cannot read what this device encrypts until it can, so your messages wait, unless you send one unencrypted. Tern tries again when you reconnect.'
            : null,
      };
      return view;
    }
    case 'qr_code':
      return fakeQr(a.text as string);
    case 'set_device_trust': {
      const list = devices.get(a.jid as string) ?? [];
      const d = list.find((x) => x.device_id === a.deviceId);
      if (!d?.fingerprint) return uiError('unknown_key', `Tern does not know the key of device ${a.deviceId as number} yet.`);
      d.trust = a.trust as DeviceTrust;
      devices.set(a.jid as string, [...list]);
      changed(send, a.jid as string);
      return null;
    }
    case 'verify_fingerprint': {
      const list = devices.get(a.jid as string) ?? [];
      const d = list.find((x) => x.device_id === a.deviceId);
      const typed = (a.fingerprint as string).replace(/[^0-9a-f]/gi, '').toLowerCase();
      if (!d?.fingerprint || d.fingerprint.replaceAll(' ', '') !== typed) return false;
      d.trust = 'verified';
      devices.set(a.jid as string, [...list]);
      changed(send, a.jid as string);
      return true;
    }
    case 'verify_encryption_uri': {
      const m = /^xmpp:([^?]+)\?(.*)$/.exec((a.text as string).trim());
      if (!m) return uiError('not_a_trust_uri', 'This is not a verification code.');
      const jid = decodeURIComponent(m[1]);
      const list = devices.get(jid) ?? [];
      const out: UriVerification = { jid, verified: [], mismatched: [] };
      for (const [, id, fp] of m[2].matchAll(/omemo-sid-(\d+)=([0-9a-f]+)/gi)) {
        const d = list.find((x) => x.device_id === Number(id));
        if (d?.fingerprint && d.fingerprint.replaceAll(' ', '') !== fp.toLowerCase()) out.mismatched.push(Number(id));
        else if (d) {
          d.trust = 'verified';
          out.verified.push(Number(id));
        }
      }
      if (out.verified.length) {
        devices.set(jid, [...list]);
        changed(send, jid);
      }
      return out;
    }
    case 'remove_own_device': {
      const list = devices.get(a.account as string) ?? [];
      const d = list.find((x) => x.device_id === a.deviceId);
      if (d) d.active = false;
      devices.set(a.account as string, [...list]);
      changed(send, a.account as string);
      return null;
    }
    default:
      return undefined;
  }
}
