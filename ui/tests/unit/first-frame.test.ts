import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('the first frame (index.html)', () => {
  const html = read('index.html');

  it('is markup, shown without any script', () => {
    const frame = /<!-- first frame -->([\s\S]*?)<!-- \/first frame -->/.exec(html)?.[1] ?? '';
    expect(frame).toContain('id="boot"');
    expect(frame.match(/class="boot-row"/g)?.length).toBeGreaterThanOrEqual(5);
    expect(frame).not.toMatch(/<script/);
    // Before the app's module, and the styles it needs linked in the head.
    expect(html.indexOf('id="boot"')).toBeLessThan(html.indexOf('src="/src/main.ts"'));
    expect(html).toMatch(/<link rel="stylesheet" href="\/src\/app.css" \/>/);
    expect(read('src/app.css')).toMatch(/\.boot \{/);
  });

  it('has nothing inline, as the CSP (default-src self) requires', () => {
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
  });

  it('is drawn in the theme chosen in Settings (theme.js, before the first paint)', () => {
    const code = read('public/theme.js');
    const run = (stored: string | null, fail = false) => {
      const root = { dataset: {} as Record<string, string> };
      const storage = {
        getItem: (k: string) => {
          if (fail) throw new Error('storage denied');
          return k === 'tern.theme' ? stored : null;
        },
      };
      new Function('localStorage', 'document', code)(storage, { documentElement: root });
      return root.dataset.theme;
    };
    expect(run('dark')).toBe('dark');
    expect(run('light')).toBe('light');
    expect(run('system')).toBeUndefined();
    expect(run('<b>')).toBeUndefined();
    expect(run(null, true)).toBeUndefined();
    // The key the settings keep the theme under.
    expect(read('src/lib/settings.svelte.ts')).toContain("const KEY = 'tern.theme';");
  });
});
