//! Errors, typed per layer.
//!
//! [`ConnectError`] is what a connection attempt can end with. Each variant is
//! something a person can act on; the UI maps `kind` to words, and
//! [`ConnectError::is_retryable`] says whether Tern retries by itself.

use serde::Serialize;

/// Why a connection attempt (or an established stream) failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectError {
    /// The server rejected the credentials (SASL `not-authorized`, ...).
    #[error("the server did not accept the password for this account ({condition})")]
    AuthenticationFailed {
        /// SASL condition, e.g. `not-authorized`.
        condition: String,
    },
    /// The server says the account is disabled or locked.
    #[error("the server says this account is disabled")]
    AccountDisabled,
    /// The server certificate failed verification. The user may pin it.
    #[error(
        "the server's certificate is not trusted ({reason}); SHA-256 fingerprint {fingerprint}"
    )]
    CertificateUntrusted {
        /// SHA-256 of the end-entity certificate, uppercase hex with colons.
        fingerprint: String,
        /// Raw SHA-256 bytes, hex without separators (for pinning).
        sha256: String,
        /// Why verification failed, in words.
        reason: String,
        /// Every problem found, as stable names: `untrusted` (unknown or
        /// invalid issuer), `name` (issued for another server), `expired`
        /// (or not valid yet), `revoked`, `purpose` (not for servers). A pin
        /// accepts exactly these.
        problems: Vec<String>,
    },
    /// The server presents a certificate that fails verification and is not
    /// the one it presented at the last sign-in: someone may be intercepting
    /// the connection. The user may still pin it, after a stronger warning.
    #[error(
        "the server's certificate changed since the last sign-in and is not trusted ({reason}); SHA-256 fingerprint {fingerprint}, before {previous_sha256}"
    )]
    CertificateChanged {
        /// SHA-256 of the new certificate, uppercase hex with colons.
        fingerprint: String,
        /// The new certificate's SHA-256, hex without separators (for pinning).
        sha256: String,
        /// Why verification failed, in words.
        reason: String,
        /// Every problem found (see [`ConnectError::CertificateUntrusted`]).
        problems: Vec<String>,
        /// SHA-256 of the certificate of the last sign-in, hex without
        /// separators.
        previous_sha256: String,
    },
    /// The domain (or its SRV records) could not be resolved.
    #[error("could not find the server for {domain}: {detail}")]
    DnsFailure {
        /// Domain we tried to resolve.
        domain: String,
        /// Resolver detail.
        detail: String,
    },
    /// Every address refused or timed out.
    #[error("could not reach the server {host}: {detail}")]
    HostUnreachable {
        /// Host (and port) we tried last.
        host: String,
        /// OS detail, e.g. "Connection refused".
        detail: String,
    },
    /// TLS handshake failed for a reason other than certificate trust.
    #[error("secure connection failed: {detail}")]
    TlsFailure {
        /// Detail.
        detail: String,
    },
    /// The server does not offer STARTTLS; Tern never talks in clear text.
    #[error("the server does not offer encryption (STARTTLS); Tern will not connect without it")]
    NoEncryption,
    /// No SASL mechanism both sides support.
    #[error("the server offers no sign-in method Tern supports ({offered})")]
    NoUsableMechanism {
        /// Mechanisms the server offered.
        offered: String,
    },
    /// The server no longer offers the sign-in it offered before: a weaker
    /// SASL mechanism (PLAIN after SCRAM, SCRAM-SHA-1 after SCRAM-SHA-256)
    /// or no channel binding where there was. Someone may be intercepting
    /// the connection to get the password. Nothing was sent; the user may
    /// accept the weaker sign-in ([`crate::Client::accept_weaker_sign_in`]).
    #[error("the server no longer offers the secure sign-in it offered before ({previous}, now {offered}); this may be an attack")]
    SaslDowngrade {
        /// The sign-in used before, e.g. `SCRAM-SHA-1` or
        /// `SCRAM-SHA-256-PLUS` (`-PLUS`: with channel binding).
        previous: String,
        /// The best sign-in offered now, e.g. `PLAIN`.
        offered: String,
    },
    /// The sign-in was tampered with on the way: the server's signed list
    /// of mechanisms (XEP-0474) does not match the list Tern received, or
    /// the server could not prove that it knows the password (SCRAM).
    #[error(
        "someone changed the sign-in on the way to the server ({detail}); this is likely an attack"
    )]
    SignInIntercepted {
        /// What did not match.
        detail: String,
    },
    /// Another client signed in with the same resource and took over.
    #[error("another client signed in with the same resource and replaced this connection")]
    Conflict,
    /// The server asked us to connect elsewhere.
    #[error("the server redirected to {host}")]
    SeeOtherHost {
        /// `host[:port]` the server named.
        host: String,
    },
    /// The server closed the stream for a policy violation (e.g. rate limits).
    #[error("the server closed the connection for a policy violation: {text}")]
    PolicyViolation {
        /// Server-provided text, if any.
        text: String,
    },
    /// Any other stream error from the server.
    #[error("the server closed the connection: {condition} {text}")]
    StreamError {
        /// Stream error condition.
        condition: String,
        /// Server-provided text, if any.
        text: String,
    },
    /// The connection dropped or the server stopped answering.
    #[error("the connection was lost: {detail}")]
    ConnectionLost {
        /// Detail.
        detail: String,
    },
    /// The attempt took too long.
    #[error("the server did not answer in time")]
    Timeout,
    /// The server sent something Tern could not understand.
    #[error("protocol error: {detail}")]
    Protocol {
        /// Detail.
        detail: String,
    },
    /// The keychain has no password for this account, or could not be read.
    #[error("no password available for this account: {detail}")]
    PasswordUnavailable {
        /// Detail.
        detail: String,
    },
}

