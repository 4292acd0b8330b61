// Runs the real UI against a fake shell: Tauri's IPC is mocked with
// @tauri-apps/api/mocks and answers from the scenario named in the URL
// (`?scenario=accounts&theme=dark`). Used by run.mjs for screenshots.

import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import { emit } from '@tauri-apps/api/event';
import { applyEvent, type AccountState, type AccountView, type ClientEvent, type Snapshot } from '../../src/lib/engine';
import { callCommand, callData } from './calls';
import { chatData, messagingCommand } from './chats';
import { encryptionCommand } from './encryption';
import { fileCommand, fileData } from './files';
import { largeEvents } from './large';
import { profileCommand } from './profiles';
import { roomCommand, roomData, roomEvents } from './rooms';
import type { SignUpForm } from '../../src/lib/signup';

const params = new URLSearchParams(location.search);
const scenario = params.get('scenario') ?? 'welcome';
localStorage.setItem('tern.theme', params.get('theme') ?? 'light');
// The presence chosen "last time" (`&presence={...}`); none by default.
const presence = params.get('presence');
if (presence) localStorage.setItem('tern.presence', presence);
else localStorage.removeItem('tern.presence');
// Avatars then come from http://tern-media.localhost/ (as on Windows),
// which run.mjs can answer; Chromium has no tern-media: scheme.
Object.defineProperty(Navigator.prototype, 'userAgent', { get: () => 'Mozilla/5.0 (Windows NT 10.0) Tern screens' });

const FP = '3a7f09c2d41be85f6c0e9a1d27b4f38e5c6d0a9b1e2f3c4d5a6b7c8d9e0f1a2b';
const colons = (h: string) => h.match(/../g)!.join(':');
const states: Record<string, AccountState> = {
  connected: { state: 'connected', bound_jid: 'alice@example.org/tern.4f2a1c', resumed: false },
  connecting: { state: 'connecting', attempt: 1 },
  reconnecting: {
    state: 'reconnecting',
    attempt: 3,
    retry_in_ms: 8000,
    error: { kind: 'host_unreachable', host: 'xmpp.example.net:5222', detail: 'Connection refused (os error 111)' },
  },
  wrongPassword: { state: 'failed', error: { kind: 'authentication_failed', condition: 'not-authorized' } },
  certificate: {
    state: 'failed',
    error: { kind: 'certificate_untrusted', fingerprint: colons(FP), sha256: FP, reason: 'issued by an unknown authority', problems: ['untrusted'] },
  },
  disabled: { state: 'disabled' },
};

const many: AccountView[] = [
  { jid: 'alice@example.org', enabled: true, state: states.connected },
  { jid: 'work.account.with.a.long.name@chat.example-company.com', enabled: true, state: states.connecting },
  { jid: 'bob@example.net', enabled: true, state: states.reconnecting },
  { jid: 'carol@jabber.example', enabled: true, state: states.wrongPassword },
  { jid: 'dave@selfhosted.example', enabled: true, state: states.certificate },
  { jid: 'old@example.com', enabled: false, state: states.disabled },
];

const signUpForm: SignUpForm = {
  instructions: 'Choose a user name and password. <b>HTML</b> from servers is shown as text.',
  fields: [
    { var: 'FORM_TYPE', label: null, kind: 'hidden', required: false, value: 'jabber:iq:register', options: [] },
    { var: 'rules', label: null, kind: 'fixed', required: false, value: 'Accounts unused for a year are deleted.', options: [] },
    { var: 'username', label: null, kind: 'text-single', required: true, value: null, options: [] },
    { var: 'password', label: null, kind: 'text-private', required: true, value: null, options: [] },
    { var: 'email', label: 'Email (for password reset)', kind: 'text-single', required: false, value: null, options: [] },
    { var: 'lang', label: 'Language', kind: 'list-single', required: true, value: 'en', options: [{ label: 'English', value: 'en' }, { label: 'Français', value: 'fr' }] },
    { var: 'tos', label: 'I accept the server rules', kind: 'boolean', required: true, value: null, options: [] },
  ],
};

const messagingScenario = ['main', 'chats', 'hostile', 'long', 'paged', 'window', 'empty', 'unread', 'large', 'rooms', 'files', 'calls'].some(
  (p) => scenario === p || scenario.startsWith(`${p}-`),
);
const roomScenario = scenario === 'rooms' || scenario.startsWith('rooms-');
if (messagingScenario) chatData.setup(scenario);
const callScenario = scenario === 'calls' || scenario.startsWith('calls-');
if (callScenario) callData.setup(scenario);
if (roomScenario) roomData.setup(scenario);
if (scenario === 'files' || scenario.startsWith('files-')) fileData.setup(scenario);

// The engine's state and event numbering: `seq` is the number of the last
// event sent. Events sent together (in one command, one task) go out as one
// batch, as the shell sends them.
let seq = 0;
let snapshot: Snapshot = {
  accounts: ['welcome', 'signin', 'signup'].some((p) => scenario.startsWith(p))
    ? []
    : scenario.startsWith('main') || scenario === 'fatal' || scenario === 'calls-several'
      ? many
      : many.slice(0, 1),
  requests: messagingScenario ? chatData.requests : [],
  blocked: messagingScenario ? chatData.blocked : {},
  rooms: roomScenario ? roomData.rooms : [],
  invitations: roomScenario ? roomData.invitations : [],
};
const calls: { cmd: string; args: unknown; headers?: Record<string, string> }[] = [];
(window as unknown as { __calls: typeof calls }).__calls = calls;

