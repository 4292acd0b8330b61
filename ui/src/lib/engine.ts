// The engine's state as the UI sees it: a TypeScript mirror of the Rust
// types in crates/core/src/events.rs and error.rs, and of `Snapshot::apply`.
// The shell (src-tauri/src/boundary.rs) sends them unchanged.
//
// Components import these types from here and nowhere else, so that the
// block below can be replaced by types generated from the Rust definitions
// (re-exported from this file) without touching them.

// ---------------------------------------------------------------------------
// IPC types: begin (mirror of the Rust definitions; keep in step with them)
// ---------------------------------------------------------------------------

/** Why a connection attempt failed (`ConnectError`, tagged by `kind`). */
export type ConnectError =
  | { kind: 'authentication_failed'; condition: string }
  | { kind: 'account_disabled' }
  | { kind: 'certificate_untrusted'; fingerprint: string; sha256: string; reason: string }
  | { kind: 'dns_failure'; domain: string; detail: string }
  | { kind: 'host_unreachable'; host: string; detail: string }
  | { kind: 'tls_failure'; detail: string }
  | { kind: 'no_encryption' }
  | { kind: 'no_usable_mechanism'; offered: string }
  | { kind: 'conflict' }
  | { kind: 'see_other_host'; host: string }
  | { kind: 'policy_violation'; text: string }
  | { kind: 'stream_error'; condition: string; text: string }
  | { kind: 'connection_lost'; detail: string }
  | { kind: 'timeout' }
  | { kind: 'protocol'; detail: string }
  | { kind: 'password_unavailable'; detail: string };

export type ConnectErrorKind = ConnectError['kind'];

/** Connection state of one account (`AccountState`, tagged by `state`). */
export type AccountState =
  | { state: 'disabled' }
  | { state: 'connecting'; attempt: number }
  | { state: 'connected'; bound_jid: string; resumed: boolean }
  | { state: 'reconnecting'; attempt: number; retry_in_ms: number; error: ConnectError }
  | { state: 'failed'; error: ConnectError };

export interface AccountView {
  jid: string;
  enabled: boolean;
  state: AccountState;
}


/** Delivery state of a message (`MessageView::state`). */
export type MessageState = 'queued' | 'sent' | 'acked' | 'delivered' | 'read' | 'failed' | 'received' | 'seen';

/** A message (`MessageView`). */
export interface MessageView {
  /** Local id, stable; used for actions. */
  id: number;
  account: string;
  peer: string;
  outgoing: boolean;
  sender: string;
  /** Cross-device id (XEP-0359). */
  uid: string;
  /** Empty once retracted. */
  body: string;
  timestamp_ms: number;
  state: MessageState;
  edited: boolean;
  retracted: boolean;
  /** uid (or id) of the message this one replies to. */
  reply_to: string | null;
  /** Emojis by the JID that reacted. */
  reactions: Record<string, string[]>;
  /** A `/me` action. */
  me: boolean;
  /** Why it was not sent (`state` is `failed`): an XMPP error condition,
   *  or null when it never reached a server. */
  failure: string | null;
  /** The server's own words about that, if any (plain text). */
  failure_text: string | null;
}

/** What a conversation is with (`ConversationKind`): one person, a group
 *  chat, or one occupant of a group chat in private. */
export type ConversationKind = 'chat' | 'groupchat' | 'groupchat_pm';

/** A conversation in the list (`ConversationView`). */
export interface ConversationView {
  account: string;
  peer: string;
  kind: ConversationKind;
  unread: number;
  updated_ms: number;
  last: MessageView | null;
}

export type Show = 'available' | 'chat' | 'away' | 'xa' | 'dnd';

export interface ResourcePresence {
  resource: string;
  show: Show;
  status: string | null;
  priority: number;
  /** Client software, from its entity capabilities. */
  client?: string | null;
}

/** A contact with its presence (`ContactView`). */
export interface ContactView {
  account: string;
  jid: string;
  name: string | null;
  subscription: 'none' | 'to' | 'from' | 'both';
  /** Our request to see their presence is pending. */
  ask: boolean;
  groups: string[];
  /** Online resources, highest priority first; empty = offline. */
  presence: ResourcePresence[];
  /** SHA-1 of the avatar (served as tern-media://localhost/avatar/<hash>). */
  avatar?: string | null;
  /** Nickname the contact chose (XEP-0172); `name` wins. */
  nickname?: string | null;
}

