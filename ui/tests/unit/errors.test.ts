import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONNECT_ERROR_KINDS, describeConnectError, errorText, secondsLeft, statusText } from '../../src/lib/errors';
import type { ConnectError } from '../../src/lib/engine';

// One example of every kind, with the fields the engine sends.
const examples: ConnectError[] = [
  { kind: 'authentication_failed', condition: 'not-authorized' },
  { kind: 'account_disabled' },
  { kind: 'certificate_untrusted', fingerprint: 'ab:cd', sha256: 'abcd', reason: 'UnknownIssuer', problems: ['untrusted'] },
  { kind: 'dns_failure', domain: 'example.org', detail: 'no record' },
  { kind: 'host_unreachable', host: 'xmpp.example.org:5222', detail: 'Connection refused' },
  { kind: 'tls_failure', detail: 'handshake' },
  { kind: 'no_encryption' },
  { kind: 'no_usable_mechanism', offered: 'DIGEST-MD5' },
  { kind: 'conflict' },
  { kind: 'see_other_host', host: 'other.example.org' },
  { kind: 'policy_violation', text: 'slow down' },
  { kind: 'stream_error', condition: 'system-shutdown', text: '' },
  { kind: 'connection_lost', detail: 'reset by peer' },
  { kind: 'timeout' },
  { kind: 'protocol', detail: 'bad xml' },
  { kind: 'password_unavailable', detail: 'locked' },
  {
    kind: 'certificate_changed',
    fingerprint: 'ab:cd',
    sha256: 'abcd',
    reason: 'issued by an unknown authority',
    problems: ['untrusted'],
    previous_sha256: 'ef01',
  },
  { kind: 'sasl_downgrade', previous: 'SCRAM-SHA-1', offered: 'PLAIN' },
  { kind: 'sign_in_intercepted', detail: 'the lists differ' },
];

describe('describeConnectError', () => {
  it('knows every kind the engine defines', () => {
    // Kinds from the Rust source, so a new engine error fails this test.
    const rust = readFileSync(fileURLToPath(new URL('../../../crates/core/src/error.rs', import.meta.url)), 'utf8');
    const kinds = [...rust.matchAll(/=> "([a-z_]+)",/g)].map((m) => m[1]);
    expect(kinds.length).toBeGreaterThan(10);
    expect([...CONNECT_ERROR_KINDS].sort()).toEqual([...new Set(kinds)].sort());
    expect(examples.map((e) => e.kind).sort()).toEqual([...CONNECT_ERROR_KINDS].sort());
  });

  it('gives a specific headline and a full sentence for each', () => {
    const titles = new Set<string>();
    for (const e of examples) {
      const d = describeConnectError(e);
      expect(d.title, e.kind).not.toBe('Connection failed');
      expect(d.message, e.kind).toMatch(/[.)]$/);
      titles.add(d.title);
    }
    expect(titles.size).toBeGreaterThanOrEqual(14);
  });

  it('points to the fix that needs a person', () => {
    expect(describeConnectError(examples[0]).fix).toBe('password');
    expect(describeConnectError(examples[0]).title).toBe('Wrong password');
    expect(describeConnectError(examples[2]).fix).toBe('certificate');
    expect(describeConnectError(examples[3]).message).toContain('example.org');
    expect(describeConnectError({ kind: 'password_unavailable', detail: '' }).fix).toBe('password');
    const byKind = (k: string) => describeConnectError(examples.find((e) => e.kind === k)!);
    expect(byKind('certificate_changed').fix).toBe('certificate');
    expect(byKind('certificate_changed').message).toContain('attack');
    expect(byKind('sasl_downgrade').fix).toBe('weaker');
    expect(byKind('sasl_downgrade').message).toContain('PLAIN');
    expect(byKind('sign_in_intercepted').fix).toBe('retry');
  });

  it('survives a kind it does not know', () => {
    const d = describeConnectError({ kind: 'brand_new' } as unknown as ConnectError);
    expect(d.title).toBe('Connection failed');
    expect(d.message).toContain('brand_new');
  });
});

describe('status and command errors', () => {
  it('counts down reconnection', () => {
    expect(secondsLeft(4500, 1000)).toBe(4);
    expect(secondsLeft(1000, 5000)).toBe(0);
    const s = statusText({ state: 'reconnecting', attempt: 2, retry_in_ms: 8000, error: { kind: 'timeout' } }, 1000);
    expect(s).toBe('Server not answering. Reconnecting in 7 s');
    expect(statusText({ state: 'connected', bound_jid: 'a@b/c', resumed: true })).toBe('Connected');
    expect(statusText({ state: 'failed', error: examples[0] })).toBe('Wrong password');
  });

  it('shows the shell’s message for a UiError', () => {
    expect(errorText({ kind: 'account_exists', message: 'a@b is already in Tern; see Accounts.' })).toBe(
      'a@b is already in Tern; see Accounts.',
    );
    expect(errorText(new Error('boom'))).toBe('boom');
    expect(errorText('plain')).toBe('plain');
  });
});
