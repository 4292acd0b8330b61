//! The reconnect policy. tokio-xmpp's stanza stream does resource binding
//! and XEP-0198 (acks, resumption, keepalive); Tern supplies the
//! "reconnector" it calls whenever it needs a fresh authenticated stream.
//! That is where Tern decides whether to retry (with jittered backoff) or
//! to stop and tell the user, and follows `see-other-host` redirects.
//!
//! Each attempt reads what the account remembers about its server (the
//! store's `server_security` and pinned certificate) and writes back what it
//! learnt: the certificate and sign-in of a successful connection, or the
//! certificate or weaker sign-in it refused, which is what the user can then
//! accept (`Client::pin_certificate`, `Client::accept_weaker_sign_in`). A
//! refused certificate that differs from the one of the last sign-in is
//! reported as [`ConnectError::CertificateChanged`].

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::{oneshot, Notify};
use tokio_xmpp::stanzastream::Connection;
use tokio_xmpp::xmlstream::Timeouts;
use xmpp_parsers::jid::BareJid;

use tern_store::{ServerSecurity, Store};

use crate::error::ConnectError;
use crate::events::{AccountState, ClientEvent, EventHub};
use crate::net::connect::{authenticate, identity, Authenticated, Target};
use crate::net::resolve::ServerOverride;
use crate::net::sasl::{Floor, Strength};
use crate::net::tap::StreamErrorSlot;
use crate::net::tls::{parse_fingerprint, TlsTrust};
use crate::passwords::PasswordStore;

/// How long one connection attempt (resolve + TLS + SASL) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(45);
/// Backoff bounds.
const BACKOFF_BASE: Duration = Duration::from_millis(1000);
const BACKOFF_MAX: Duration = Duration::from_secs(120);

/// Connection settings of an account.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub jid: BareJid,
    pub resource: Option<String>,
    pub over: ServerOverride,
    pub trust: TlsTrust,
    pub timeouts: Timeouts,
    /// Where the account's pin and server security record live.
    pub store: Store,
}

/// What the reconnector of one account keeps between attempts.
pub(crate) struct Link {
    pub jid: String,
    pub settings: Mutex<Settings>,
    pub passwords: Arc<dyn PasswordStore>,
    pub hub: Arc<EventHub>,
    /// Wakes a reconnector waiting for the user (or a backoff timer).
    pub retry: Notify,
    pub attempt: AtomicU32,
    pub stopped: AtomicBool,
    /// Stream-error slot of the current connection.
    pub stream_errors: Mutex<Option<StreamErrorSlot>>,
    /// Channel binding is worth trying: the server did not reject it yet
    /// while this account runs.
    pub use_channel_binding: AtomicBool,
}

impl Link {
    pub(crate) fn new(
        settings: Settings,
        passwords: Arc<dyn PasswordStore>,
        hub: Arc<EventHub>,
    ) -> Link {
        Link {
            jid: settings.jid.to_string(),
            settings: Mutex::new(settings),
            passwords,
            hub,
            retry: Notify::new(),
            attempt: AtomicU32::new(0),
            stopped: AtomicBool::new(false),
            stream_errors: Mutex::new(None),
            use_channel_binding: AtomicBool::new(true),
        }
    }

    pub(crate) fn emit(&self, state: AccountState) {
        if self.stopped.load(Ordering::SeqCst) {
            return;
        }
        self.hub.emit(ClientEvent::AccountState {
            jid: self.jid.clone(),
            state,
        });
    }

    fn take_stream_error(&self) -> Option<xmpp_parsers::stream_error::StreamError> {
        let slot = self.stream_errors.lock().ok()?.clone()?;
        let err = slot.lock().ok()?.take();
        err
    }
}

/// Jittered exponential backoff: attempt 1 waits 0.5–1 s, doubling up to 2 min.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let exp = attempt.saturating_sub(1).min(10);
    let base = BACKOFF_BASE.saturating_mul(1 << exp).min(BACKOFF_MAX);
    let ms = base.as_millis() as u64;
    Duration::from_millis(rand::thread_rng().gen_range(ms / 2..=ms.max(1)))
}

