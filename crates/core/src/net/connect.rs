//! Opening an authenticated XMPP stream: resolve, TCP, STARTTLS or direct
//! TLS, SASL. Every failure becomes a [`ConnectError`].
//!
//! The result is handed to tokio-xmpp's stanza stream, which binds a
//! resource and runs XEP-0198 stream management (resumption included).

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use sasl::common::ChannelBinding;
use sha2::{Digest, Sha256};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_xmpp::xmlstream::{
    initiate_stream, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement,
};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::sasl_cb::Type as CbType;
use xmpp_parsers::starttls;
use xmpp_parsers::stream_features::StreamFeatures;

use crate::error::ConnectError;
use crate::net::resolve::{endpoints, Endpoint, ServerOverride};
use crate::net::sasl::{plan, sign_in, Binding, Failed, Floor, Offer, Plan, Strength};
use crate::net::tap::{StreamErrorSlot, Tap};
use crate::net::tls::{client_config, format_fingerprint, CertFailure, TlsTrust};

/// The byte stream under an XMPP stream: TLS over TCP, watched for stream errors.
pub(crate) type Io = BufStream<Tap<TlsStream<TcpStream>>>;

const TCP_TIMEOUT: Duration = Duration::from_secs(10);
const NS_CLIENT: &str = "jabber:client";

/// Where and how to connect.
#[derive(Clone, Debug)]
pub(crate) struct Target {
    pub domain: String,
    pub over: ServerOverride,
    pub trust: TlsTrust,
    pub timeouts: Timeouts,
}

/// A TLS-protected stream whose features have not been read yet.
pub(crate) struct Secured {
    pub pending: PendingFeaturesRecv<Io>,
    pub channel_binding: ChannelBinding,
    pub endpoint: Endpoint,
    pub stream_errors: StreamErrorSlot,
    /// SHA-256 of the server's end-entity certificate.
    pub certificate: Option<[u8; 32]>,
}

/// Resolves and connects, trying each endpoint in turn, up to a secured stream.
pub(crate) async fn secure(target: &Target) -> Result<Secured, ConnectError> {
    let list = endpoints(&target.domain, &target.over).await?;
    let mut last = None;
    for ep in list {
        match secure_endpoint(target, &ep).await {
            Ok(s) => return Ok(s),
            // Certificate problems are about the domain, not the endpoint:
            // report them at once so the user sees the fingerprint.
            Err(e @ ConnectError::CertificateUntrusted { .. }) => return Err(e),
            Err(e) => {
                tracing::debug!(host = %ep.host, port = ep.port, "endpoint failed: {e}");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or(ConnectError::HostUnreachable {
        host: target.domain.clone(),
        detail: "no address to try".into(),
    }))
}

async fn tcp_connect(ep: &Endpoint) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<_> = match tokio::net::lookup_host((ep.host.as_str(), ep.port)).await {
        Ok(a) => a.collect(),
        Err(e) => {
            return Err(ConnectError::DnsFailure {
                domain: ep.host.clone(),
                detail: e.to_string(),
            })
        }
    };
    if addrs.is_empty() {
        return Err(ConnectError::DnsFailure {
            domain: ep.host.clone(),
            detail: "no addresses".into(),
        });
    }
    let mut last = String::new();
    for addr in addrs {
        match tokio::time::timeout(TCP_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: timed out"),
        }
    }
    Err(ConnectError::HostUnreachable {
        host: format!("{}:{}", ep.host, ep.port),
        detail: last,
    })
}

fn header(domain: &str) -> StreamHeader<'_> {
    StreamHeader {
        to: Some(Cow::Borrowed(domain)),
        from: None,
        id: None,
    }
}

