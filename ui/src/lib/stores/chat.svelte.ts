// The open conversation: which one it is, its timeline (loaded a page at a
// time, a window of a long history), where its unread messages started,
// and marking it read.

import { api } from '../api';
import type { EngineEvent, MessageView } from '../engine';
import { errorText } from '../errors';
import { Loader } from '../lists';
import { contacts } from './contacts.svelte';
import { conversations } from './conversations.svelte';
import { profiles } from './profiles.svelte';
import { Timeline } from './timeline.svelte';

/** Messages loaded when a conversation opens, and per scroll-back page. */
export const PAGE = 60;
/**
 * Messages kept loaded at most: scrolling further back drops the newest
 * (loaded again on the way down), so memory and the work per page stay
 * bounded however far back someone scrolls.
 */
export const WINDOW = 1500;

export interface Peer {
  account: string;
  peer: string;
}

export class Chat {
  open = $state.raw<Peer | null>(null);
  /** The first message that was unread when the conversation opened (the
   *  "New messages" line stays before it while it is open). */
  unreadFrom = $state<number | null>(null);
  timeline = $state.raw(new Timeline());
  loadingOlder = $state(false);
  loadingNewer = $state(false);
  error = $state<string | null>(null);

  #loader: Loader<MessageView> | null = null;
  #readTimer: ReturnType<typeof setTimeout> | null = null;

  isOpen(account: string, peer: string): boolean {
    return this.open?.account === account && this.open.peer === peer;
  }

  /** Applies a batch of events: the open conversation's messages in one change. */
  events(list: readonly EngineEvent[]): void {
    let live: MessageView[] = [];
    // History that comes as a batch (a new device's first catch-up) is
    // announced by its conversation only: newer messages than the window
    // holds mean the newest page should be read again.
    let stale = false;
    const flush = () => {
      if (live.length) this.#add(live);
      live = [];
    };
    for (const e of list) {
      const ev = e.event;
      switch (ev.type) {
        case 'message':
          if (this.isOpen(ev.message.account, ev.message.peer) && !this.#loader?.hold(e)) live.push(ev.message);
          break;
        case 'conversation': {
          const c = ev.conversation;
          if (!this.isOpen(c.account, c.peer)) break;
          if (c.unread > 0) this.markReadSoon();
          const last = c.last;
          if (last && !this.timeline.get(last.id) && !live.some((m) => m.id === last.id) && this.timeline.accepts(last)) stale = true;
          break;
        }
        case 'conversation_deleted':
          if (this.isOpen(ev.account, ev.peer)) {
            flush();
            this.close();
          }
          break;
        case 'account_removed':
          if (this.open?.account === ev.jid) {
            flush();
            this.close();
          }
          break;
      }
    }
    flush();
    if (stale && this.open) void this.#loadLatest(this.open);
  }

  /** Live messages: those that belong in the loaded window. */
  #add(ms: MessageView[]): void {
    const t = this.timeline;
    t.addAll(ms.filter((m) => t.accepts(m)));
  }

  /** After a fresh snapshot: the open timeline again. */
  reload(): Promise<void> {
    return this.open ? this.#loadLatest(this.open) : Promise.resolve();
  }