/// Called by the stanza stream each time it needs a new connection.
pub(crate) async fn reconnect(link: Arc<Link>, mut slot: oneshot::Sender<Connection>) {
    let mut redirect: Option<String> = None;
    if let Some(err) = link.take_stream_error() {
        let err = ConnectError::from_stream_error(&err);
        tracing::info!(account = %link.jid, "stream ended by the server: {err}");
        match err {
            ConnectError::SeeOtherHost { host } => redirect = Some(host),
            e if !e.is_retryable() => {
                link.emit(AccountState::Failed { error: e });
                tokio::select! {
                    _ = link.retry.notified() => {}
                    _ = slot.closed() => return,
                }
            }
            _ => {}
        }
    }
    let mut redirects = 0;
    loop {
        if slot.is_closed() {
            return;
        }
        if link.stopped.load(Ordering::SeqCst) {
            // Keep the slot until the stream lets go of it: dropping it
            // first would make tokio-xmpp's worker panic.
            slot.closed().await;
            return;
        }
        let attempt = link.attempt.fetch_add(1, Ordering::SeqCst) + 1;
        link.emit(AccountState::Connecting { attempt });
        let result = tokio::select! {
            r = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt_once(&link, redirect.take())) => {
                r.unwrap_or(Err(ConnectError::Timeout))
            }
            _ = slot.closed() => return,
        };
        match result {
            Ok(conn) => {
                link.attempt.store(0, Ordering::SeqCst);
                let _ = slot.send(conn);
                return;
            }
            Err(ConnectError::SeeOtherHost { host }) if redirects < 3 => {
                redirects += 1;
                redirect = Some(host);
            }
            Err(error) if error.is_retryable() => {
                let delay = backoff(attempt);
                tracing::info!(account = %link.jid, attempt, ?delay, "connection failed, will retry: {error}");
                link.emit(AccountState::Reconnecting {
                    attempt,
                    retry_in_ms: delay.as_millis() as u64,
                    error,
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = link.retry.notified() => {}
                    _ = slot.closed() => return,
                }
            }
            Err(error) => {
                tracing::info!(account = %link.jid, "connection failed, waiting for the user: {error}");
                link.emit(AccountState::Failed { error });
                tokio::select! {
                    _ = link.retry.notified() => { link.attempt.store(0, Ordering::SeqCst); }
                    _ = slot.closed() => return,
                }
            }
        }
    }
}

fn parse_redirect(host: &str, current: &ServerOverride) -> ServerOverride {
    let (h, p) = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (
                h.trim_matches(|c| c == '[' || c == ']').to_string(),
                Some(port),
            ),
            Err(_) => (host.to_string(), None),
        },
        _ => (
            host.trim_matches(|c| c == '[' || c == ']').to_string(),
            None,
        ),
    };
    ServerOverride {
        host: Some(h),
        port: p.or(current.port),
        direct_tls: current.direct_tls,
    }
}

async fn attempt_once(
    link: &Arc<Link>,
    redirect: Option<String>,
) -> Result<Connection, ConnectError> {
    let settings = link
        .settings
        .lock()
        .map(|s| s.clone())
        .map_err(|_| ConnectError::Protocol {
            detail: "internal state poisoned".into(),
        })?;
    let passwords = link.passwords.clone();
    let jid = link.jid.clone();
    let password = tokio::task::spawn_blocking(move || passwords.get(&jid))
        .await
        .map_err(|e| ConnectError::PasswordUnavailable {
            detail: e.to_string(),
        })?
        .map_err(|e| ConnectError::PasswordUnavailable {
            detail: e.to_string(),
        })?
        .ok_or_else(|| ConnectError::PasswordUnavailable {
            detail: "no password is stored for this account".into(),
        })?;
    let over = match redirect {
        Some(h) => parse_redirect(&h, &settings.over),
        None => settings.over.clone(),
    };
    let jid = settings.jid.to_string();
    let record = settings
        .store
        .server_security(&jid)
        .await
        .map_err(memory_error)?;
    let target = Target {
        domain: settings.jid.domain().to_string(),
        over,
        trust: settings.trust.clone(),
        timeouts: settings.timeouts,
    };
    let floor = Floor {
        strength: Strength::from_stored(record.sasl_mechanism.as_deref(), record.channel_binding),
        ssdp: record.sasl_ssdp,
    };
    let cb = link.use_channel_binding.load(Ordering::SeqCst);
    let auth = match authenticate(&target, &settings.jid, &password, cb, floor).await {
        Ok(auth) => auth,
        Err(e) => return Err(remember_refusal(&settings.store, &jid, &record, e).await),
    };
    if auth.binding_rejected {
        link.use_channel_binding.store(false, Ordering::SeqCst);
    }
    remember_sign_in(&settings.store, &jid, &record, floor, &auth).await?;
    if let Ok(mut s) = link.stream_errors.lock() {
        *s = Some(auth.stream_errors.clone());
    }
    tracing::info!(account = %link.jid, host = %auth.endpoint.host, port = auth.endpoint.port, direct_tls = auth.endpoint.direct_tls, mechanism = %auth.strength.name(), "authenticated");
    Ok(Connection {
        stream: auth.stream.box_stream(),
        features: auth.features,
        identity: identity(&settings.jid, settings.resource.as_deref()),
    })
}

