// Progress of file uploads and downloads, by message id, from the engine's
// `transfer` events (a few a second while a file moves). An entry goes when
// its message says the transfer ended, so a finished or cancelled transfer
// leaves nothing behind.

import { SvelteMap } from 'svelte/reactivity';
import type { EngineEvent } from '../engine';

export interface Progress {
  done: number;
  total: number | null;
}

export class Transfers {
  #by = new SvelteMap<number, Progress>();

  get(id: number): Progress | undefined {
    return this.#by.get(id);
  }

  events(list: readonly EngineEvent[]): void {
    // Only the last progress of each message in a batch counts.
    const latest = new Map<number, Progress>();
    for (const { event: ev } of list) {
      if (ev.type === 'transfer') latest.set(ev.message_id, { done: ev.done ?? 0, total: ev.total ?? null });
      else if (ev.type === 'message') {
        const s = ev.message.file?.state;
        if (s !== 'uploading' && s !== 'downloading') {
          latest.delete(ev.message.id);
          this.#by.delete(ev.message.id);
        }
      }
    }
    for (const [id, p] of latest) {
      const old = this.#by.get(id);
      if (!old || old.done !== p.done || old.total !== p.total) this.#by.set(id, p);
    }
  }
}

export const transfers = new Transfers();