impl ConnectError {
    /// Whether waiting and trying again can fix this failure. Failures that
    /// need the user (wrong password, untrusted certificate, conflict) are not
    /// retried: the account stops and reports them.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConnectError::DnsFailure { .. }
            | ConnectError::HostUnreachable { .. }
            | ConnectError::ConnectionLost { .. }
            | ConnectError::Timeout
            | ConnectError::TlsFailure { .. }
            | ConnectError::SeeOtherHost { .. }
            // A stream cut mid-element looks like malformed XML; a server
            // that really sends garbage is retried with growing delays.
            | ConnectError::Protocol { .. }
            // Usually rate limiting: waiting is what the server asks for.
            | ConnectError::PolicyViolation { .. } => true,
            // Other stream errors (system-shutdown, reset, not-well-formed
            // after a cut mid-stanza, ...): retried with growing delays.
            // The ones that need a person have their own variants.
            ConnectError::StreamError { .. } => true,
            ConnectError::AuthenticationFailed { .. }
            | ConnectError::AccountDisabled
            | ConnectError::CertificateUntrusted { .. }
            | ConnectError::CertificateChanged { .. }
            | ConnectError::SaslDowngrade { .. }
            | ConnectError::SignInIntercepted { .. }
            | ConnectError::NoEncryption
            | ConnectError::NoUsableMechanism { .. }
            | ConnectError::Conflict
            | ConnectError::PasswordUnavailable { .. } => false,
        }
    }

    /// Stable machine-readable kind, the `kind` field of the serialized form.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::AuthenticationFailed { .. } => "authentication_failed",
            ConnectError::AccountDisabled => "account_disabled",
            ConnectError::CertificateUntrusted { .. } => "certificate_untrusted",
            ConnectError::CertificateChanged { .. } => "certificate_changed",
            ConnectError::SaslDowngrade { .. } => "sasl_downgrade",
            ConnectError::SignInIntercepted { .. } => "sign_in_intercepted",
            ConnectError::DnsFailure { .. } => "dns_failure",
            ConnectError::HostUnreachable { .. } => "host_unreachable",
            ConnectError::TlsFailure { .. } => "tls_failure",
            ConnectError::NoEncryption => "no_encryption",
            ConnectError::NoUsableMechanism { .. } => "no_usable_mechanism",
            ConnectError::Conflict => "conflict",
            ConnectError::SeeOtherHost { .. } => "see_other_host",
            ConnectError::PolicyViolation { .. } => "policy_violation",
            ConnectError::StreamError { .. } => "stream_error",
            ConnectError::ConnectionLost { .. } => "connection_lost",
            ConnectError::Timeout => "timeout",
            ConnectError::Protocol { .. } => "protocol",
            ConnectError::PasswordUnavailable { .. } => "password_unavailable",
        }
    }

    /// Builds the error for a stream error received from the server.
    pub fn from_stream_error(e: &xmpp_parsers::stream_error::StreamError) -> ConnectError {
        use xmpp_parsers::stream_error::DefinedCondition as C;
        let text = e
            .get_best_text(vec!["en"])
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        match &e.condition {
            C::Conflict => ConnectError::Conflict,
            C::SeeOtherHost(host) => ConnectError::SeeOtherHost { host: host.clone() },
            C::PolicyViolation => ConnectError::PolicyViolation { text },
            C::NotAuthorized => ConnectError::AuthenticationFailed {
                condition: "not-authorized".into(),
            },
            other => ConnectError::StreamError {
                condition: other.to_string(),
                text,
            },
        }
    }
}

