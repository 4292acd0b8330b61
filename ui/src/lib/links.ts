// `xmpp:` links clicked in messages: those the page handles itself (joining
// a group chat opens the join dialog) go to the handler App sets; the others
// go to the system, as web links do.

import type { XmppUri } from './api';

let handler: ((u: XmppUri) => void) | null = null;

/** Sets who opens links in the page (App). */
export function onXmppLink(f: ((u: XmppUri) => void) | null): void {
  handler = f;
}

/** An `xmpp:room@service?join` link as the shell describes links; null for other links. */
export function joinLink(href: string): XmppUri | null {
  const m = /^xmpp:(?:\/\/)?([^?#]+)\?join(?:[;&].*)?$/i.exec(href.trim());
  if (!m) return null;
  let jid: string;
  try {
    jid = decodeURIComponent(m[1]).toLowerCase();
  } catch {
    return null;
  }
  return jid.includes('@') ? { jid, action: 'join', body: null, name: null } : null;
}

/** Opens an `xmpp:` link in the page when it can; false leaves it to the system. */
export function openXmppLink(href: string): boolean {
  const u = joinLink(href);
  if (!u || !handler) return false;
  handler(u);
  return true;
}
