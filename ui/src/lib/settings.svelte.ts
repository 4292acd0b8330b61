// Appearance settings, kept in the webview's local storage (they concern
// this window only, not the engine).

export type Theme = 'system' | 'light' | 'dark';
const KEY = 'tern.theme';

function load(): Theme {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

class Settings {
  theme = $state<Theme>(load());

  setTheme(t: Theme): void {
    this.theme = t;
    try {
      localStorage.setItem(KEY, t);
    } catch {
      // Storage may be unavailable; the choice then lasts for this session.
    }
    applyTheme(t);
  }
}

export function applyTheme(t: Theme): void {
  const root = document.documentElement;
  if (t === 'system') delete root.dataset.theme;
  else root.dataset.theme = t;
}

export const settings = new Settings();
