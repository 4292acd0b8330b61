//! Finding the server: RFC 6120 / XEP-0368 DNS SRV lookup with fallback, or
//! the user's manual host/port.

use std::time::Duration;

use hickory_resolver::proto::rr::{IntoName, RData};
use hickory_resolver::TokioResolver;

use crate::error::ConnectError;

/// One place to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP literal.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Direct TLS (XEP-0368) rather than STARTTLS.
    pub direct_tls: bool,
}

/// How to reach an account's server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOverride {
    /// Host to connect to instead of looking up the domain.
    pub host: Option<String>,
    /// Port (default 5222, or 5223 with direct TLS).
    pub port: Option<u16>,
    /// Direct TLS on the given host/port.
    pub direct_tls: bool,
}

/// A SRV record, as far as ordering cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SrvTarget {
    pub priority: u16,
    pub weight: u16,
    pub endpoint: Endpoint,
}

/// Orders SRV targets: lower priority first; within a priority, higher weight
/// first, and direct TLS before STARTTLS (it saves a round trip). A target of
/// "." means "no service here" and is dropped.
pub(crate) fn order_srv(mut targets: Vec<SrvTarget>) -> Vec<Endpoint> {
    targets.retain(|t| t.endpoint.host != "." && !t.endpoint.host.is_empty());
    targets.sort_by(|a, b| {
        a.priority
            .cmp(&b.priority)
            .then(b.endpoint.direct_tls.cmp(&a.endpoint.direct_tls))
            .then(b.weight.cmp(&a.weight))
    });
    let mut out: Vec<Endpoint> = Vec::new();
    for t in targets {
        if !out.contains(&t.endpoint) {
            out.push(t.endpoint);
        }
    }
    out
}

/// The endpoints to try, in order.
pub async fn endpoints(domain: &str, over: &ServerOverride) -> Result<Vec<Endpoint>, ConnectError> {
    if let Some(host) = over.host.as_deref().filter(|h| !h.is_empty()) {
        let port = over
            .port
            .unwrap_or(if over.direct_tls { 5223 } else { 5222 });
        return Ok(vec![Endpoint {
            host: host.to_string(),
            port,
            direct_tls: over.direct_tls,
        }]);
    }
    let fallback = Endpoint {
        host: domain.to_string(),
        port: over.port.unwrap_or(5222),
        direct_tls: false,
    };
    // No SRV for IP literals or the loopback name.
    if domain.parse::<std::net::IpAddr>().is_ok() || domain == "localhost" {
        return Ok(vec![fallback]);
    }
    let ascii = match idna_ascii(domain) {
        Some(a) => a,
        None => {
            return Err(ConnectError::DnsFailure {
                domain: domain.into(),
                detail: "the domain name is not valid".into(),
            })
        }
    };
    let mut targets = Vec::new();
    match resolver() {
        Ok(resolver) => {
            for (service, direct_tls) in
                [("_xmpps-client._tcp", true), ("_xmpp-client._tcp", false)]
            {
                let Ok(name) = format!("{service}.{ascii}.").into_name() else {
                    continue;
                };
                match resolver.srv_lookup(name).await {
                    Ok(lookup) => {
                        for record in lookup.answers() {
                            if let RData::SRV(srv) = &record.data {
                                let host = srv.target.to_ascii();
                                targets.push(SrvTarget {
                                    priority: srv.priority,
                                    weight: srv.weight,
                                    endpoint: Endpoint {
                                        host: host.trim_end_matches('.').to_string(),
                                        port: srv.port,
                                        direct_tls,
                                    },
                                });
                            }
                        }
                    }
                    Err(e) => tracing::debug!(%service, domain, "no SRV records: {e}"),
                }
            }
        }
        Err(e) => tracing::warn!("DNS resolver unavailable, using host fallback: {e}"),
    }
    let mut out = order_srv(targets);
    if out.is_empty() {
        out.push(fallback);
    }
    Ok(out)
}

fn idna_ascii(domain: &str) -> Option<String> {
    if domain.is_ascii() {
        Some(domain.to_ascii_lowercase())
    } else {
        None.or_else(|| {
            // Non-ASCII domains: the resolver's Name type does IDNA for us.
            domain.into_name().ok().map(|n| n.to_ascii())
        })
    }
}

fn resolver() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio().map_err(|e| e.to_string())?;
    let opts = builder.options_mut();
    opts.timeout = Duration::from_secs(4);
    opts.attempts = 1;
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: u16, w: u16, host: &str, port: u16, tls: bool) -> SrvTarget {
        SrvTarget {
            priority: p,
            weight: w,
            endpoint: Endpoint {
                host: host.into(),
                port,
                direct_tls: tls,
            },
        }
    }

    #[test]
    fn srv_ordering_prefers_priority_then_direct_tls_then_weight() {
        let got = order_srv(vec![
            t(10, 5, "b.example", 5222, false),
            t(5, 0, "a.example", 5222, false),
            t(10, 50, "c.example", 5222, false),
            t(5, 0, "a.example", 5223, true),
            t(0, 0, ".", 0, false),
        ]);
        let hosts: Vec<_> = got.iter().map(|e| (e.host.as_str(), e.port)).collect();
        assert_eq!(
            hosts,
            vec![
                ("a.example", 5223),
                ("a.example", 5222),
                ("c.example", 5222),
                ("b.example", 5222)
            ]
        );
    }

    #[tokio::test]
    async fn manual_override_wins() {
        let over = ServerOverride {
            host: Some("10.0.0.1".into()),
            port: None,
            direct_tls: true,
        };
        let e = endpoints("example.org", &over).await.unwrap();
        assert_eq!(
            e,
            vec![Endpoint {
                host: "10.0.0.1".into(),
                port: 5223,
                direct_tls: true
            }]
        );
    }

    #[tokio::test]
    async fn localhost_skips_srv() {
        let e = endpoints("localhost", &ServerOverride::default())
            .await
            .unwrap();
        assert_eq!(
            e,
            vec![Endpoint {
                host: "localhost".into(),
                port: 5222,
                direct_tls: false
            }]
        );
    }
}
