// Keeps the stores current with the engine: the snapshot, then batches of
// numbered events (EngineMirror joins the two). Each store takes a whole
// batch at once, so the page updates once per batch.

import { api, listenEngine } from '../api';
import { EngineMirror, type EngineEvent, type SnapshotView } from '../engine';
import { errorText } from '../errors';
import { accounts } from './accounts.svelte';
import { calls } from './calls.svelte';
import { chat } from './chat.svelte';
import { contacts } from './contacts.svelte';
import { encryption } from './encryption.svelte';
import { conversations } from './conversations.svelte';
import { lock } from './lock.svelte';
import { profiles } from './profiles.svelte';
import { rooms } from './rooms.svelte';
import { transfers } from './transfers.svelte';
import { fileList } from './files.svelte';
import { typing } from './typing.svelte';

/** Wait before asking again for a snapshot that could not be had. */
const RETRY_MS = 1000;

class Engine {
  ready = $state(false);
  fatal = $state<string | null>(null);

  #mirror = new EngineMirror(
    (s) => {
      accounts.set(s.accounts);
      contacts.setSnapshot(s);
      rooms.setSnapshot(s);
    },
    () => void this.#refresh(),
    { reset: (v) => this.#reset(v), events: (l) => this.#events(l) },
  );

  /** Starts listening, then loads the state. */
  async start(): Promise<void> {
    try {
      await listenEngine(
        (b) => this.#mirror.batch(b),
        (v) => this.#mirror.reset(v),
      );
      this.#mirror.reset(await api.snapshot());
      this.ready = true;
    } catch (e) {
      this.fatal = errorText(e);
    }
  }

  /** A fresh snapshot after a gap in the events (asked again until it comes). */
  async #refresh(): Promise<void> {
    try {
      this.#mirror.reset(await api.snapshot());
    } catch {
      setTimeout(() => void this.#refresh(), RETRY_MS);
    }
  }

  /** A full state: the lists are loaded again. */
  #reset(view: SnapshotView): void {
    const jids = view.snapshot.accounts.map((a) => a.jid);
    void Promise.all([conversations.load(), contacts.load(jids), chat.reload(), lock.refresh(), calls.load()]);
  }

  #events(list: EngineEvent[]): void {
    conversations.events(list);
    contacts.events(list);
    profiles.events(list);
    typing.events(list);
    rooms.events(list);
    chat.events(list);
    encryption.events(list);
    transfers.events(list);
    fileList.events(list);
    lock.events(list);
    calls.events(list);
    if (accounts.events(list)) void conversations.load();
    // A new account: its roster (the lists are loaded whole).
    if (list.some((e) => e.event.type === 'account_added')) void contacts.load(this.#mirror.snapshot.accounts.map((a) => a.jid));
  }
}

export const engine = new Engine();
