// The emoji picker's data: loaded on first use (a chunk of its own built
// from emojibase-data, see emoji-data.ts), searched by name and keywords,
// and the user's recently used emoji.

export interface Emoji {
  char: string;
  name: string;
  group: number;
  /** Name and keywords, lower case, for search. */
  words: string[];
}

/** Unicode's emoji groups, in their order (2, skin-tone components, is left out). */
export const GROUPS: { id: number; name: string; icon: string }[] = [
  { id: 0, name: 'Smileys & emotion', icon: '😀' },
  { id: 1, name: 'People & body', icon: '👋' },
  { id: 3, name: 'Animals & nature', icon: '🐻' },
  { id: 4, name: 'Food & drink', icon: '🍔' },
  { id: 5, name: 'Travel & places', icon: '🚗' },
  { id: 6, name: 'Activities', icon: '⚽' },
  { id: 7, name: 'Objects', icon: '💡' },
  { id: 8, name: 'Symbols', icon: '❤️' },
  { id: 9, name: 'Flags', icon: '🏁' },
];

let loading: Promise<Emoji[]> | null = null;

/** Every emoji offered, in Unicode's order (loaded once). */
export function loadEmoji(): Promise<Emoji[]> {
  loading ??= import('virtual:emoji').then((m) =>
    m.default.map(([char, name, group, tags]) => ({
      char,
      name,
      group,
      words: `${name} ${tags}`.toLowerCase().split(/[\s:,]+/).filter(Boolean),
    })),
  );
  return loading;
}

/** Emoji whose name or keywords start with every word of `query`; those
 *  whose name starts with the query first. */
export function searchEmoji(all: Emoji[], query: string, limit = 160): Emoji[] {
  const q = query.toLowerCase().trim();
  if (!q) return [];
  const terms = q.split(/\s+/);
  const hits = all.filter((e) => terms.every((t) => e.words.some((w) => w.startsWith(t))));
  const named = (e: Emoji) => (e.name.toLowerCase().startsWith(q) ? 0 : 1);
  return hits.sort((a, b) => named(a) - named(b)).slice(0, limit);
}

const RECENT_KEY = 'tern.emoji.recent';
export const MAX_RECENT = 24;

/** `recent` with `char` in front, once, at most MAX_RECENT long. */
export const remember = (recent: string[], char: string): string[] =>
  [char, ...recent.filter((c) => c !== char)].slice(0, MAX_RECENT);

/** The recently used emoji kept in `storage` (anything odd there is ignored). */
export function loadRecent(storage: Pick<Storage, 'getItem'> | undefined = globalThis.localStorage): string[] {
  try {
    const v: unknown = JSON.parse(storage?.getItem(RECENT_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((c): c is string => typeof c === 'string' && c.length > 0 && c.length <= 32).slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

export function saveRecent(recent: string[], storage: Pick<Storage, 'setItem'> | undefined = globalThis.localStorage) {
  try {
    storage?.setItem(RECENT_KEY, JSON.stringify(recent.slice(0, MAX_RECENT)));
  } catch {
    // A full or missing storage only loses the list.
  }
}
