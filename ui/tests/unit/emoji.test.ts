import { describe, expect, it } from 'vitest';
import { GROUPS, loadEmoji, loadRecent, MAX_RECENT, remember, saveRecent, searchEmoji } from '../../src/lib/emoji';

describe('emoji picker data', () => {
  it('offers the emoji system fonts draw, grouped, without components', async () => {
    const all = await loadEmoji();
    expect(all.length).toBeGreaterThan(1500);
    expect(all[0]).toMatchObject({ char: '😀', name: 'grinning face', group: 0 });
    const chars = new Set(all.map((e) => e.char));
    expect(chars.has('🫨')).toBe(true); // Emoji 15.0
    expect(chars.has('🫩')).toBe(false); // Emoji 16.0: fonts lack it yet
    expect(chars.has('🏻')).toBe(false); // a skin-tone component
    const groups = new Set(all.map((e) => e.group));
    expect([...groups].sort()).toEqual(GROUPS.map((g) => g.id).sort());
    expect(await loadEmoji()).toBe(all);
  });

  it('finds emoji by name and keywords, names first', async () => {
    const all = await loadEmoji();
    const hearts = searchEmoji(all, 'red heart');
    expect(hearts[0].char).toBe('❤️');
    const smile = searchEmoji(all, 'SMIL');
    expect(smile.length).toBeGreaterThan(5);
    expect(smile.every((e) => e.words.some((w) => w.startsWith('smil')))).toBe(true);
    const firstOther = smile.findIndex((e) => !e.name.toLowerCase().startsWith('smil'));
    expect(smile.slice(firstOther).every((e) => !e.name.toLowerCase().startsWith('smil'))).toBe(true);
    expect(searchEmoji(all, '   ')).toEqual([]);
    expect(searchEmoji(all, 'zzqqxx')).toEqual([]);
    expect(searchEmoji(all, 'face', 10)).toHaveLength(10);
  });

  it('keeps recent emoji, newest first, once each, bounded', () => {
    let r: string[] = [];
    for (const c of ['👍', '😂', '👍']) r = remember(r, c);
    expect(r).toEqual(['👍', '😂']);
    for (let i = 0; i < 40; i++) r = remember(r, String.fromCodePoint(0x1f600 + i));
    expect(r).toHaveLength(MAX_RECENT);
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    saveRecent(r, storage);
    expect(loadRecent(storage)).toEqual(r);
    store.set('tern.emoji.recent', '{"not": "a list"}');
    expect(loadRecent(storage)).toEqual([]);
    store.set('tern.emoji.recent', '["👍", 3, null, "' + 'x'.repeat(100) + '"]');
    expect(loadRecent(storage)).toEqual(['👍']);
    store.set('tern.emoji.recent', 'garbage');
    expect(loadRecent(storage)).toEqual([]);
  });
});
