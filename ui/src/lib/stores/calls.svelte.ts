// Voice calls: whether this build can make them, the running call and the
// ended ones the window knows of this run (from `calls()` and `call`
// events, upserted by id), and the commands on them. `now` ticks every
// second while the bar shows something that changes with time.

import { SvelteSet } from 'svelte/reactivity';
import { api } from '../api';
import { barCall, callLines, ENDED_SHOWN_MS, hidesAt, isLive, liveCall, ringingCall, type CallLine } from '../calls';
import type { CallView, EngineEvent } from '../engine';

/** Ended calls kept (the oldest go first). */
const KEEP = 200;

export class Calls {
  /** Calls can be placed and answered here. */
  available = $state(false);
  /** The running call and the ended ones, in the order they came. */
  list = $state.raw<CallView[]>([]);
  /** Ticks every second while a call runs or the bar shows how one ended. */
  now = $state(Date.now());
  /** Ended calls the user closed the bar of. */
  readonly dismissed = new SvelteSet<string>();
  /** What failed of a command from the bar or the incoming call (the bar shows it). */
  error = $state<string | null>(null);

  /** Calls that ended before this are not news (the window was not there). */
  readonly #since = Date.now() - ENDED_SHOWN_MS;
  /** Calls an event changed while `calls()` was loading (the event is newer). */
  #touched: Set<string> | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  #hide: ReturnType<typeof setTimeout> | null = null;

  readonly live = $derived(liveCall(this.list));
  /** An incoming call that rings here. */
  readonly ringing = $derived(ringingCall(this.list));
  /** What the call bar shows. */
  readonly bar = $derived(barCall(this.list, this.now, this.#since, this.dismissed));

  /** Loads what the engine knows (again after a resync). */
  async load(): Promise<void> {
    const touched = new Set<string>();
    this.#touched = touched;
    try {
      const v = await api.calls();
      if (this.#touched !== touched) return;
      this.available = !!v?.available;
      const fresh = new Map((this.list ?? []).filter((c) => touched.has(c.id)).map((c) => [c.id, c]));
      const loaded = (v?.calls ?? []).map((c) => fresh.get(c.id) ?? c);
      const ids = new Set(loaded.map((c) => c.id));
      this.#set([...loaded, ...this.list.filter((c) => !ids.has(c.id))]);
    } catch {
      if (this.#touched === touched) this.available = false;
    } finally {
      if (this.#touched === touched) this.#touched = null;
    }
  }

  events(list: readonly EngineEvent[]): void {
    let next = this.list;
    for (const { event: ev } of list) {
      if (ev.type === 'call') {
        const c = ev.call;
        this.#touched?.add(c.id);
        const i = next.findIndex((x) => x.id === c.id);
        next = i < 0 ? [...next, c] : next.map((x, j) => (j === i ? c : x));
      } else if (ev.type === 'account_removed' && next.some((c) => c.account === ev.jid)) {
        next = next.filter((c) => c.account !== ev.jid);
      }
    }
    if (next !== this.list) this.#set(next);
  }

  /** A conversation's ended calls, as its lines. */
  lines(account: string, peer: string): CallLine[] {
    return callLines(this.list, account, peer);
  }

  /** Calls a contact; rejects with the command's error. */
  async place(account: string, peer: string): Promise<void> {
    const c = await api.placeCall(account, peer);
    this.error = null;
    if (c && !this.list.some((x) => x.id === c.id)) this.#set([...this.list, c]);
  }

  accept(id: string): Promise<void> {
    return api.acceptCall(id);
  }

  hangUp(id: string): Promise<void> {
    return api.hangUp(id);
  }

  /** Mutes or unmutes at once (the engine's event confirms); back as it was when refused. */
  async setMuted(id: string, muted: boolean): Promise<void> {
    const flip = (m: boolean) => this.#set(this.list.map((c) => (c.id === id && isLive(c) ? { ...c, muted: m } : c)));
    flip(muted);
    try {
      await api.setCallMuted(id, muted);
    } catch (e) {
      flip(!muted);
      throw e;
    }
  }

  dismiss(id: string): void {
    this.dismissed.add(id);
    if (this.error) this.error = null;
  }

  #set(list: CallView[]): void {
    const ended = list.filter((c) => !isLive(c));
    this.list = ended.length > KEEP ? list.filter((c) => isLive(c) || ended.indexOf(c) >= ended.length - KEEP) : list;
    this.now = Date.now();
    this.#tick();
  }

  /** Ticks while a call runs; hides an ended call's bar when its time is up. */
  #tick(): void {
    const running = this.live !== null;
    if (running && !this.#timer) this.#timer = setInterval(() => (this.now = Date.now()), 1000);
    else if (!running && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    if (this.#hide) clearTimeout(this.#hide);
    this.#hide = null;
    const at = hidesAt(this.bar);
    if (at !== null)
      this.#hide = setTimeout(() => {
        this.#hide = null;
        this.now = Date.now();
      }, Math.max(0, at - Date.now()) + 50);
  }
}

export const calls = new Calls();