/// `ServiceUnavailable` -> `service-unavailable` (for Debug names of XMPP conditions).
pub(crate) fn kebab(camel: &str) -> String {
    let name = camel.split('(').next().unwrap_or(camel);
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('-');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Errors of engine operations (account management, requests).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The JID is not valid.
    #[error("'{input}' is not a valid address: {detail}")]
    InvalidJid {
        /// What was given.
        input: String,
        /// Why it is invalid.
        detail: String,
    },
    /// Not a SHA-256 certificate fingerprint (64 hex digits, colons allowed).
    #[error("'{0}' is not a SHA-256 certificate fingerprint")]
    InvalidFingerprint(String),
    /// [`crate::Client::pin_certificate`] with a certificate that is not the
    /// one Tern refused last for this account.
    #[error("'{0}' is not the certificate Tern refused last for this account")]
    NotRefusedCertificate(String),
    /// [`crate::Client::accept_weaker_sign_in`] while no weaker sign-in was
    /// refused for this account.
    #[error("Tern refused no weaker sign-in for {0}")]
    NoRefusedSignIn(String),
    /// No such account.
    #[error("no account {0}")]
    UnknownAccount(String),
    /// The account already exists.
    #[error("the account {0} already exists")]
    AccountExists(String),
    /// The account is not connected.
    #[error("the account {0} is not connected")]
    NotConnected(String),
    /// Connecting failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// In-band registration failed.
    #[error(transparent)]
    Registration(#[from] crate::net::register::RegistrationError),
    /// The server answered a request with an error.
    #[error("the server refused: {condition}{}", text.as_deref().map(|t| format!(" ({t})")).unwrap_or_default())]
    Stanza {
        /// Stanza error condition, e.g. `not-allowed`.
        condition: String,
        /// Server text.
        text: Option<String>,
    },
    /// The request timed out.
    #[error("the server did not answer in time")]
    Timeout,
    /// A group chat refused or removed the user, or an action on a room
    /// failed: `code` says why (`banned`, `members_only`, `nick_conflict`,
    /// `not_a_room`, `not_moderator`, …), `message` in words.
    #[error("{message}")]
    Room {
        /// Why, for the UI to act on.
        code: String,
        /// What happened, in words a person can act on.
        message: String,
    },
    /// A file could not be sent, received or found: `code` says why
    /// (`no_service`, `too_large`, `not_found`, `unreadable`, ...),
    /// `message` in words a person can act on.
    #[error("{message}")]
    File {
        /// Why, for the UI to act on.
        code: String,
        /// What happened, in words a person can act on.
        message: String,
    },
    /// An action on encryption keys failed: `code` says why
    /// (`not_a_trust_uri`, `invalid_fingerprint`, `unknown_key`,
    /// `this_device`, `verify_by_comparing`, `unavailable`), `message` in
    /// words a person can act on.
    #[error("{message}")]
    EncryptionKeys {
        /// Why, for the UI to act on.
        code: String,
        /// What happened, in words a person can act on.
        message: String,
    },
    /// A call could not be placed, answered or changed: `code` says why
    /// (`unavailable`, `busy`, `no_call`, `own_account`), `message` in
    /// words a person can act on.
    #[error("{message}")]
    Call {
        /// Why, for the UI to act on.
        code: String,
        /// What happened, in words a person can act on.
        message: String,
    },
    /// A picture cannot be used (e.g. as avatar).
    #[error("this picture can't be used: {0}")]
    InvalidImage(String),
    /// Tern built a request it could not read back: a bug, not the
    /// server's or the user's doing.
    #[error("Tern could not build the request for {0}")]
    Internal(&'static str),
    /// The keychain failed.
    #[error("keychain: {0}")]
    Keychain(#[from] crate::passwords::PasswordError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] tern_store::StoreError),
}

/// Result alias for engine operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn condition_names() {
        assert_eq!(kebab("ServiceUnavailable"), "service-unavailable");
        assert_eq!(kebab("Gone(\"x\")"), "gone");
    }

    #[test]
    fn retry_policy() {
        assert!(!ConnectError::AuthenticationFailed {
            condition: "not-authorized".into()
        }
        .is_retryable());
        assert!(!ConnectError::Conflict.is_retryable());
        assert!(ConnectError::HostUnreachable {
            host: "h".into(),
            detail: "d".into()
        }
        .is_retryable());
        assert!(ConnectError::StreamError {
            condition: "system-shutdown".into(),
            text: String::new()
        }
        .is_retryable());
        let json = serde_json::to_value(ConnectError::Timeout).unwrap();
        assert_eq!(json["kind"], "timeout");
        assert_eq!(ConnectError::Timeout.kind(), "timeout");
    }

    #[test]
    fn security_kinds_are_stable_and_need_the_user() {
        let changed = ConnectError::CertificateChanged {
            fingerprint: "AB".into(),
            sha256: "ab".into(),
            reason: "issued by an unknown authority".into(),
            problems: vec!["untrusted".into()],
            previous_sha256: "cd".into(),
        };
        let downgrade = ConnectError::SaslDowngrade {
            previous: "SCRAM-SHA-1".into(),
            offered: "PLAIN".into(),
        };
        let intercepted = ConnectError::SignInIntercepted { detail: "x".into() };
        for (e, kind) in [
            (changed, "certificate_changed"),
            (downgrade, "sasl_downgrade"),
            (intercepted, "sign_in_intercepted"),
        ] {
            assert!(!e.is_retryable(), "{kind}");
            assert_eq!(e.kind(), kind);
            assert_eq!(serde_json::to_value(&e).unwrap()["kind"], kind);
        }
    }
}
