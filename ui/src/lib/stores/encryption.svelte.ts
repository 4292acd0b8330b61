// OMEMO devices per person (a contact's, or the account's own), loaded
// when a view asks for them and read again when the engine says they
// changed (`encryption_devices`: a device list or a key arrived, a trust
// decision was taken). The UI never polls.

import { SvelteMap } from 'svelte/reactivity';
import { api } from '../api';
import type { DeviceView, EngineEvent } from '../engine';
import { errorText } from '../errors';
import { keyOf, splitKey } from '../lists';

export interface Devices {
  /** The devices; `null` until loaded. */
  list: DeviceView[] | null;
  /** Why they could not be loaded. */
  error: string | null;
}

class Encryption {
  #items = new SvelteMap<string, Devices>();
  /** Loads running, by key: a change while one runs loads again after it. */
  #loading = new Map<string, boolean>();
  /** Keys asked for (each is loaded on first use once). */
  #asked = new Set<string>();

  /** `jid`'s devices as last loaded (loaded on first use). */
  devices(account: string, jid: string): Devices {
    const key = keyOf(account, jid);
    const have = this.#items.get(key);
    if (have) return have;
    if (!this.#asked.has(key)) {
      this.#asked.add(key);
      // Not while the caller renders: the load changes state.
      queueMicrotask(() => void this.load(account, jid));
    }
    return { list: null, error: null };
  }

  /** Loads (again) `jid`'s devices. */
  async load(account: string, jid: string): Promise<void> {
    const key = keyOf(account, jid);
    if (this.#loading.has(key)) {
      this.#loading.set(key, true);
      return;
    }
    this.#loading.set(key, false);
    try {
      let again = true;
      while (again) {
        let next: Devices;
        try {
          next = { list: await api.encryptionDevices(account, jid), error: null };
        } catch (e) {
          next = { list: this.#items.get(key)?.list ?? null, error: errorText(e) };
        }
        this.#items.set(key, next);
        again = this.#loading.get(key) === true;
        this.#loading.set(key, false);
      }
    } finally {
      this.#loading.delete(key);
    }
  }

  events(list: readonly EngineEvent[]): void {
    const changed = new Set<string>();
    for (const { event: ev } of list) {
      if (ev.type === 'encryption_devices') {
        const key = keyOf(ev.account, ev.jid);
        if (this.#items.has(key)) changed.add(key);
      } else if (ev.type === 'account_removed') {
        for (const k of [...this.#items.keys()]) if (splitKey(k)[0] === ev.jid) this.#items.delete(k);
        for (const k of [...this.#asked]) if (splitKey(k)[0] === ev.jid) this.#asked.delete(k);
      }
    }
    for (const k of changed) {
      const [account, jid] = splitKey(k);
      void this.load(account, jid);
    }
  }
}

export const encryption = new Encryption();