  async #loadLatest(p: Peer): Promise<void> {
    this.error = null;
    const loader: Loader<MessageView> = new Loader<MessageView>(
      (ev) => {
        if (this.#loader === loader && ev.type === 'message' && ev.message.account === p.account && ev.message.peer === p.peer) this.#add([ev.message]);
      },
      (items) => {
        if (this.#loader !== loader) return;
        const t = new Timeline(items);
        t.complete = items.length < PAGE;
        this.timeline = t;
      },
    );
    this.#loader = loader;
    try {
      await loader.load(() => api.timeline(p.account, p.peer, PAGE));
    } catch (e) {
      this.error = errorText(e);
    }
  }

  /**
   * Opens a conversation (it need not exist yet); with `around`, at that
   * message (a search hit), loading the messages around it when they are
   * not loaded.
   */
  async openChat(account: string, peer: string, around: number | null = null): Promise<void> {
    if (this.isOpen(account, peer)) {
      if (around !== null && !this.timeline.get(around) && this.open) await this.#loadAround(this.open, around);
      return;
    }
    const p = { account, peer };
    this.open = p;
    this.unreadFrom = null;
    this.timeline = new Timeline();
    if (!contacts.get(account, peer)) profiles.load(account, peer);
    if (around === null) {
      await this.#loadLatest(p);
      if (this.open === p) this.unreadFrom = this.timeline.firstUnread()?.id ?? null;
    } else await this.#loadAround(p, around);
    this.markReadSoon(0);
  }

  /** Loads a page on each side of a message, with the message. */
  async #loadAround(p: Peer, id: number): Promise<void> {
    this.error = null;
    this.#loader = null;
    const interim = this.timeline;
    try {
      const newer = await api.loadNewer(p.account, p.peer, id, PAGE);
      // The newest messages hold it: the usual view.
      if (newer.length === 0) return await this.#loadLatest(p);
      const older = await api.loadOlder(p.account, p.peer, newer[0].id, PAGE);
      if (!this.isOpen(p.account, p.peer)) return;
      const t = new Timeline([...older, ...newer]);
      t.complete = older.length < PAGE;
      t.hasNewer = newer.length === PAGE;
      // Live messages that came while loading.
      t.addAll(interim.items.filter((m) => t.accepts(m)));
      this.timeline = t;
    } catch (e) {
      this.error = errorText(e);
    }
  }

  close(): void {
    this.open = null;
    this.unreadFrom = null;
    this.#loader = null;
  }

  /** Scroll-back: the page before the oldest loaded message. Returns how many arrived. */
  async loadOlder(): Promise<number> {
    if (this.timeline.complete || this.loadingOlder) return 0;
    this.loadingOlder = true;
    try {
      return await this.#loadPage(
        (p, t) => api.loadOlder(p.account, p.peer, t.items[0]?.id ?? null, PAGE),
        (t, page, n) => {
          if (page.length < PAGE || n === 0) t.complete = true;
          t.trimNewest(WINDOW);
        },
      );
    } finally {
      this.loadingOlder = false;
    }
  }

  /** Scrolling back down: the page after the newest loaded message, when it is not the newest stored. */
  async loadNewer(): Promise<number> {
    const last = this.timeline.items.at(-1);
    if (!last || !this.timeline.hasNewer || this.loadingNewer) return 0;
    this.loadingNewer = true;
    try {
      return await this.#loadPage(
        (p) => api.loadNewer(p.account, p.peer, last.id, PAGE),
        (t, page) => {
          if (page.length < PAGE) t.hasNewer = false;
          t.trimOldest(WINDOW);
        },
      );
    } finally {
      this.loadingNewer = false;
    }
  }

  /**
   * Fetches a page for the open timeline and adds it, unless the
   * conversation or the timeline itself was replaced meanwhile (a jump to
   * the latest or to a search hit): a page from elsewhere would leave a gap.
   */
  async #loadPage(
    fetch: (p: Peer, t: Timeline) => Promise<MessageView[]>,
    after: (t: Timeline, page: MessageView[], added: number) => void,
  ): Promise<number> {
    const p = this.open;
    const t = this.timeline;
    if (!p) return 0;
    try {
      const page = await fetch(p, t);
      if (this.timeline !== t || !this.isOpen(p.account, p.peer)) return 0;
      const n = t.addAll(page);
      after(t, page, n);
      return n;
    } catch (e) {
      this.error = errorText(e);
      return 0;
    }
  }

  /** Loads the newest messages again when only an older part of the history is loaded. */
  async toLatest(): Promise<void> {
    if (this.open && this.timeline.hasNewer) await this.#loadLatest(this.open);
  }

  /** Marks the open conversation read when the window has focus. */
  markReadSoon(delay = 300): void {
    if (this.#readTimer) clearTimeout(this.#readTimer);
    this.#readTimer = setTimeout(() => {
      const p = this.open;
      if (!p || !document.hasFocus()) return;
      const c = conversations.get(p.account, p.peer);
      if (c && c.unread > 0) void api.markRead(p.account, p.peer).catch(() => {});
    }, delay);
  }
}

export const chat = new Chat();
