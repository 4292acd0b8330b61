// Unsent text per conversation, kept in the webview's local storage so that
// it survives a restart or a crash of Tern. Writes are batched (at most one
// per WRITE_DELAY_MS while typing) and flushed when the page goes away.
// Bounded: at most MAX_DRAFTS conversations and MAX_DRAFT_CHARS per draft;
// whatever storage holds is checked, since it may be damaged.

export const DRAFTS_KEY = 'tern.drafts';
export const MAX_DRAFTS = 200;
export const MAX_DRAFT_CHARS = 20_000;
const WRITE_DELAY_MS = 400;

type Store = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

/** Reads saved drafts; anything malformed is skipped. Newest last. */
export function loadDrafts(storage: Pick<Storage, 'getItem'> | undefined): Map<string, string> {
  const out = new Map<string, string>();
  try {
    const raw: unknown = JSON.parse(storage?.getItem(DRAFTS_KEY) ?? '[]');
    if (!Array.isArray(raw)) return out;
    for (const entry of raw.slice(-MAX_DRAFTS)) {
      if (!Array.isArray(entry) || entry.length !== 2) continue;
      const [key, text] = entry as unknown[];
      if (typeof key !== 'string' || typeof text !== 'string' || !key.includes('\u0000') || !text) continue;
      out.set(key, text.slice(0, MAX_DRAFT_CHARS));
    }
  } catch {
    // Damaged or unavailable storage: start without drafts.
  }
  return out;
}

/** Drafts per conversation key (`keyOf(account, peer)`). */
export class Drafts {
  private map: Map<string, string>;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private storage: Store | undefined = safeLocalStorage()) {
    this.map = loadDrafts(storage);
    globalThis.addEventListener?.('pagehide', () => this.flush());
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  set(key: string, text: string): void {
    if (!text) return this.delete(key);
    const t = text.slice(0, MAX_DRAFT_CHARS);
    if (this.map.get(key) === t) return;
    // Newest last, so the oldest go first when there are too many.
    this.map.delete(key);
    this.map.set(key, t);
    while (this.map.size > MAX_DRAFTS) this.map.delete(this.map.keys().next().value as string);
    this.schedule();
  }

  delete(key: string): void {
    if (this.map.delete(key)) this.schedule();
  }

  /** Forgets the drafts of an account. */
  deleteAccount(account: string): void {
    let changed = false;
    for (const k of [...this.map.keys()]) {
      if (k.startsWith(`${account}\u0000`)) changed = this.map.delete(k) || changed;
    }
    if (changed) this.schedule();
  }

  /** Writes now what is pending. */
  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    try {
      if (this.map.size) this.storage?.setItem(DRAFTS_KEY, JSON.stringify([...this.map]));
      else this.storage?.removeItem(DRAFTS_KEY);
    } catch {
      // Full or unavailable storage: the drafts stay for this session.
    }
  }

  private schedule(): void {
    if (this.timer === null) this.timer = setTimeout(() => this.flush(), WRITE_DELAY_MS);
  }
}

function safeLocalStorage(): Store | undefined {
  try {
    return globalThis.localStorage;
  } catch {
    return undefined;
  }
}
