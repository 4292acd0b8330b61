// Who is typing (XEP-0085 chat states), by conversation key. A notice ends
// with another chat state, a message from them, or after TYPING_TTL_MS
// without a new `composing`; each has its own timer, so nothing ticks while
// nobody types and a notice that ends updates only where it is shown.

import { SvelteSet } from 'svelte/reactivity';
import type { ChatState, EngineEvent } from '../engine';
import { keyOf, splitKey, TYPING_TTL_MS } from '../lists';

export class Typing {
  #typing = new SvelteSet<string>();
  #timers = new Map<string, ReturnType<typeof setTimeout>>();

  is(account: string, peer: string): boolean {
    return this.#typing.has(keyOf(account, peer));
  }

  set(account: string, peer: string, state: ChatState): void {
    const k = keyOf(account, peer);
    clearTimeout(this.#timers.get(k));
    this.#timers.delete(k);
    if (state !== 'composing') {
      this.#typing.delete(k);
      return;
    }
    this.#typing.add(k);
    this.#timers.set(
      k,
      setTimeout(() => {
        this.#timers.delete(k);
        this.#typing.delete(k);
      }, TYPING_TTL_MS),
    );
  }

  events(list: readonly EngineEvent[]): void {
    for (const { event: ev } of list) {
      if (ev.type === 'chat_state') this.set(ev.account, ev.peer, ev.state);
      else if (ev.type === 'message' && !ev.message.outgoing && this.is(ev.message.account, ev.message.peer))
        this.set(ev.message.account, ev.message.peer, 'active');
      else if (ev.type === 'account_removed')
        for (const k of [...this.#typing]) if (splitKey(k)[0] === ev.jid) this.set(ev.jid, splitKey(k)[1], 'gone');
    }
  }
}

export const typing = new Typing();