let queued: ClientEvent[] = [];
/** Emits what was sent since the last batch, as one batch. */
function flush() {
  if (queued.length === 0) return;
  const events = queued;
  queued = [];
  void emit('engine:events', JSON.stringify({ seq, events }));
}

function send(ev: ClientEvent) {
  snapshot = applyEvent(snapshot, ev);
  seq += 1;
  if (queued.length === 0) queueMicrotask(flush);
  queued.push(ev);
}

/** Sends events as one batch at once (a burst from the engine). */
function sendBatch(events: ClientEvent[]) {
  flush();
  for (const ev of events) {
    snapshot = applyEvent(snapshot, ev);
    seq += 1;
  }
  void emit('engine:events', JSON.stringify({ seq, events }));
}
// Lets a test play the engine (a peer typing, a message arriving).
(window as unknown as { __send: typeof send }).__send = send;
// An event the page never gets (the shell fell behind): the next batch shows a gap.
(window as unknown as { __lose: (ev: ClientEvent) => void }).__lose = (ev) => {
  flush();
  snapshot = applyEvent(snapshot, ev);
  seq += 1;
};
(window as unknown as { __sendBatch: typeof sendBatch }).__sendBatch = sendBatch;
// Events for the large roster and conversation list.
if (scenario === 'large') (window as unknown as { __large: typeof largeEvents }).__large = largeEvents;
if (roomScenario) (window as unknown as { __rooms: typeof roomEvents }).__rooms = roomEvents;
// And the shell (a notification clicked, an xmpp: link).
(window as unknown as { __emit: typeof emit }).__emit = emit;

const later = (ms: number, f: () => void) => setTimeout(f, ms);
const uiError = (kind: string, message: string) => Promise.reject({ kind, message });

/** What a new account does after it was added, per scenario. */
const outcome: Record<string, AccountState> = {
  'signin-wrong-password': states.wrongPassword,
  'signin-certificate': states.certificate,
  'signin-reconnecting': states.reconnecting,
  'signin-ok': { state: 'connected', bound_jid: 'me@example.org/tern.1', resumed: false },
};

mockWindows('main');
mockIPC(
  (cmd, args) => {
    const headers = invokeHeaders;
    invokeHeaders = undefined;
    calls.push({ cmd, args, headers });
    const a = (args ?? {}) as Record<string, unknown>;
    const profile = profileCommand(cmd, args, headers, send);
    if (profile !== undefined) return profile;
    const roomAnswer = roomScenario ? roomCommand(cmd, a, send) : undefined;
    if (roomAnswer !== undefined) return roomAnswer;
    const fileAnswer = fileCommand(cmd, a, send);
    if (fileAnswer !== undefined) return fileAnswer;
    const keysAnswer = encryptionCommand(scenario, cmd, a, send);
    if (keysAnswer !== undefined) return keysAnswer;
    const callAnswer = callScenario ? callCommand(cmd, a, send) : undefined;
    if (callAnswer !== undefined) return callAnswer;
    switch (cmd) {
      case 'snapshot':
        if (scenario === 'fatal')
          return uiError(
            'keychain_unavailable',
            'Tern could not use the system keychain, where it keeps passwords: the system keychain is not available: no Secret Service. Make sure a keyring (GNOME Keyring, KWallet, the macOS Keychain or the Windows Credential Manager) is running and unlocked.',
          );
        return { seq, snapshot };
      case 'add_account': {
        const account = a.account as { jid: string };
        const jid = account.jid.toLowerCase();
        send({ type: 'account_added', account: { jid, enabled: true, state: states.disabled } });
        send({ type: 'account_state', jid, state: states.connecting });
        const next = outcome[scenario];
        if (next) later(150, () => send({ type: 'account_state', jid, state: next }));
        return jid;
      }
      case 'remove_account':
        send({ type: 'account_removed', jid: a.jid as string });
        return null;
      case 'set_enabled':
        send({ type: 'account_enabled', jid: a.jid as string, enabled: a.enabled as boolean });
        send({ type: 'account_state', jid: a.jid as string, state: a.enabled ? states.connecting : states.disabled });
        return null;
      case 'registration_start':
        if (scenario === 'signup-unreachable')
          return uiError('dns_failure', 'Could not find the server for nowhere.invalid: no record found.');
        return signUpForm;
      case 'registration_submit':
        if (scenario === 'signup-taken') return uiError('username_taken', 'That user name is already taken on this server.');
        return null;
      case 'change_password':
        return uiError('refused', 'The server refused: password too weak (not-acceptable).');
      case 'user_active':
        // The user scrolls or types: the engine would hold back fetching history.
        return null;
      default:
        return messagingScenario ? messagingCommand(cmd, a, send) : null;
    }
  },
  { shouldMockEvents: true },
);
// The mock drops invoke's options; keep the headers for the command.
let invokeHeaders: Record<string, string> | undefined;
const internals = (window as unknown as { __TAURI_INTERNALS__: { invoke: (c: string, a: unknown, o?: { headers?: Record<string, string> }) => Promise<unknown> } })
  .__TAURI_INTERNALS__;
const mockedInvoke = internals.invoke;
internals.invoke = (cmd, args, options) => {
  invokeHeaders = options?.headers;
  return mockedInvoke(cmd, args, options);
};

await import('../../src/main');
