// The engine's state as the UI sees it: a TypeScript mirror of the Rust
// types in crates/core/src/events.rs and error.rs, and of `Snapshot::apply`.
// The shell (src-tauri/src/boundary.rs) sends them unchanged.

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

export interface Snapshot {
  accounts: AccountView[];
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

/** A conversation in the list (`ConversationView`). */
export interface ConversationView {
  account: string;
  peer: string;
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
  | { type: 'profile'; account: string; jid: string; profile: ProfileView }
  | { type: 'blocklist'; account: string; blocked: string[]; unblocked: string[]; unblocked_all: boolean }
  | { type: 'history_sync'; account: string; fetched: number; done: boolean };

/** An unanswered presence subscription request, kept by the shell. */
export interface SubscriptionRequest {
  account: string;
  from: string;
  /** The nickname they gave. */
  nick?: string | null;
}

/** `SnapshotView` from the shell: state plus the number of the last event in it. */
export interface SnapshotView {
  seq: number;
  snapshot: Snapshot;
  /** Unanswered subscription requests, oldest first. */
  requests?: SubscriptionRequest[];
  /** Blocked addresses per account. */
  blocked?: Record<string, string[]>;
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

/** `EngineEvent` from the shell: one numbered change. */
export interface EngineEvent {
  seq: number;
  event: ClientEvent;
}

export const emptySnapshot = (): Snapshot => ({ accounts: [] });

/**
 * Applies one event and returns the new snapshot (the input is not changed).
 * Same rules as `Snapshot::apply` in Rust; unknown events change nothing, so
 * an older UI keeps working with a newer engine.
 */
export function applyEvent(s: Snapshot, ev: ClientEvent): Snapshot {
  const update = (jid: string, f: (a: AccountView) => AccountView): Snapshot => ({
    ...s,
    accounts: s.accounts.map((a) => (a.jid === jid ? f(a) : a)),
  });
  switch (ev.type) {
    case 'account_added':
      return { ...s, accounts: [...s.accounts.filter((a) => a.jid !== ev.account.jid), ev.account] };
    case 'account_removed':
      return { ...s, accounts: s.accounts.filter((a) => a.jid !== ev.jid) };
    case 'account_enabled':
      return update(ev.jid, (a) => ({ ...a, enabled: ev.enabled }));
    case 'account_state':
      return update(ev.jid, (a) => ({ ...a, state: ev.state }));
    default:
      return s;
  }
}

/**
 * Joins the snapshot command and the event stream without losing or
 * repeating a change: events that arrive before the snapshot are held, and
 * only events newer than the snapshot's `seq` are applied. A gap in the
 * numbering asks for a fresh snapshot.
 */
export class EngineMirror {
  seq = -1;
  snapshot: Snapshot = emptySnapshot();
  private held: EngineEvent[] = [];

  constructor(
    private readonly onChange: (s: Snapshot) => void,
    private readonly onGap: () => void = () => {},
    /** Sees every full state and every applied event, in order. */
    private readonly observer?: { reset(view: SnapshotView): void; event(e: EngineEvent): void },
  ) {}

  get ready(): boolean {
    return this.seq >= 0;
  }

  /** A full state: the answer to `snapshot`, or a resync event. */
  reset(view: SnapshotView): void {
    if (this.ready && view.seq < this.seq) return;
    this.seq = view.seq;
    this.snapshot = view.snapshot;
    this.observer?.reset(view);
    const held = this.held.filter((e) => e.seq > view.seq).sort((a, b) => a.seq - b.seq);
    this.held = [];
    for (const e of held) this.applyNumbered(e, false);
    this.onChange(this.snapshot);
  }

  /** One numbered change. */
  event(e: EngineEvent): void {
    if (!this.ready) {
      this.held.push(e);
      return;
    }
    this.applyNumbered(e, true);
  }

  private applyNumbered(e: EngineEvent, notify: boolean): void {
    if (e.seq <= this.seq) return;
    if (e.seq > this.seq + 1) {
      this.onGap();
      return;
    }
    this.seq = e.seq;
    this.snapshot = applyEvent(this.snapshot, e.event);
    this.observer?.event(e);
    if (notify) this.onChange(this.snapshot);
  }
}