/** Avatar and nickname someone shows (`ProfileView`). */
export interface ProfileView {
  avatar: string | null;
  nickname: string | null;
}

export type ChatState = 'active' | 'composing' | 'paused' | 'inactive' | 'gone';

/** A change (`ClientEvent`, tagged by `type`). */
export type ClientEvent =
  | { type: 'account_added'; account: AccountView }
  | { type: 'account_removed'; jid: string }
  | { type: 'account_enabled'; jid: string; enabled: boolean }
  | { type: 'account_state'; jid: string; state: AccountState }
  | { type: 'message'; message: MessageView }
  | { type: 'conversation'; conversation: ConversationView }
  | { type: 'conversation_deleted'; account: string; peer: string }
  | { type: 'chat_state'; account: string; peer: string; state: ChatState }
  | { type: 'contact'; contact: ContactView }
  | { type: 'contact_removed'; account: string; jid: string }
  | { type: 'subscription_request'; account: string; from: string; nick?: string | null }
  | { type: 'subscription_request_removed'; account: string; from: string }
  | { type: 'profile'; account: string; jid: string; profile: ProfileView }
  | { type: 'blocklist'; account: string; blocked: string[]; unblocked: string[]; unblocked_all: boolean }
  | { type: 'history_sync'; account: string; fetched: number; done: boolean };

/** An unanswered presence subscription request (`SubscriptionRequest`). */
export interface SubscriptionRequest {
  account: string;
  from: string;
  /** The nickname they gave. */
  nick?: string | null;
}

/** The engine's state (`Snapshot`), kept current by `applyEvent`. */
export interface Snapshot {
  accounts: AccountView[];
  /** Unanswered subscription requests, oldest first. */
  requests: SubscriptionRequest[];
  /** Blocked addresses per account, sorted. */
  blocked: Record<string, string[]>;
}

/** `SnapshotView`: the state plus the number of the last event in it (the
 *  answer to `snapshot`, and the payload of `engine:resync`). */
export interface SnapshotView {
  seq: number;
  snapshot: Snapshot;
}

/** A list command's answer: events above `seq` may be newer than `items`. */
export interface Listed<T> {
  seq: number;
  items: T[];
}

/** Search result: the message and an excerpt with matches in `[` `]`. */
export interface SearchHit {
  message: MessageView;
  snippet: string;
}

/** The payload of `engine:events`: changes in order, numbered
 *  `seq - events.length + 1` to `seq` (`seq` is the number of the last). */
export interface EventBatch {
  seq: number;
  events: ClientEvent[];
}

// ---------------------------------------------------------------------------
// IPC types: end
// ---------------------------------------------------------------------------

/** One change with its number, as the mirror hands it on (events of a
 *  batch are numbered in order, see `EventBatch`). */
export interface EngineEvent {
  seq: number;
  event: ClientEvent;
}

/** The numbered changes of a batch. */
export function numbered(batch: EventBatch): EngineEvent[] {
  const first = batch.seq - batch.events.length + 1;
  return batch.events.map((event, i) => ({ seq: first + i, event }));
}

export const emptySnapshot = (): Snapshot => ({ accounts: [], requests: [], blocked: {} });

/** The requests without the one from `from` to `account`; the same array when there is none. */
function withoutRequest(list: SubscriptionRequest[], account: string, from: string): SubscriptionRequest[] {
  const i = list.findIndex((r) => r.account === account && r.from === from);
  return i < 0 ? list : [...list.slice(0, i), ...list.slice(i + 1)];
}

/**
 * Applies one event and returns the new snapshot (the input is not changed;
 * parts an event leaves alone are shared). Same rules as `Snapshot::apply`
 * in Rust; unknown events change nothing, so an older UI keeps working with
 * a newer engine.
 */
