// Conversations, contacts, the open timeline, typing notices, requests and
// blocklists as Svelte state, kept current by the engine's events (the
// EngineMirror hands every full state and applied event here, in order).

import { api } from './api';
import { Drafts } from './drafts';
import type { ClientEvent, ContactView, ConversationView, EngineEvent, MessageView, ProfileView, SnapshotView } from './engine';
import { errorText } from './errors';
import {
  applyChatState,
  applyProfile,
  expireTyping,
  isTyping,
  keyOf,
  Loader,
  removeContact,
  removeConversation,
  sortContacts,
  upsertContact,
  upsertConversation,
  type Inbox,
  type Typing,
} from './lists';
import { Timeline } from './timeline';

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

class Messaging {
  conversations = $state.raw<ConversationView[]>([]);
  contacts = $state.raw<ContactView[]>([]);
  typing = $state.raw<Typing>({});
  inbox = $state.raw<Inbox>({ requests: [], blocked: {} });
  /** History catch-up progress per account (messages fetched) while it runs. */
  syncing = $state.raw<Record<string, number>>({});
  /** Avatars and nicknames of people who are not contacts, by key. */
  profiles = $state.raw<Record<string, ProfileView>>({});
  now = $state(Date.now());

  open = $state.raw<Peer | null>(null);
  /** The first message that was unread when the conversation opened (the
   *  "New messages" line stays before it while it is open). */
  unreadFrom = $state<number | null>(null);
  timeline = new Timeline();
  /** Changes whenever `timeline` does. */
  version = $state(0);
  loadingOlder = $state(false);
  loadingNewer = $state(false);
  timelineError = $state<string | null>(null);

  /** Unsent text per conversation, kept across restarts. */
  drafts = new Drafts();

  private accounts: string[] = [];
  private convLoader = new Loader<ConversationView>(
    (l, ev) =>
      ev.type === 'conversation'
        ? upsertConversation(l, ev.conversation)
        : ev.type === 'conversation_deleted'
          ? removeConversation(l, ev.account, ev.peer)
          : l,
    (l) => (this.conversations = l),
  );
  private contactLoader = new Loader<ContactView>(
    (l, ev) => this.contactChange(l, ev),
    (l) => (this.contacts = sortContacts(l)),
  );
  private timelineLoader: Loader<MessageView> | null = null;
  private clock: ReturnType<typeof setInterval> | null = null;
  private readTimer: ReturnType<typeof setTimeout> | null = null;

  // EngineMirror observer -------------------------------------------------

  reset(view: SnapshotView): void {
    this.accounts = view.snapshot.accounts.map((a) => a.jid);
    void this.reload();
  }

  events(list: EngineEvent[]): void {
    for (const e of list) this.event(e);
  }

  event(e: EngineEvent): void {
    const ev = e.event;
    switch (ev.type) {
      case 'conversation':
        if (!this.convLoader.hold(e)) this.conversations = upsertConversation(this.conversations, ev.conversation);
        if (this.isOpen(ev.conversation.account, ev.conversation.peer) && ev.conversation.unread > 0) this.markReadSoon();
        break;
      case 'conversation_deleted':
        if (!this.convLoader.hold(e)) this.conversations = removeConversation(this.conversations, ev.account, ev.peer);
        this.drafts.delete(keyOf(ev.account, ev.peer));
        if (this.isOpen(ev.account, ev.peer)) this.close();
        break;
      case 'message':
        if (this.isOpen(ev.message.account, ev.message.peer) && !this.timelineLoader?.hold(e)) {
          if (this.timeline.accepts(ev.message) && this.timeline.upsert(ev.message)) this.version += 1;
        }
        if (!ev.message.outgoing) this.typing = applyChatState(this.typing, ev.message.account, ev.message.peer, 'active', Date.now());
        break;
      case 'chat_state':
        this.typing = applyChatState(this.typing, ev.account, ev.peer, ev.state, Date.now());
        this.tick();
        break;
      case 'profile':
        this.profiles = { ...this.profiles, [keyOf(ev.account, ev.jid)]: ev.profile };
        if (!this.contactLoader.hold(e)) this.contacts = applyProfile(this.contacts, ev.account, ev.jid, ev.profile);
        break;
      case 'contact':
      case 'contact_removed':
        if (!this.contactLoader.hold(e)) this.contacts = this.contactChange(this.contacts, ev);
        break;
      case 'history_sync': {
        const next = { ...this.syncing };
        if (ev.done) delete next[ev.account];
        else next[ev.account] = ev.fetched;
        this.syncing = next;
        if (ev.done) void this.convLoader.load(() => api.conversations());
        break;
      }
      case 'account_added':
        this.accounts = [...this.accounts, ev.account.jid];
        void this.loadContacts();
        break;
      case 'account_removed':
        this.accounts = this.accounts.filter((a) => a !== ev.jid);
        this.drafts.deleteAccount(ev.jid);
        this.contacts = this.contacts.filter((c) => c.account !== ev.jid);
        this.conversations = this.conversations.filter((c) => c.account !== ev.jid);
        if (this.open?.account === ev.jid) this.close();
        break;
    }
  }

