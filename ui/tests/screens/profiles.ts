// Profile commands for the screen harness: the account's own avatar and
// nickname, and vCards (one full, one failing, one hostile). Pictures
// arrive as raw bytes with the account in a header, as from the real shell.

import type { ClientEvent, ProfileView } from '../../src/lib/engine';
import type { VCardView } from '../../src/lib/profile';
import { HOSTILE, PEERS } from './chats';

type Send = (ev: ClientEvent) => void;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** The hash the mocked engine gives every new picture. */
export const NEW_AVATAR = '5f2b9e0c41d7a3b86e1f0c9d2a7b4e8f13c6d5a0';

const empty = (): VCardView => ({
  full_name: null,
  nickname: null,
  given_name: null,
  family_name: null,
  emails: [],
  phones: [],
  url: null,
  organisation: null,
  title: null,
  birthday: null,
  description: null,
  photo: null,
});

const cards: Record<string, VCardView> = {
  [PEERS.JULIET]: {
    ...empty(),
    full_name: 'Juliet Capulet',
    given_name: 'Juliet',
    family_name: 'Capulet',
    nickname: 'Jules',
    emails: ['juliet@capulet.example', 'j.capulet@verona.example'],
    phones: ['+39 045 555 0101'],
    url: 'https://capulet.example/juliet',
    organisation: 'House Capulet',
    title: 'Heiress',
    birthday: '1583-07-31',
    description: 'Balcony enthusiast.\nReplies slowly after dark.',
  },
  [PEERS.HOSTILE_PEER]: {
    ...empty(),
    full_name: HOSTILE.script,
    nickname: HOSTILE.bidi,
    given_name: HOSTILE.img,
    family_name: HOSTILE.svg,
    emails: [HOSTILE.anchor],
    phones: [HOSTILE.html],
    url: HOSTILE.link,
    organisation: '<iframe src="javascript:window.__pwned=8"></iframe>',
    title: '<style>*{display:none}</style>',
    birthday: '<math><mtext><table><mglyph><style><img src=x onerror=window.__pwned=9>',
    description: `${HOSTILE.anchor}\n${HOSTILE.script}`,
  },
};

const own: Record<string, ProfileView> = {};
const later = <T>(ms: number, v: () => T) => new Promise<T>((r) => setTimeout(() => r(v()), ms));
const uiError = (kind: string, message: string) => Promise.reject({ kind, message });

/** Answers a profile command, or `undefined` when `cmd` is not one. */
export function profileCommand(cmd: string, args: unknown, headers: Record<string, string> | undefined, send: Send): unknown {
  const a = (args ?? {}) as Record<string, string | null>;
  switch (cmd) {
    case 'profile':
      return own[`${a.account}|${a.jid}`] ?? { avatar: null, nickname: null };
    case 'set_avatar': {
      const account = decodeURIComponent(headers?.['Tern-Account'] ?? '');
      if (!(args instanceof Uint8Array) || !account) return uiError('bad_request', 'The picture did not arrive as a file. Choose it again.');
      if (!PNG_SIGNATURE.every((b, i) => args[i] === b))
        return later(200, () => null).then(() =>
          uiError('invalid_image', 'This picture can’t be used: the file is not a picture Tern can read. Choose a PNG, JPEG, GIF or WebP picture.'),
        );
      return later(200, () => {
        const p = { ...(own[`${account}|${account}`] ?? { avatar: null, nickname: null }), avatar: NEW_AVATAR };
        own[`${account}|${account}`] = p;
        send({ type: 'profile', account, jid: account, profile: p });
        return NEW_AVATAR;
      });
    }
    case 'remove_avatar':
    case 'set_nickname': {
      const account = a.account as string;
      const before = own[`${account}|${account}`] ?? { avatar: null, nickname: null };
      const p = cmd === 'remove_avatar' ? { ...before, avatar: null } : { ...before, nickname: a.nickname };
      own[`${account}|${account}`] = p;
      send({ type: 'profile', account, jid: account, profile: p });
      return null;
    }
    case 'vcard':
      if (a.jid === PEERS.ROMEO)
        return later(150, () => null).then(() => uiError('timeout', 'The server did not answer in time. Check the connection and try again.'));
      if (a.jid === PEERS.NURSE) return new Promise(() => {});
      return later(150, () => cards[a.jid as string] ?? empty());
    default:
      return undefined;
  }
}
