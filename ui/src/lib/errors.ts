// Errors in words a person can act on. Connection failures come from the
// engine as `ConnectError` (tagged by `kind`); command failures come from the
// shell as `UiError { kind, message }`.

import type { AccountState, ConnectError, ConnectErrorKind } from './engine';

/** What fixes a failure; the UI shows the matching button. */
export type Fix = 'password' | 'certificate' | 'weaker' | 'retry' | 'edit';

export interface Described {
  /** Short headline, e.g. "Wrong password". */
  title: string;
  /** One or two sentences: what happened and what to do. */
  message: string;
  fix: Fix;
}

const sentence = (s: string): string => {
  const t = s.trim();
  if (!t) return '';
  return /[.!?]$/.test(t) ? t : `${t}.`;
};
const detailSuffix = (d: string): string => (d.trim() ? ` (${d.trim()})` : '');

/** Headline, explanation and fix for every `ConnectError` kind. */
export function describeConnectError(e: ConnectError): Described {
  switch (e.kind) {
    case 'authentication_failed':
      return {
        title: 'Wrong password',
        message: 'The server did not accept the password for this account. Check the address and enter the password again.',
        fix: 'password',
      };
    case 'account_disabled':
      return {
        title: 'Account locked by the server',
        message: 'The server says this account is disabled or locked. Ask the server’s administrator.',
        fix: 'retry',
      };
    case 'certificate_untrusted':
      return {
        title: 'Certificate not trusted',
        message: `Tern could not verify the server’s certificate${detailSuffix(e.reason)}. Someone could be intercepting the connection, or the server uses a certificate of its own. Trust it only if the fingerprint matches the one its administrator gave you.`,
        fix: 'certificate',
      };
    case 'certificate_changed':
      return {
        title: 'Server certificate changed',
        message: `The server now presents a different certificate from the one it used when this account last signed in, and Tern cannot verify it${detailSuffix(e.reason)}. This is what an attack looks like. Trust it only if the server’s administrator told you about the new certificate and its fingerprint matches.`,
        fix: 'certificate',
      };
    case 'sasl_downgrade':
      return {
        title: 'Weaker sign-in refused',
        message: `The server no longer offers the secure sign-in it offered before (${e.previous}, now only ${e.offered}). Someone may be intercepting the connection to get your password, so Tern did not send it. Accept the weaker sign-in only if the server’s administrator told you about the change.`,
        fix: 'weaker',
      };
    case 'sign_in_intercepted':
      return {
        title: 'Sign-in tampered with',
        message: `Someone changed the sign-in on its way to the server${detailSuffix(e.detail)}. Tern stopped before sending anything that reveals your password. Try again on another network.`,
        fix: 'retry',
      };
    case 'dns_failure':
      return {
        title: 'Server not found',
        message: `Tern could not find the server for ${e.domain}. Check the address for typos and your internet connection, or enter the server’s host under Advanced.`,
        fix: 'edit',
      };
    case 'host_unreachable':
      return {
        title: 'Server unreachable',
        message: `Tern could not reach ${e.host}${detailSuffix(e.detail)}. Check your internet connection; the server may be down.`,
        fix: 'retry',
      };
    case 'tls_failure':
      return {
        title: 'Secure connection failed',
        message: `The encrypted connection to the server could not be set up${detailSuffix(e.detail)}. The server may need a newer TLS setup.`,
        fix: 'retry',
      };
    case 'no_encryption':
      return {
        title: 'Server offers no encryption',
        message: 'The server does not offer an encrypted connection, so Tern will not send your password to it. Ask its administrator to enable TLS, or try direct TLS under Advanced.',
        fix: 'edit',
      };
    case 'no_usable_mechanism':
      return {
        title: 'No supported sign-in method',
        message: `The server only offers sign-in methods Tern does not support${detailSuffix(e.offered)}.`,
        fix: 'edit',
      };
    case 'conflict':
      return {
        title: 'Signed in elsewhere',
        message: 'Another app signed in to this account with the same name and took over the connection. Reconnect to take it back.',
        fix: 'retry',
      };
    case 'see_other_host':
      return {
        title: 'Redirected',
        message: `The server sent Tern to ${e.host}.`,
        fix: 'retry',
      };
    case 'policy_violation':
      return {
        title: 'Disconnected by the server',
        message: `The server closed the connection for breaking its rules${e.text ? `: ${sentence(e.text)}` : '.'} This is often a rate limit; wait a few minutes, then reconnect.`,
        fix: 'retry',
      };
    case 'stream_error':
      return {
        title: 'Disconnected by the server',
        message: `The server closed the connection (${e.condition}${e.text ? `: ${e.text}` : ''}).`,
        fix: 'retry',
      };
    case 'connection_lost':
      return {
        title: 'Connection lost',
        message: `The connection to the server was lost${detailSuffix(e.detail)}.`,
        fix: 'retry',
      };
    case 'timeout':
      return {
        title: 'Server not answering',
        message: 'The server did not answer in time. Check your internet connection.',
        fix: 'retry',
      };
    case 'protocol':
      return {
        title: 'Unexpected answer',
        message: `The server sent something Tern could not understand${detailSuffix(e.detail)}.`,
        fix: 'retry',
      };
    case 'password_unavailable':
      return {
        title: 'Password missing',
        message: `Tern could not read this account’s password from the system keychain${detailSuffix(e.detail)}. Enter it again.`,
        fix: 'password',
      };
    default: {
      const unknown = e as { kind?: string };
      return {
        title: 'Connection failed',
        message: `Tern could not connect (${unknown.kind ?? 'unknown error'}).`,
        fix: 'retry',
      };
    }
  }
}

/** Every `ConnectError` kind the engine sends (kept in step by a unit test). */
export const CONNECT_ERROR_KINDS: ConnectErrorKind[] = [
  'authentication_failed',
  'account_disabled',
  'certificate_untrusted',
  'certificate_changed',
  'sasl_downgrade',
  'sign_in_intercepted',
  'dns_failure',
  'host_unreachable',
  'tls_failure',
  'no_encryption',
  'no_usable_mechanism',
  'conflict',
  'see_other_host',
  'policy_violation',
  'stream_error',
  'connection_lost',
  'timeout',
  'protocol',
  'password_unavailable',
];

/** `UiError` from a command. */
export interface UiError {
  kind: string;
  message: string;
}

export function isUiError(e: unknown): e is UiError {
  return typeof e === 'object' && e !== null && typeof (e as UiError).kind === 'string' && typeof (e as UiError).message === 'string';
}

/** Text for anything a command rejected with. */
export function errorText(e: unknown): string {
  if (isUiError(e)) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** Seconds until the next attempt, never negative. */
export function secondsLeft(retryInMs: number, elapsedMs: number): number {
  return Math.max(0, Math.ceil((retryInMs - elapsedMs) / 1000));
}

/** The status line of an account. */
export function statusText(state: AccountState, elapsedMs = 0): string {
  switch (state.state) {
    case 'disabled':
      return 'Disabled';
    case 'connecting':
      return state.attempt > 1 ? `Connecting (attempt ${state.attempt})…` : 'Connecting…';
    case 'connected':
      return 'Connected';
    case 'reconnecting': {
      const s = secondsLeft(state.retry_in_ms, elapsedMs);
      const why = describeConnectError(state.error).title;
      return s > 0 ? `${why}. Reconnecting in ${s} s` : `${why}. Reconnecting…`;
    }
    case 'failed':
      return describeConnectError(state.error).title;
  }
}