fn memory_error(e: tern_store::StoreError) -> ConnectError {
    // Without its record Tern cannot tell a downgrade: no attempt.
    ConnectError::Protocol {
        detail: format!("cannot read what Tern knows about this server: {e}"),
    }
}

/// Records a refused certificate or sign-in (what the user can accept), and
/// turns a refused certificate that differs from the last sign-in's into
/// [`ConnectError::CertificateChanged`].
async fn remember_refusal(
    store: &Store,
    jid: &str,
    record: &ServerSecurity,
    error: ConnectError,
) -> ConnectError {
    match error {
        ConnectError::CertificateUntrusted {
            fingerprint,
            sha256,
            reason,
            problems,
        } => {
            let refused = parse_fingerprint(&sha256);
            let list = problems.join(",");
            if let Err(e) = store
                .update_server_security(jid, |s| {
                    s.refused_certificate = refused;
                    s.refused_problems = Some(list);
                })
                .await
            {
                tracing::warn!(account = %jid, "cannot record the refused certificate: {e}");
            }
            match record.known_certificate.filter(|k| Some(*k) != refused) {
                Some(previous) => ConnectError::CertificateChanged {
                    fingerprint,
                    sha256,
                    reason,
                    problems,
                    previous_sha256: hex::encode(previous),
                },
                None => ConnectError::CertificateUntrusted {
                    fingerprint,
                    sha256,
                    reason,
                    problems,
                },
            }
        }
        ConnectError::SaslDowngrade { previous, offered } => {
            let weaker = Strength::from_name(&offered);
            if let Err(e) = store
                .update_server_security(jid, |s| {
                    s.refused_sasl_mechanism = weaker.map(|w| w.mech.name().to_string());
                    s.refused_channel_binding = weaker.is_some_and(|w| w.binding);
                })
                .await
            {
                tracing::warn!(account = %jid, "cannot record the refused sign-in: {e}");
            }
            ConnectError::SaslDowngrade { previous, offered }
        }
        other => other,
    }
}

/// Records a successful sign-in: its certificate, and its strength if
/// stronger than what was known.
///
/// Most reconnections learn nothing new: then nothing is written, so a
/// reconnection never waits for the database's write lock while messages
/// are being stored.
async fn remember_sign_in(
    store: &Store,
    jid: &str,
    record: &ServerSecurity,
    floor: Floor,
    auth: &Authenticated,
) -> Result<(), ConnectError> {
    let strength = match floor.strength {
        Some(before) => before.max(auth.strength),
        None => auth.strength,
    };
    let learn = |s: &mut ServerSecurity| {
        if auth.certificate.is_some() {
            s.known_certificate = auth.certificate;
        }
        s.refused_certificate = None;
        s.refused_problems = None;
        s.sasl_mechanism = Some(strength.mech.name().to_string());
        s.channel_binding = strength.binding;
        s.sasl_ssdp = floor.ssdp || auth.ssdp;
        s.refused_sasl_mechanism = None;
        s.refused_channel_binding = false;
    };
    let mut learnt = record.clone();
    learn(&mut learnt);
    if learnt == *record {
        return Ok(());
    }
    store
        .update_server_security(jid, learn)
        .await
        .map(|_| ())
        .map_err(|e| ConnectError::Protocol {
            detail: format!("cannot record the sign-in: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_bounded() {
        for _ in 0..100 {
            let d1 = backoff(1);
            assert!(d1 >= Duration::from_millis(500) && d1 <= Duration::from_millis(1000));
            let d3 = backoff(3);
            assert!(d3 >= Duration::from_millis(2000) && d3 <= Duration::from_millis(4000));
            assert!(backoff(50) <= BACKOFF_MAX);
            assert!(backoff(50) >= BACKOFF_MAX / 2);
        }
    }

    #[test]
    fn redirect_targets() {
        let cur = ServerOverride::default();
        let o = parse_redirect("other.example:5333", &cur);
        assert_eq!(o.host.as_deref(), Some("other.example"));
        assert_eq!(o.port, Some(5333));
        let o = parse_redirect("other.example", &cur);
        assert_eq!(o.port, None);
        let o = parse_redirect("[::1]:5222", &cur);
        assert_eq!(o.host.as_deref(), Some("::1"));
        assert_eq!(o.port, Some(5222));
    }
}