async fn secure_endpoint(target: &Target, ep: &Endpoint) -> Result<Secured, ConnectError> {
    let tcp = tcp_connect(ep).await?;
    let tcp = if ep.direct_tls {
        tcp
    } else {
        starttls(tcp, &target.domain, target.timeouts).await?
    };
    let (config, failure) = client_config(&target.trust, ep.direct_tls)?;
    let name = rustls::pki_types::ServerName::try_from(target.domain.clone()).map_err(|e| {
        ConnectError::TlsFailure {
            detail: format!("invalid server name: {e}"),
        }
    })?;
    let tls = match TlsConnector::from(config).connect(name, tcp).await {
        Ok(t) => t,
        Err(e) => return Err(tls_error(e, &failure)),
    };
    let certificate = {
        let (_, conn) = tls.get_ref();
        conn.peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| Sha256::digest(c.as_ref()).into())
    };
    let channel_binding = {
        let (_, conn) = tls.get_ref();
        match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => conn
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .map(ChannelBinding::TlsExporter)
                .unwrap_or(ChannelBinding::None),
            _ => ChannelBinding::None,
        }
    };
    let stream_errors: StreamErrorSlot = Arc::new(Mutex::new(None));
    let io = BufStream::new(Tap::new(tls, stream_errors.clone()));
    let pending = initiate_stream(io, NS_CLIENT, header(&target.domain), target.timeouts)
        .await
        .map_err(io_error)?;
    Ok(Secured {
        pending,
        channel_binding,
        endpoint: ep.clone(),
        stream_errors,
        certificate,
    })
}

fn tls_error(e: std::io::Error, failure: &Mutex<Option<CertFailure>>) -> ConnectError {
    if let Some(f) = failure.lock().ok().and_then(|mut f| f.take()) {
        return ConnectError::CertificateUntrusted {
            fingerprint: format_fingerprint(&f.sha256),
            sha256: hex::encode(f.sha256),
            reason: f.problems.describe(),
            problems: f.problems.names(),
        };
    }
    ConnectError::TlsFailure {
        detail: e.to_string(),
    }
}

/// RFC 6120 STARTTLS negotiation over plain TCP; refuses servers without it.
async fn starttls(
    tcp: TcpStream,
    domain: &str,
    timeouts: Timeouts,
) -> Result<TcpStream, ConnectError> {
    let pending = initiate_stream(BufStream::new(tcp), NS_CLIENT, header(domain), timeouts)
        .await
        .map_err(io_error)?;
    let (features, mut stream): (StreamFeatures, XmppStream<BufStream<TcpStream>>) =
        pending.recv_features().await.map_err(features_error)?;
    if !features.can_starttls() {
        return Err(ConnectError::NoEncryption);
    }
    stream
        .send(&XmppStreamElement::Starttls(starttls::Nonza::Request(
            starttls::Request,
        )))
        .await
        .map_err(io_error)?;
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(|v| v.into_read_error()))
        {
            Some(Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_)))) => break,
            Some(Ok(XmppStreamElement::StreamError(e))) => {
                return Err(ConnectError::from_stream_error(&e.0))
            }
            Some(Ok(other)) => {
                return Err(ConnectError::Protocol {
                    detail: format!("unexpected answer to STARTTLS: {other:?}"),
                })
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(io_error(e)),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(ConnectError::Protocol {
                    detail: e.to_string(),
                })
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(ConnectError::ConnectionLost {
                    detail: "server closed the stream during STARTTLS".into(),
                })
            }
        }
    }
    Ok(stream.into_inner().into_inner())
}

pub(crate) fn io_error(e: std::io::Error) -> ConnectError {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut => ConnectError::Timeout,
        K::InvalidData => ConnectError::Protocol {
            detail: e.to_string(),
        },
        _ => ConnectError::ConnectionLost {
            detail: e.to_string(),
        },
    }
}

pub(crate) fn features_error(e: tokio_xmpp::xmlstream::RecvFeaturesError) -> ConnectError {
    match e {
        tokio_xmpp::xmlstream::RecvFeaturesError::Io(e) => io_error(e),
        tokio_xmpp::xmlstream::RecvFeaturesError::StreamError(e) => {
            ConnectError::from_stream_error(&e.0)
        }
    }
}

/// An authenticated stream ready for resource binding.
pub(crate) struct Authenticated {
    pub stream: XmppStream<Io>,
    pub features: StreamFeatures,
    pub stream_errors: StreamErrorSlot,
    pub endpoint: Endpoint,
    /// SHA-256 of the server's certificate.
    pub certificate: Option<[u8; 32]>,
    /// The sign-in used.
    pub strength: Strength,
    /// The server signed its mechanism list (XEP-0474) and it matched.
    pub ssdp: bool,
    /// The server rejected channel binding (the sign-in went without).
    pub binding_rejected: bool,
}

/// The channel-binding types of a XEP-0440 announcement.
fn cb_names(types: &[CbType]) -> Vec<String> {
    types
        .iter()
        .map(|t| {
            match t {
                CbType::TlsUnique => "tls-unique",
                CbType::TlsServerEndPoint => "tls-server-end-point",
                CbType::TlsUniqueForTelnet => "tls-unique-for-telnet",
                CbType::TlsExporter => "tls-exporter",
            }
            .to_string()
        })
        .collect()
}