  private contactChange(l: ContactView[], ev: ClientEvent): ContactView[] {
    if (ev.type === 'contact') return upsertContact(l, ev.contact);
    if (ev.type === 'contact_removed') return removeContact(l, ev.account, ev.jid);
    if (ev.type === 'profile') return applyProfile(l, ev.account, ev.jid, ev.profile);
    return l;
  }

  // Loading ------------------------------------------------------------------

  private async reload(): Promise<void> {
    await Promise.all([
      this.convLoader.load(() => api.conversations()).catch(() => {}),
      this.loadContacts(),
      this.open ? this.loadTimeline(this.open) : Promise.resolve(),
    ]);
  }

  private async loadContacts(): Promise<void> {
    const accounts = [...this.accounts];
    await this.contactLoader
      .load(async () => {
        const lists = await Promise.all(accounts.map((a) => api.roster(a).catch(() => ({ seq: Infinity, items: [] as ContactView[] }))));
        const seq = Math.min(...lists.map((l) => l.seq), Number.MAX_SAFE_INTEGER);
        return { seq, items: lists.flatMap((l) => l.items) };
      })
      .catch(() => {});
  }

  private async loadTimeline(p: Peer): Promise<void> {
    this.timelineError = null;
    const loader = new Loader<MessageView>(
      (l, ev) => (ev.type === 'message' && ev.message.account === p.account && ev.message.peer === p.peer ? [...l.filter((m) => m.id !== ev.message.id), ev.message] : l),
      (l) => {
        if (this.timelineLoader !== loader) return;
        this.timeline = new Timeline(l);
        this.timeline.complete = l.length < PAGE;
        this.version += 1;
      },
    );
    this.timelineLoader = loader;
    try {
      await loader.load(() => api.timeline(p.account, p.peer, PAGE));
    } catch (e) {
      this.timelineError = errorText(e);
    }
  }

  // Intents -------------------------------------------------------------------

  isOpen(account: string, peer: string): boolean {
    return this.open?.account === account && this.open.peer === peer;
  }

  /**
   * Opens a conversation (it need not exist yet); with `around`, at that
   * message (a search hit), loading the messages around it when they are
   * not loaded.
   */
  async openChat(account: string, peer: string, around: number | null = null): Promise<void> {
    if (this.isOpen(account, peer)) {
      if (around !== null && !this.timeline.get(around) && this.open) await this.loadAround(this.open, around);
      return;
    }
    this.open = { account, peer };
    this.unreadFrom = null;
    this.timeline = new Timeline();
    this.version += 1;
    if (!this.contact(account, peer) && !this.profiles[keyOf(account, peer)])
      void api
        .profile(account, peer)
        .then((p) => (this.profiles = { ...this.profiles, [keyOf(account, peer)]: p }))
        .catch(() => {});
    if (around === null) {
      await this.loadTimeline(this.open);
      if (this.isOpen(account, peer)) this.unreadFrom = this.timeline.firstUnread()?.id ?? null;
    } else await this.loadAround(this.open, around);
    this.markReadSoon(0);
  }

