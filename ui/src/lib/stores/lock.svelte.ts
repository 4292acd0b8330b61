// The open conversation's encryption (one-to-one or a private group: its lock and the
// composer's hint): asked of the engine when the conversation opens, and
// again, at most a few times a second, when an event may have changed it
// (its mode, a message sent or held, the account connecting), or when the
// lock's popover opens.

import { api } from '../api';
import type { EncryptionView, EngineEvent } from '../engine';
import { concernsEncryption } from '../lock';
import { errorText } from '../errors';

/** Events within this long make one request. */
const SETTLE_MS = 250;

export class Lock {
  /** The open conversation's encryption; null while it loads or when it cannot be encrypted. */
  view = $state.raw<EncryptionView | null>(null);
  /** Why it could not be had. */
  error = $state<string | null>(null);

  #for: { account: string; peer: string } | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Answers to requests older than the latest are dropped. */
  #asked = 0;

  /** Follows a conversation that can be encrypted (null: none, or one that cannot). */
  follow(account: string | null, peer: string | null): void {
    const next = account && peer ? { account, peer } : null;
    if (next?.account === this.#for?.account && next?.peer === this.#for?.peer) return;
    this.#for = next;
    this.view = null;
    this.error = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (next) void this.refresh();
  }

  /** Stops following a conversation (if it is still the one followed). */
  unfollow(account: string | null, peer: string | null): void {
    if (this.#for && this.#for.account === account && this.#for.peer === peer) this.follow(null, null);
  }

  /** Asks the engine again now. */
  async refresh(): Promise<void> {
    const p = this.#for;
    if (!p) return;
    const n = ++this.#asked;
    try {
      const v = await api.conversationEncryption(p.account, p.peer);
      if (n === this.#asked && this.#for === p) {
        this.view = v;
        this.error = null;
      }
    } catch (e) {
      if (n === this.#asked && this.#for === p) this.error = errorText(e);
    }
  }

  /** Turns encryption on or off for the messages sent from now on. */
  async set(encrypted: boolean): Promise<void> {
    const p = this.#for;
    if (!p) return;
    const n = ++this.#asked;
    const v = await api.setConversationEncryption(p.account, p.peer, encrypted);
    if (n === this.#asked && this.#for === p) this.view = v;
  }

  events(list: readonly EngineEvent[]): void {
    const p = this.#for;
    if (!p || this.#timer) return;
    const group = this.view?.group ?? false;
    if (list.some((e) => concernsEncryption(e.event, p.account, p.peer, group)))
      this.#timer = setTimeout(() => {
        this.#timer = null;
        void this.refresh();
      }, SETTLE_MS);
  }
}

export const lock = new Lock();
