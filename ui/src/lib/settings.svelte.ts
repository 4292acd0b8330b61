// Appearance and desktop settings, kept in the webview's local storage
// (they concern this window only, not the engine). The desktop settings are
// handed to the shell, which shows notifications and owns the tray.

import { api, type DesktopSettings } from './api';
import { parsePresence, type PresenceChoice } from './profile';

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

const DESKTOP_KEY = 'tern.desktop';
export const defaultDesktop = (): DesktopSettings => ({ notifications: true, notification_text: true, close_to_tray: true, spell_check: true });

function loadDesktop(): DesktopSettings {
  try {
    const v = JSON.parse(localStorage.getItem(DESKTOP_KEY) ?? 'null') as Partial<DesktopSettings> | null;
    const d = defaultDesktop();
    if (!v || typeof v !== 'object') return d;
    for (const k of Object.keys(d) as (keyof DesktopSettings)[]) if (typeof v[k] === 'boolean') d[k] = v[k];
    return d;
  } catch {
    return defaultDesktop();
  }
}

const PRESENCE_KEY = 'tern.presence';

function loadPresence(): PresenceChoice {
  try {
    return parsePresence(localStorage.getItem(PRESENCE_KEY));
  } catch {
    return parsePresence(null);
  }
}

class Settings {
  theme = $state<Theme>(load());
  desktop = $state.raw<DesktopSettings>(loadDesktop());
  /** The presence and status message last chosen; set again when an account connects. */
  presence = $state.raw<PresenceChoice>(loadPresence());

  /** Remembers the presence the user chose. */
  setPresence(p: PresenceChoice): void {
    this.presence = p;
    try {
      localStorage.setItem(PRESENCE_KEY, JSON.stringify(p));
    } catch {
      // As for the theme.
    }
  }

  /** Changes a desktop setting and tells the shell. */
  setDesktop(change: Partial<DesktopSettings>): void {
    this.desktop = { ...this.desktop, ...change };
    try {
      localStorage.setItem(DESKTOP_KEY, JSON.stringify(this.desktop));
    } catch {
      // As for the theme.
    }
    void this.sendDesktop();
  }

  /** Hands the desktop settings to the shell (at start and on change). */
  async sendDesktop(): Promise<void> {
    const sent = { ...this.desktop, spell_check: this.desktop.spell_check && this.typed };
    await api.setDesktopSettings(sent).catch(() => {});
  }

  /** Whether a spell-checked field has had the focus. Until then the shell
   *  is not asked to check spelling: WebKitGTK would load its dictionaries
   *  (6 MB for English) for a window where nobody types. */
  private typed = false;

  /** Called when a spell-checked field gets the focus. */
  typing(): void {
    if (this.typed) return;
    this.typed = true;
    if (this.desktop.spell_check) void this.sendDesktop();
  }

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