  /** Loads a page on each side of a message, with the message. */
  private async loadAround(p: Peer, id: number): Promise<void> {
    this.timelineError = null;
    this.timelineLoader = null;
    const interim = this.timeline;
    try {
      const newer = await api.loadNewer(p.account, p.peer, id, PAGE);
      // The newest messages hold it: the usual view.
      if (newer.length === 0) return await this.loadTimeline(p);
      const older = await api.loadOlder(p.account, p.peer, newer[0].id, PAGE);
      if (!this.isOpen(p.account, p.peer)) return;
      const t = new Timeline([...older, ...newer]);
      t.complete = older.length < PAGE;
      t.hasNewer = newer.length === PAGE;
      // Live messages that came while loading.
      for (const m of interim.items) if (t.accepts(m)) t.upsert(m);
      this.timeline = t;
      this.version += 1;
    } catch (e) {
      this.timelineError = errorText(e);
    }
  }

  close(): void {
    this.open = null;
    this.unreadFrom = null;
  }

  /** Loads what is stored of someone's avatar and nickname (the account's own included), once. */
  loadProfile(account: string, jid: string): void {
    const key = keyOf(account, jid);
    if (this.profiles[key]) return;
    void api
      .profile(account, jid)
      .then((p) => {
        if (p && !this.profiles[key]) this.setProfile(account, jid, p);
      })
      .catch(() => {});
  }

  /** Keeps a profile the UI changed before the engine's event arrives. */
  setProfile(account: string, jid: string, p: ProfileView): void {
    this.profiles = { ...this.profiles, [keyOf(account, jid)]: p };
  }

  /** The account's own avatar and nickname, as last known. */
  ownProfile(account: string): ProfileView {
    return this.profiles[keyOf(account, account)] ?? { avatar: null, nickname: null };
  }

  /** Scroll-back: the page before the oldest loaded message. Returns how many arrived. */
  async loadOlder(): Promise<number> {
    if (this.timeline.complete || this.loadingOlder) return 0;
    this.loadingOlder = true;
    try {
      return await this.loadPage(
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
      return await this.loadPage(
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
  private async loadPage(
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
      this.version += 1;
      return n;
    } catch (e) {
      this.timelineError = errorText(e);
      return 0;
    }
  }

  /** Loads the newest messages again when only an older part of the history is loaded. */
  async toLatest(): Promise<void> {
    if (this.open && this.timeline.hasNewer) await this.loadTimeline(this.open);
  }

  /** Marks the open conversation read when the window has focus. */
  markReadSoon(delay = 300): void {
    if (this.readTimer) clearTimeout(this.readTimer);
    this.readTimer = setTimeout(() => {
      const p = this.open;
      if (!p || !document.hasFocus()) return;
      const c = this.conversation(p.account, p.peer);
      if (c && c.unread > 0) void api.markRead(p.account, p.peer).catch(() => {});
    }, delay);
  }

  // Lookups -------------------------------------------------------------------

  conversation(account: string, peer: string): ConversationView | undefined {
    return this.conversations.find((c) => c.account === account && c.peer === peer);
  }

  contact(account: string, jid: string): ContactView | undefined {
    return this.contacts.find((c) => c.account === account && c.jid === jid);
  }

  /** Name and avatar of anyone: the contact, else what their profile says. */
  person(account: string, jid: string): { name: string | null; nickname: string | null; avatar: string | null } {
    const c = this.contact(account, jid);
    const p = this.profiles[keyOf(account, jid)];
    return { name: c?.name ?? null, nickname: c?.nickname ?? p?.nickname ?? null, avatar: c?.avatar ?? p?.avatar ?? null };
  }

  isTyping(account: string, peer: string): boolean {
    return isTyping(this.typing, account, peer, this.now);
  }

  blocked(account: string): string[] {
    return this.inbox.blocked[account] ?? [];
  }

  /** Unread messages over all conversations. */
  get unread(): number {
    return this.conversations.reduce((n, c) => n + c.unread, 0);
  }

  /** Keeps `now` moving while typing notices may expire. */
  private tick(): void {
    this.now = Date.now();
    if (Object.keys(this.typing).length > 0 && !this.clock) {
      this.clock = setInterval(() => {
        this.now = Date.now();
        this.typing = expireTyping(this.typing, this.now);
        if (Object.keys(this.typing).length === 0 && this.clock) {
          clearInterval(this.clock);
          this.clock = null;
        }
      }, 1000);
    }
  }

  /** Keys, for tests. */
  static key = keyOf;
}

export const messaging = new Messaging();