export function applyEvent(s: Snapshot, ev: ClientEvent): Snapshot {
  const update = (jid: string, f: (a: AccountView) => AccountView): Snapshot => ({
    ...s,
    accounts: s.accounts.map((a) => (a.jid === jid ? f(a) : a)),
  });
  switch (ev.type) {
    case 'account_added':
      return { ...s, accounts: [...s.accounts.filter((a) => a.jid !== ev.account.jid), ev.account] };
    case 'account_removed': {
      const blocked = { ...s.blocked };
      delete blocked[ev.jid];
      return {
        accounts: s.accounts.filter((a) => a.jid !== ev.jid),
        requests: s.requests.some((r) => r.account === ev.jid) ? s.requests.filter((r) => r.account !== ev.jid) : s.requests,
        blocked: ev.jid in s.blocked ? blocked : s.blocked,
      };
    }
    case 'account_enabled':
      return update(ev.jid, (a) => ({ ...a, enabled: ev.enabled }));
    case 'account_state':
      return update(ev.jid, (a) => ({ ...a, state: ev.state }));
    case 'subscription_request':
      // Once per account and address: a new request replaces an older one (and goes last).
      return {
        ...s,
        requests: [...withoutRequest(s.requests, ev.account, ev.from), { account: ev.account, from: ev.from, nick: ev.nick ?? null }],
      };
    case 'subscription_request_removed': {
      const requests = withoutRequest(s.requests, ev.account, ev.from);
      return requests === s.requests ? s : { ...s, requests };
    }
    case 'contact': {
      // They may see our presence now: nothing left to answer.
      if (ev.contact.subscription !== 'from' && ev.contact.subscription !== 'both') return s;
      const requests = withoutRequest(s.requests, ev.contact.account, ev.contact.jid);
      return requests === s.requests ? s : { ...s, requests };
    }
    case 'blocklist': {
      // In this order: everyone unblocked, then the unblocked, then the blocked.
      const list = new Set(ev.unblocked_all ? [] : (s.blocked[ev.account] ?? []));
      for (const j of ev.unblocked) list.delete(j);
      for (const j of ev.blocked) list.add(j);
      return { ...s, blocked: { ...s.blocked, [ev.account]: [...list].sort() } };
    }
    default:
      return s;
  }
}

/** Sees every full state and every batch of applied events, in order. */
export interface MirrorObserver {
  reset(view: SnapshotView): void;
  /** The events of one batch that were applied (numbered, in order). */
  events(list: EngineEvent[]): void;
}

/**
 * Joins the snapshot command and the event stream without losing or
 * repeating a change: batches that arrive before the snapshot are held, and
 * only events numbered above the snapshot's `seq` are applied. A gap in the
 * numbering asks for a fresh snapshot (once; batches are held until it
 * comes). A batch is applied whole, then announced once.
 */
export class EngineMirror {
  seq = -1;
  snapshot: Snapshot = emptySnapshot();
  private held: EventBatch[] = [];
  /** A gap was seen: waiting for a fresh snapshot. */
  private resyncing = false;

  constructor(
    private readonly onChange: (s: Snapshot) => void,
    private readonly onGap: () => void = () => {},
    private readonly observer?: MirrorObserver,
  ) {}

  get ready(): boolean {
    return this.seq >= 0;
  }

  /** A full state: the answer to `snapshot`, or a resync event. */
  reset(view: SnapshotView): void {
    if (this.ready && view.seq < this.seq) return;
    this.seq = view.seq;
    this.snapshot = view.snapshot;
    this.resyncing = false;
    this.observer?.reset(view);
    const held = this.held.sort((a, b) => a.seq - b.seq);
    this.held = [];
    for (const b of held) this.apply(b);
    this.onChange(this.snapshot);
  }

  /** One batch of numbered changes (`engine:events`). */
  batch(b: EventBatch): void {
    if (!this.ready || this.resyncing) {
      this.held.push(b);
      return;
    }
    const before = this.snapshot;
    this.apply(b);
    if (this.snapshot !== before) this.onChange(this.snapshot);
  }

  /** Applies the events numbered above `seq`; on a gap, holds the batch and asks for a snapshot. */
  private apply(b: EventBatch): void {
    if (this.resyncing) {
      this.held.push(b);
      return;
    }
    const list = numbered(b).filter((e) => e.seq > this.seq);
    if (list.length === 0) return;
    if (list[0].seq > this.seq + 1) {
      this.resyncing = true;
      this.held.push(b);
      this.onGap();
      return;
    }
    for (const e of list) this.snapshot = applyEvent(this.snapshot, e.event);
    this.seq = b.seq;
    this.observer?.events(list);
  }
}
