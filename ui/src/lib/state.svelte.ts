// App-wide state: the engine mirror as Svelte state, plus a clock for
// "reconnecting in N s" countdowns.

import { api, listenEngine } from './api';
import { EngineMirror, emptySnapshot, type AccountState, type Snapshot } from './engine';
import { errorText } from './errors';
import { messaging } from './messaging.svelte';
import { isDefaultPresence, newlyConnected } from './profile';
import { settings } from './settings.svelte';

class EngineState {
  snapshot = $state.raw<Snapshot>(emptySnapshot());
  ready = $state(false);
  fatal = $state<string | null>(null);
  /** When each account's state last changed (ms since epoch), for countdowns. */
  changedAt = $state.raw<Record<string, number>>({});
  now = $state(Date.now());

  private mirror = new EngineMirror(
    (s) => this.set(s),
    () => void this.refresh(),
    messaging,
  );
  private timer: ReturnType<typeof setInterval> | null = null;

  private set(s: Snapshot): void {
    const before = new Map(this.snapshot.accounts.map((a) => [a.jid, a.state]));
    const changed = { ...this.changedAt };
    const t = Date.now();
    for (const a of s.accounts) if (before.get(a.jid) !== a.state) changed[a.jid] = t;
    this.changedAt = changed;
    this.now = t;
    const connected = newlyConnected(this.snapshot.accounts, s.accounts);
    this.snapshot = s;
    messaging.inbox = { requests: s.requests, blocked: s.blocked };
    this.tick();
    this.restorePresence(connected);
  }

  /** Shows the presence the user chose on accounts that just connected. */
  private restorePresence(accounts: string[]): void {
    const p = settings.presence;
    if (isDefaultPresence(p)) return;
    for (const a of accounts) void api.setPresence(a, p.show, p.status || null).catch(() => {});
  }

  /** Starts listening, then loads the state. */
  async start(): Promise<void> {
    try {
      await listenEngine(
        (b) => this.mirror.batch(b),
        (v) => this.mirror.reset(v),
      );
      await this.refresh();
      this.ready = true;
    } catch (e) {
      this.fatal = errorText(e);
    }
  }

  private async refresh(): Promise<void> {
    this.mirror.reset(await api.snapshot());
  }

  /** Milliseconds since this account's state last changed. */
  elapsed(jid: string): number {
    return Math.max(0, this.now - (this.changedAt[jid] ?? this.now));
  }

  account(jid: string) {
    return this.snapshot.accounts.find((a) => a.jid === jid);
  }

  private tick(): void {
    const waiting = this.snapshot.accounts.some((a: { state: AccountState }) => a.state.state === 'reconnecting');
    if (waiting && !this.timer) {
      this.timer = setInterval(() => {
        this.now = Date.now();
        this.tick();
      }, 1000);
    } else if (!waiting && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

export const engine = new EngineState();
