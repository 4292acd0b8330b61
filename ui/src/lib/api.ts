// The shell's commands and events (src-tauri/src/commands.rs, boundary.rs).
// Every call rejects with a `UiError { kind, message }`.

import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import type { EngineEvent, SnapshotView } from './engine';
import type { SignUpForm, Values } from './signup';

export interface ServerSettings {
  host: string | null;
  port: number | null;
  direct_tls: boolean;
}

export const noServerSettings = (): ServerSettings => ({ host: null, port: null, direct_tls: false });

export const EVENT_ENGINE = 'engine:event';
export const EVENT_RESYNC = 'engine:resync';

export const api = {
  snapshot: () => invoke<SnapshotView>('snapshot'),
  addAccount: (jid: string, password: string, server: ServerSettings) =>
    invoke<string>('add_account', { account: { jid, password, server } }),
  removeAccount: (jid: string) => invoke<void>('remove_account', { jid }),
  setEnabled: (jid: string, enabled: boolean) => invoke<void>('set_enabled', { jid, enabled }),
  setPassword: (jid: string, password: string) => invoke<void>('set_password', { jid, password }),
  pinCertificate: (jid: string, sha256: string) => invoke<void>('pin_certificate', { jid, sha256 }),
  reconnect: (jid: string) => invoke<void>('reconnect', { jid }),
  changePassword: (jid: string, newPassword: string) =>
    invoke<void>('change_password', { jid, new_password: newPassword }),
  deleteAccountOnServer: (jid: string) => invoke<void>('delete_account_on_server', { jid }),
  registrationStart: (domain: string, server: ServerSettings) =>
    invoke<SignUpForm>('registration_start', { domain, server }),
  registrationSubmit: (values: Values) => invoke<void>('registration_submit', { values }),
  registrationCancel: () => invoke<void>('registration_cancel'),
};

/** Listens to numbered engine events and full resyncs. */
export async function listenEngine(
  onEvent: (e: EngineEvent) => void,
  onResync: (v: SnapshotView) => void,
): Promise<UnlistenFn> {
  const a = await listen<EngineEvent>(EVENT_ENGINE, (e) => onEvent(e.payload));
  const b = await listen<SnapshotView>(EVENT_RESYNC, (e) => onResync(e.payload));
  return () => {
    a();
    b();
  };
}
