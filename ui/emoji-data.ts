// A Vite plugin providing `virtual:emoji`: the emoji Tern offers in its
// picker, from emojibase-data, trimmed at build time to what the picker
// uses (character, name, group, search words) and to Emoji 15.0, which
// current system emoji fonts draw. Imported lazily, as its own chunk.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Plugin } from 'vite';

interface Emojibase {
  emoji: string;
  label: string;
  group?: number;
  order?: number;
  version: number;
  tags?: string[];
}

/** Newest Emoji version offered. */
const MAX_VERSION = 15;
/** Skin-tone and hair components (group 2) are not emoji on their own. */
const COMPONENTS = 2;

export function emojiData(): Plugin {
  const id = 'virtual:emoji';
  return {
    name: 'tern-emoji-data',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load(resolved) {
      if (resolved !== `\0${id}`) return null;
      const require = createRequire(import.meta.url);
      const path = require.resolve('emojibase-data/en/data.json');
      const all = JSON.parse(readFileSync(path, 'utf8')) as Emojibase[];
      const rows = all
        .filter((e) => e.group !== undefined && e.group !== COMPONENTS && e.version <= MAX_VERSION)
        .sort((a, b) => (a.order ?? 0) - (b.order ?? 0))
        .map((e) => [e.emoji, e.label, e.group, (e.tags ?? []).join(' ')]);
      return `export default ${JSON.stringify(rows)};`;
    },
  };
}
