// Which group-chat dialog is open (join, create), and what the join
// dialog starts with: opened from the conversation list, from a room's
// banner, from an invitation or from an `xmpp:…?join` link.

export interface JoinPrefill {
  address: string;
  account: string | null;
  password: string | null;
  /** A reason to show at once (why an earlier attempt failed). */
  error: string | null;
}

class RoomDialogs {
  join = $state<JoinPrefill | null>(null);
  create = $state(false);

  openJoin(p: Partial<JoinPrefill> = {}): void {
    this.create = false;
    this.join = { address: p.address ?? '', account: p.account ?? null, password: p.password ?? null, error: p.error ?? null };
  }

  openCreate(): void {
    this.join = null;
    this.create = true;
  }

  close(): void {
    this.join = null;
    this.create = false;
  }
}

export const roomDialogs = new RoomDialogs();
