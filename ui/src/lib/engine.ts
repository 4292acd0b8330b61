// The engine's state as the UI sees it: its types, generated from the Rust
// definitions, and the mirror of `Snapshot::apply` that keeps it current.
// Components import these types from here and nowhere else.

// ---------------------------------------------------------------------------
// IPC types: generated from the Rust definitions (src-tauri, tern_app::bindings)
// ---------------------------------------------------------------------------

import type {
  AccountState,
  AccountView,
  CallDevicesView,
  CallsView,
  CallView,
  ChatState,
  ClientEvent,
  ConnectError,
  ContactView,
  ConversationKind,
  ConversationView,
  DeviceChoice,
  DeviceTrust,
  DeviceView,
  EncryptionView,
  EngineEvents,
  FilePrefs,
  FileState,
  FileView,
  InvitationView,
  Listed,
  MessageState,
  MessageView,
  OccupantView,
  OwnEncryptionView,
  ProfileView,
  QrCode,
  ResourcePresence,
  RoomInfoView,
  RoomKind,
  RoomListing,
  RoomMember,
  RoomNotify,
  RoomStatus,
  RoomView,
  SearchHit,
  Show,
  Snapshot,
  SnapshotView,
  SoundDevice,
  Subscription,
  SubscriptionRequest,
  UriVerification,
  UploadView,
  PhotoQuality,
  PickedFile,
} from './generated/bindings';

export type {
  AccountState,
  AccountView,
  CallDevicesView,
  CallsView,
  CallView,
  ChatState,
  ClientEvent,
  ConnectError,
  ContactView,
  ConversationKind,
  ConversationView,
  DeviceChoice,
  DeviceTrust,
  DeviceView,
  EncryptionView,
  FilePrefs,
  FileState,
  FileView,
  InvitationView,
  Listed,
  MessageState,
  MessageView,
  OccupantView,
  OwnEncryptionView,
  ProfileView,
  QrCode,
  ResourcePresence,
  RoomInfoView,
  RoomKind,
  RoomListing,
  RoomMember,
  RoomNotify,
  RoomStatus,
  RoomView,
  SearchHit,
  Show,
  Snapshot,
  SnapshotView,
  SoundDevice,
  Subscription,
  SubscriptionRequest,
  UriVerification,
  UploadView,
  PhotoQuality,
  PickedFile,
};

export type ConnectErrorKind = ConnectError['kind'];

/** What `engine:events` carries (as JSON in a string): changes in order, numbered
 *  `seq - events.length + 1` to `seq` (`seq` is the number of the last). */
export type EventBatch = EngineEvents;


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

export const emptySnapshot = (): Snapshot => ({ accounts: [], requests: [], blocked: {}, rooms: [], invitations: [] });

/** The list without the entry of `account` and `jid`; the same array when there is none. */
function without<T extends { account: string }>(list: T[], account: string, is: (x: T) => boolean): T[] {
  const i = list.findIndex((x) => x.account === account && is(x));
  return i < 0 ? list : [...list.slice(0, i), ...list.slice(i + 1)];
}

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
      const rooms = s.rooms ?? [];
      const invitations = s.invitations ?? [];
      return {
        accounts: s.accounts.filter((a) => a.jid !== ev.jid),
        requests: s.requests.some((r) => r.account === ev.jid) ? s.requests.filter((r) => r.account !== ev.jid) : s.requests,
        blocked: ev.jid in s.blocked ? blocked : s.blocked,
        rooms: rooms.some((r) => r.account === ev.jid) ? rooms.filter((r) => r.account !== ev.jid) : rooms,
        invitations: invitations.some((r) => r.account === ev.jid) ? invitations.filter((r) => r.account !== ev.jid) : invitations,
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
    case 'room': {
      // Upsert by account and address, in place (the order rooms came in).
      const rooms = s.rooms ?? [];
      const i = rooms.findIndex((r) => r.account === ev.room.account && r.jid === ev.room.jid);
      return { ...s, rooms: i < 0 ? [...rooms, ev.room] : rooms.map((r, j) => (j === i ? ev.room : r)) };
    }
    case 'room_removed': {
      const rooms = without(s.rooms ?? [], ev.account, (r) => r.jid === ev.jid);
      return rooms === s.rooms ? s : { ...s, rooms };
    }
    case 'invitation': {
      // Once per account and room: a new invitation replaces an older one (and goes last).
      const inv = ev.invitation;
      return { ...s, invitations: [...without(s.invitations ?? [], inv.account, (x) => x.room === inv.room), inv] };
    }
    case 'invitation_removed': {
      const invitations = without(s.invitations ?? [], ev.account, (x) => x.room === ev.room);
      return invitations === s.invitations ? s : { ...s, invitations };
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
