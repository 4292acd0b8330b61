// The user's choices about files (photo quality, automatic downloads, the
// cache), and the Files view's list of an account's files: loaded a page at
// a time, newest first, kept current by the engine's message events.

import { api } from '../api';
import type { EngineEvent, FilePrefs, MessageView } from '../engine';
import { errorText } from '../errors';

/** Files per page in the Files view. */
export const FILES_PAGE = 50;

class Prefs {
  value = $state<FilePrefs | null>(null);
  error = $state<string | null>(null);
  #loading: Promise<FilePrefs | null> | null = null;

  /** The choices, loaded once. */
  load(): Promise<FilePrefs | null> {
    this.#loading ??= api
      .filePrefs()
      .then((p) => (this.value = p))
      .catch((e) => {
        this.#loading = null;
        this.error = errorText(e);
        return null;
      });
    return this.#loading;
  }

  async set(change: Partial<FilePrefs>): Promise<void> {
    const base = this.value ?? (await this.load());
    if (!base) return;
    const next = { ...base, ...change };
    const before = this.value;
    this.value = next;
    this.error = null;
    try {
      await api.setFilePrefs(next);
    } catch (e) {
      this.value = before;
      this.error = errorText(e);
    }
  }
}

export const filePrefs = new Prefs();

const newestFirst = (a: MessageView, b: MessageView) => b.timestamp_ms - a.timestamp_ms || b.id - a.id;

/** One account's files, newest first. */
export class FileList {
  account = $state<string | null>(null);
  items = $state.raw<MessageView[]>([]);
  loading = $state(false);
  complete = $state(false);
  error = $state<string | null>(null);

  async open(account: string): Promise<void> {
    this.account = account;
    this.items = [];
    this.complete = false;
    await this.more();
  }

  close(): void {
    this.account = null;
    this.items = [];
  }

  /** The next (older) page. */
  async more(): Promise<void> {
    const account = this.account;
    if (!account || this.loading || this.complete) return;
    this.loading = true;
    this.error = null;
    try {
      const page = await api.files(account, this.items.at(-1)?.id ?? null, FILES_PAGE);
      if (this.account !== account) return;
      const known = new Set(this.items.map((m) => m.id));
      this.items = [...this.items, ...page.filter((m) => !known.has(m.id))].sort(newestFirst);
      if (page.length < FILES_PAGE) this.complete = true;
    } catch (e) {
      this.error = errorText(e);
    } finally {
      this.loading = false;
    }
  }

  /** New and changed file messages of the account. */
  events(list: readonly EngineEvent[]): void {
    const account = this.account;
    if (!account) return;
    let items = this.items;
    for (const { event: ev } of list) {
      if (ev.type === 'message' && ev.message.account === account) {
        const m = ev.message;
        const i = items.findIndex((x) => x.id === m.id);
        if (i >= 0) items = m.file && !m.retracted ? items.map((x, j) => (j === i ? m : x)) : items.filter((_, j) => j !== i);
        else if (m.file && !m.retracted && (this.complete || (items.length > 0 && newestFirst(m, items[items.length - 1]) < 0)))
          items = [...items, m].sort(newestFirst);
      } else if (ev.type === 'account_removed' && ev.jid === account) items = [];
      else if (ev.type === 'conversation_deleted' && ev.account === account) items = items.filter((m) => m.peer !== ev.peer);
    }
    if (items !== this.items) this.items = items;
  }
}

export const fileList = new FileList();