/// Connects and authenticates with SASL (see [`crate::net::sasl`]): the
/// strongest mechanism offered, with tls-exporter channel binding when
/// possible and `try_binding` is set, and never weaker than `floor` (what
/// worked before) without the user's decision.
pub(crate) async fn authenticate(
    target: &Target,
    jid: &BareJid,
    password: &str,
    try_binding: bool,
    floor: Floor,
) -> Result<Authenticated, ConnectError> {
    let secured = secure(target).await?;
    let (features, stream): (StreamFeatures, XmppStream<Io>) = secured
        .pending
        .recv_features()
        .await
        .map_err(features_error)?;
    let offer = Offer {
        mechanisms: features.sasl_mechanisms.clone(),
        cb_types: features.sasl_cb.as_ref().map(|cb| cb_names(&cb.types)),
    };
    let exporter = match &secured.channel_binding {
        ChannelBinding::TlsExporter(data) => Some(data.clone()),
        _ => None,
    };
    let (mech, binding, require_ssdp) = match plan(&offer, exporter.is_some(), try_binding, floor) {
        Plan::Go {
            mech,
            binding,
            require_ssdp,
        } => (mech, binding, require_ssdp),
        Plan::Refuse(e) => return Err(e),
    };
    let Some(local) = jid.node() else {
        return Err(ConnectError::Protocol {
            detail: "the address has no user name".into(),
        });
    };
    let signed = match sign_in(
        stream,
        &offer,
        mech,
        binding,
        exporter.as_deref(),
        require_ssdp,
        floor,
        local.as_str(),
        password,
    )
    .await
    {
        Ok(s) => s,
        Err(Failed::Other(e)) => return Err(e),
        Err(Failed::Refused(condition, text)) => {
            let err = auth_failure(condition);
            if binding == Binding::Exporter
                && matches!(err, ConnectError::AuthenticationFailed { .. })
            {
                // Some servers offer -PLUS but reject tls-exporter binding
                // (ejabberd 23.01: "Invalid channel binding"). Without it is
                // one more attempt, unless binding worked with this server
                // before: then a failure is what a man in the middle causes.
                if let Some(before) = floor.strength.filter(|s| s.binding) {
                    return Err(ConnectError::SaslDowngrade {
                        previous: before.name(),
                        offered: Strength {
                            mech,
                            binding: false,
                        }
                        .name(),
                    });
                }
                tracing::info!(
                    "SASL with channel binding failed ({err}: {}); retrying without",
                    text.unwrap_or_default()
                );
                let mut again = Box::pin(authenticate(target, jid, password, false, floor)).await?;
                again.binding_rejected = true;
                return Ok(again);
            }
            return Err(err);
        }
    };
    let pending = signed
        .stream
        .send_header(header(&target.domain))
        .await
        .map_err(io_error)?;
    let (features, stream) = pending.recv_features().await.map_err(features_error)?;
    Ok(Authenticated {
        stream,
        features,
        stream_errors: secured.stream_errors,
        endpoint: secured.endpoint,
        certificate: secured.certificate,
        strength: signed.strength,
        ssdp: signed.ssdp,
        binding_rejected: false,
    })
}

fn auth_failure(condition: xmpp_parsers::sasl::DefinedCondition) -> ConnectError {
    use xmpp_parsers::sasl::DefinedCondition as C;
    match condition {
        C::AccountDisabled => ConnectError::AccountDisabled,
        C::NotAuthorized => ConnectError::AuthenticationFailed {
            condition: "not-authorized".into(),
        },
        C::CredentialsExpired => ConnectError::AuthenticationFailed {
            condition: "credentials-expired".into(),
        },
        C::TemporaryAuthFailure => ConnectError::StreamError {
            condition: "temporary-auth-failure".into(),
            text: String::new(),
        },
        other => ConnectError::AuthenticationFailed {
            condition: format!("{other:?}"),
        },
    }
}

/// Full JID to bind, or the bare JID to let the server pick a resource.
pub(crate) fn identity(jid: &BareJid, resource: Option<&str>) -> Jid {
    match resource.and_then(|r| jid.with_resource_str(r).ok()) {
        Some(full) => Jid::from(full),
        None => Jid::from(jid.clone()),
    }
}
