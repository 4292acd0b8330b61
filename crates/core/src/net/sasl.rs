//! Signing in with SASL, and what keeps it from being weakened.
//!
//! Tern chooses the strongest mechanism the server offers (SCRAM-SHA-256,
//! SCRAM-SHA-1, PLAIN; never ANONYMOUS), with tls-exporter channel binding
//! (`-PLUS`) when TLS 1.3 gives the exporter and the server offers it.
//!
//! A man in the middle whose certificate was accepted can change the list
//! the server offers: only PLAIN (and read the password), or no `-PLUS`. So
//! each account remembers the strongest sign-in that worked ([`Strength`],
//! in the store) and Tern refuses to go below it
//! ([`ConnectError::SaslDowngrade`]) until the user accepts the weaker one:
//!
//! - PLAIN is never used after a SCRAM sign-in;
//! - a weaker SCRAM, or SCRAM without channel binding where binding worked,
//!   is used only if the server signed its mechanism list with XEP-0474 and
//!   the signature matches what Tern received (a server that signed it
//!   before is expected to sign it again);
//! - a server that rejects channel binding gets one more attempt without it
//!   only if binding never worked with it.
//!
//! Other protections of the exchange itself:
//!
//! - XEP-0474: when the server-first message carries `h`, Tern checks it
//!   against the mechanisms (and XEP-0440 channel-binding types) it received
//!   and stops before sending its proof when they differ
//!   ([`ConnectError::SignInIntercepted`]);
//! - RFC 5802: with the exporter available but no `-PLUS` offered, Tern
//!   says so (`y` flag), so a server that does support binding refuses a
//!   list a man in the middle shortened;
//! - the server's SCRAM signature (`v=`) is checked: a server that cannot
//!   prove it knows the password is refused.

use std::collections::BTreeSet;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use futures::{SinkExt, StreamExt};
use sasl::client::mechanisms::{Plain, Scram};
use sasl::client::Mechanism as _;
use sasl::common::scram::{Sha1, Sha256};
use sasl::common::{ChannelBinding, Credentials};
use sha2::Digest;
use tokio_xmpp::xmlstream::{InitiatingStream, ReadError, XmppStream, XmppStreamElement};
use xmpp_parsers::sasl::{Auth, Mechanism as WireMechanism, Nonza, Response};

use crate::error::ConnectError;
use crate::net::connect::{io_error, Io};

/// A SASL mechanism Tern uses, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Mech {
    Plain,
    ScramSha1,
    ScramSha256,
}

impl Mech {
    const STRONGEST_FIRST: [Mech; 3] = [Mech::ScramSha256, Mech::ScramSha1, Mech::Plain];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mech::Plain => "PLAIN",
            Mech::ScramSha1 => "SCRAM-SHA-1",
            Mech::ScramSha256 => "SCRAM-SHA-256",
        }
    }

    fn parse(name: &str) -> Option<Mech> {
        Mech::STRONGEST_FIRST.into_iter().find(|m| m.name() == name)
    }

    fn is_scram(self) -> bool {
        self != Mech::Plain
    }
}

/// How strong a sign-in is: its mechanism, and whether it had channel
/// binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Strength {
    pub mech: Mech,
    pub binding: bool,
}

impl Strength {
    /// `SCRAM-SHA-1`, or `SCRAM-SHA-1-PLUS` with binding.
    pub(crate) fn name(self) -> String {
        if self.binding {
            format!("{}-PLUS", self.mech.name())
        } else {
            self.mech.name().to_string()
        }
    }

    /// As stored: mechanism name and binding flag.
    pub(crate) fn from_stored(mech: Option<&str>, binding: bool) -> Option<Strength> {
        Some(Strength {
            mech: Mech::parse(mech?)?,
            binding,
        })
    }

    /// Reads [`Strength::name`].
    pub(crate) fn from_name(name: &str) -> Option<Strength> {
        match name.strip_suffix("-PLUS") {
            Some(mech) => Some(Strength {
                mech: Mech::parse(mech)?,
                binding: true,
            }),
            None => Some(Strength {
                mech: Mech::parse(name)?,
                binding: false,
            }),
        }
    }

    /// At least as strong as `other` in both respects.
    pub(crate) fn covers(self, other: Strength) -> bool {
        self.mech >= other.mech && (self.binding || !other.binding)
    }

    /// The stronger of the two in each respect.
    pub(crate) fn max(self, other: Strength) -> Strength {
        Strength {
            mech: self.mech.max(other.mech),
            binding: self.binding || other.binding,
        }
    }
}

/// What the account's past sign-ins demand of this one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Floor {
    /// The strongest sign-in that worked (or the weaker one the user
    /// accepted).
    pub strength: Option<Strength>,
    /// The server signed its mechanism list (XEP-0474) before.
    pub ssdp: bool,
}

/// The channel-binding flag of the exchange.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Binding {
    /// `p=tls-exporter`: bound to this TLS connection.
    Exporter,
    /// `y`: Tern could bind, but the server offers no `-PLUS`.
    ServerOffersNone,
    /// `n`: no binding (TLS 1.2, or binding declined or failed before).
    No,
}

/// What to do with the server's offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    Go {
        mech: Mech,
        binding: Binding,
        /// Weaker than the floor: go on only if the server's XEP-0474
        /// signature confirms its list.
        require_ssdp: bool,
    },
    Refuse(ConnectError),
}

/// What the server offers, as Tern received it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Offer {
    /// Every mechanism advertised, Tern's or not.
    pub mechanisms: BTreeSet<String>,
    /// XEP-0440 channel-binding types, when the server announced them.
    pub cb_types: Option<Vec<String>>,
}

impl Offer {
    fn has(&self, name: &str) -> bool {
        self.mechanisms.contains(name)
    }

    fn any_plus(&self) -> bool {
        self.mechanisms.iter().any(|m| m.ends_with("-PLUS"))
    }

    fn exporter_announced(&self) -> bool {
        self.cb_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|t| t == "tls-exporter"))
    }

    /// The XEP-0474 hash of this offer with `mech`'s hash function.
    pub(crate) fn ssdp_hash(&self, mech: Mech) -> String {
        // BTreeSet order is byte order: the "i;octet" collation.
        let mut s = self
            .mechanisms
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join("\u{1e}");
        if let Some(types) = &self.cb_types {
            let mut t: Vec<&str> = types.iter().map(String::as_str).collect();
            t.sort_unstable();
            s.push('\u{1f}');
            s.push_str(&t.join("\u{1e}"));
        }
        match mech {
            Mech::ScramSha256 => B64.encode(sha2::Sha256::digest(s.as_bytes())),
            _ => B64.encode(sha1::Sha1::digest(s.as_bytes())),
        }
    }
}

/// Chooses the mechanism and binding for `offer`, or refuses it.
///
/// `exporter`: TLS 1.3 gave tls-exporter data; `try_binding`: binding is
/// worth trying with this server (it did not reject it already).
pub(crate) fn plan(offer: &Offer, exporter: bool, try_binding: bool, floor: Floor) -> Plan {
    let can_bind = |m: Mech| {
        exporter
            && try_binding
            && offer.has(&format!("{}-PLUS", m.name()))
            && offer.exporter_announced()
    };
    let chosen = Mech::STRONGEST_FIRST
        .into_iter()
        .find(|m| offer.has(m.name()) || can_bind(*m));
    let Some(mech) = chosen else {
        return Plan::Refuse(ConnectError::NoUsableMechanism {
            offered: offer
                .mechanisms
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    let binding = if can_bind(mech) {
        Binding::Exporter
    } else if exporter && !offer.any_plus() && offer.cb_types.is_none() {
        Binding::ServerOffersNone
    } else {
        Binding::No
    };
    let strength = Strength {
        mech,
        binding: binding == Binding::Exporter,
    };
    let mut require_ssdp = false;
    if let Some(before) = floor.strength {
        if !strength.covers(before) {
            // PLAIN after SCRAM gives the password away: never without the
            // user. A weaker SCRAM may be the server's own change, which its
            // signed list (XEP-0474) can confirm.
            if (mech == Mech::Plain && before.mech.is_scram()) || !floor.ssdp {
                return Plan::Refuse(ConnectError::SaslDowngrade {
                    previous: before.name(),
                    offered: strength.name(),
                });
            }
            require_ssdp = true;
        }
    }
    Plan::Go {
        mech,
        binding,
        require_ssdp,
    }
}

/// How a sign-in went.
pub(crate) struct Signed {
    pub stream: InitiatingStream<Io>,
    pub strength: Strength,
    /// The server's XEP-0474 signature was present and matched.
    pub ssdp: bool,
}

/// Why a sign-in failed.
pub(crate) enum Failed {
    /// The server refused the exchange (SASL `<failure/>`).
    Refused(xmpp_parsers::sasl::DefinedCondition, Option<String>),
    /// Anything else.
    Other(ConnectError),
}

impl From<ConnectError> for Failed {
    fn from(e: ConnectError) -> Self {
        Failed::Other(e)
    }
}

/// Runs the SASL exchange `plan` chose on `stream`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn sign_in(
    mut stream: XmppStream<Io>,
    offer: &Offer,
    mech: Mech,
    binding: Binding,
    exporter: Option<&[u8]>,
    require_ssdp: bool,
    floor: Floor,
    username: &str,
    password: &str,
) -> Result<Signed, Failed> {
    let channel_binding = match (binding, exporter) {
        (Binding::Exporter, Some(data)) => ChannelBinding::TlsExporter(data.to_vec()),
        (Binding::ServerOffersNone, _) => ChannelBinding::Unsupported,
        _ => ChannelBinding::None,
    };
    let bound = matches!(channel_binding, ChannelBinding::TlsExporter(_));
    let creds = Credentials::default()
        .with_username(username)
        .with_password(password)
        .with_channel_binding(channel_binding);
    let mut mechanism: Box<dyn sasl::client::Mechanism + Send> = match mech {
        Mech::ScramSha256 => {
            Box::new(Scram::<Sha256>::from_credentials(creds).map_err(mech_error)?)
        }
        Mech::ScramSha1 => Box::new(Scram::<Sha1>::from_credentials(creds).map_err(mech_error)?),
        Mech::Plain => Box::new(Plain::from_credentials(creds).map_err(mech_error)?),
    };
    let wire = WireMechanism::from_str(mechanism.name()).map_err(|e| ConnectError::Protocol {
        detail: e.to_string(),
    })?;
    let strength = Strength {
        mech,
        binding: bound,
    };
    stream
        .send(&XmppStreamElement::Sasl(Nonza::Auth(Auth {
            mechanism: wire,
            data: mechanism.initial(),
        })))
        .await
        .map_err(io_error)?;
    let mut challenges = 0;
    let mut ssdp = false;
    loop {
        match stream
            .next()
            .await
            .map(|v| v.and_then(|v| v.into_read_error()))
        {
            Some(Ok(XmppStreamElement::Sasl(Nonza::Challenge(c)))) => {
                challenges += 1;
                if challenges == 1 && mech.is_scram() {
                    ssdp = check_ssdp(&c.data, offer, mech)?;
                    if require_ssdp && !ssdp {
                        let before = floor.strength.unwrap_or(strength);
                        return Err(Failed::Other(ConnectError::SaslDowngrade {
                            previous: before.name(),
                            offered: strength.name(),
                        }));
                    }
                }
                let response = mechanism
                    .response(&c.data)
                    .map_err(|e| ConnectError::Protocol {
                        detail: format!("SASL: {e}"),
                    })?;
                stream
                    .send(&XmppStreamElement::Sasl(Nonza::Response(Response {
                        data: response,
                    })))
                    .await
                    .map_err(io_error)?;
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Success(s)))) => {
                if mech.is_scram() && mechanism.success(&s.data).is_err() {
                    return Err(Failed::Other(ConnectError::SignInIntercepted {
                        detail: "the server could not prove that it knows the password".into(),
                    }));
                }
                return Ok(Signed {
                    stream: stream.initiate_reset(),
                    strength,
                    ssdp,
                });
            }
            Some(Ok(XmppStreamElement::Sasl(Nonza::Failure(f)))) => {
                let text = f.texts.values().next().cloned();
                return Err(Failed::Refused(f.defined_condition, text));
            }
            Some(Ok(XmppStreamElement::StreamError(e))) => {
                return Err(Failed::Other(ConnectError::from_stream_error(&e.0)))
            }
            Some(Ok(other)) => {
                return Err(Failed::Other(ConnectError::Protocol {
                    detail: format!("unexpected element during sign-in: {other:?}"),
                }))
            }
            Some(Err(ReadError::SoftTimeout)) => {}
            Some(Err(ReadError::HardError(e))) => return Err(Failed::Other(io_error(e))),
            Some(Err(ReadError::ParseError(e))) => {
                return Err(Failed::Other(ConnectError::Protocol {
                    detail: e.to_string(),
                }))
            }
            None | Some(Err(ReadError::StreamFooterReceived)) => {
                return Err(Failed::Other(ConnectError::ConnectionLost {
                    detail: "server closed the connection during sign-in".into(),
                }))
            }
        }
    }
}

fn mech_error(e: sasl::client::MechanismError) -> ConnectError {
    ConnectError::Protocol {
        detail: format!("SASL: {e}"),
    }
}

/// Checks the XEP-0474 attribute `h` of a SCRAM server-first message:
/// `Ok(true)` when present and matching, `Ok(false)` when absent.
fn check_ssdp(server_first: &[u8], offer: &Offer, mech: Mech) -> Result<bool, ConnectError> {
    let text = String::from_utf8_lossy(server_first);
    let Some(h) = text.split(',').find_map(|a| a.strip_prefix("h=")) else {
        return Ok(false);
    };
    if h == offer.ssdp_hash(mech) {
        Ok(true)
    } else {
        Err(ConnectError::SignInIntercepted {
            detail: "the server's signed list of sign-in methods (XEP-0474) differs from the list Tern received".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(mechs: &[&str]) -> Offer {
        Offer {
            mechanisms: mechs.iter().map(|s| (*s).to_string()).collect(),
            cb_types: None,
        }
    }

    fn floor(name: &str, binding: bool, ssdp: bool) -> Floor {
        Floor {
            strength: Strength::from_stored(Some(name), binding),
            ssdp,
        }
    }

    fn go(mech: Mech, binding: Binding, require_ssdp: bool) -> Plan {
        Plan::Go {
            mech,
            binding,
            require_ssdp,
        }
    }

    fn downgrade(previous: &str, offered: &str) -> Plan {
        Plan::Refuse(ConnectError::SaslDowngrade {
            previous: previous.into(),
            offered: offered.into(),
        })
    }

    #[test]
    fn first_contact_takes_the_strongest() {
        let none = Floor::default();
        // Prosody 0.12 on TLS 1.3: no -PLUS; Tern says it could bind.
        assert_eq!(
            plan(&offer(&["PLAIN", "SCRAM-SHA-1"]), true, true, none),
            go(Mech::ScramSha1, Binding::ServerOffersNone, false)
        );
        // ejabberd 23.01: -PLUS offered.
        let ej = offer(&["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "X-OAUTH2"]);
        assert_eq!(
            plan(&ej, true, true, none),
            go(Mech::ScramSha1, Binding::Exporter, false)
        );
        // ... after it rejected binding: without, and saying so (`n`).
        assert_eq!(
            plan(&ej, true, false, none),
            go(Mech::ScramSha1, Binding::No, false)
        );
        // TLS 1.2: no exporter.
        assert_eq!(
            plan(&ej, false, true, none),
            go(Mech::ScramSha1, Binding::No, false)
        );
        // A -PLUS only mechanism is usable only with binding.
        assert_eq!(
            plan(&offer(&["PLAIN", "SCRAM-SHA-256-PLUS"]), false, true, none),
            go(Mech::Plain, Binding::No, false)
        );
        // XEP-0440 without tls-exporter: no binding, `n`.
        let mut cb = offer(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
        cb.cb_types = Some(vec!["tls-server-end-point".into()]);
        assert_eq!(
            plan(&cb, true, true, none),
            go(Mech::ScramSha256, Binding::No, false)
        );
        assert!(matches!(
            plan(&offer(&["ANONYMOUS", "X-OAUTH2"]), true, true, none),
            Plan::Refuse(ConnectError::NoUsableMechanism { .. })
        ));
    }

    #[test]
    fn plain_after_scram_is_refused_even_with_a_signed_list() {
        let only_plain = offer(&["PLAIN"]);
        for ssdp in [false, true] {
            assert_eq!(
                plan(&only_plain, true, true, floor("SCRAM-SHA-1", false, ssdp)),
                downgrade("SCRAM-SHA-1", "PLAIN")
            );
        }
        // PLAIN before stays acceptable.
        assert_eq!(
            plan(&only_plain, true, true, floor("PLAIN", false, false)),
            go(Mech::Plain, Binding::ServerOffersNone, false)
        );
    }

    #[test]
    fn weaker_scram_or_lost_binding_needs_a_signed_list() {
        let sha1 = offer(&["SCRAM-SHA-1"]);
        assert_eq!(
            plan(&sha1, true, true, floor("SCRAM-SHA-256", false, false)),
            downgrade("SCRAM-SHA-256", "SCRAM-SHA-1")
        );
        assert_eq!(
            plan(&sha1, true, true, floor("SCRAM-SHA-256", false, true)),
            go(Mech::ScramSha1, Binding::ServerOffersNone, true)
        );
        // Binding worked before: no -PLUS now is a downgrade.
        let sha256 = offer(&["SCRAM-SHA-256"]);
        assert_eq!(
            plan(&sha256, true, true, floor("SCRAM-SHA-256", true, false)),
            downgrade("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
        );
        // So is TLS 1.2 (no exporter), or a server that rejected it.
        let plus = offer(&["SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]);
        assert_eq!(
            plan(&plus, false, true, floor("SCRAM-SHA-256", true, false)),
            downgrade("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
        );
        assert_eq!(
            plan(&plus, true, false, floor("SCRAM-SHA-256", true, false)),
            downgrade("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
        );
        // Stronger than before is fine.
        assert_eq!(
            plan(&plus, true, true, floor("SCRAM-SHA-1", false, false)),
            go(Mech::ScramSha256, Binding::Exporter, false)
        );
    }

    #[test]
    fn strengths() {
        let s = |m, b| Strength {
            mech: m,
            binding: b,
        };
        assert!(s(Mech::ScramSha256, true).covers(s(Mech::ScramSha1, true)));
        assert!(!s(Mech::ScramSha256, false).covers(s(Mech::ScramSha1, true)));
        assert!(!s(Mech::ScramSha1, true).covers(s(Mech::ScramSha256, false)));
        assert_eq!(
            s(Mech::ScramSha1, true).max(s(Mech::ScramSha256, false)),
            s(Mech::ScramSha256, true)
        );
        assert_eq!(s(Mech::ScramSha1, true).name(), "SCRAM-SHA-1-PLUS");
        assert_eq!(
            Strength::from_name("SCRAM-SHA-1-PLUS"),
            Some(s(Mech::ScramSha1, true))
        );
        assert_eq!(Strength::from_name("PLAIN"), Some(s(Mech::Plain, false)));
        assert_eq!(Strength::from_name("PLAIN-PLUS-X"), None);
        assert_eq!(
            Strength::from_stored(Some("SCRAM-SHA-256"), false),
            Some(s(Mech::ScramSha256, false))
        );
        assert_eq!(Strength::from_stored(Some("X-OAUTH2"), false), None);
        assert_eq!(Strength::from_stored(None, true), None);
    }

    #[test]
    fn ssdp_hash_matches_the_xep_example() {
        // XEP-0474 §4.3: SHA-1 over
        // 'SCRAM-SHA-1\x1eSCRAM-SHA-1-PLUS\x1ftls-exporter\x1etls-server-end-point'.
        let mut o = offer(&["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"]);
        o.cb_types = Some(vec!["tls-server-end-point".into(), "tls-exporter".into()]);
        assert_eq!(o.ssdp_hash(Mech::ScramSha1), "G6k/rBLDqgOhRRaCuuatSDFkJ08=");
        let first = b"r=abc,s=QSXCR+Q6sek8bf92,i=4096,h=G6k/rBLDqgOhRRaCuuatSDFkJ08=";
        assert!(check_ssdp(first, &o, Mech::ScramSha1).unwrap());
        assert!(!check_ssdp(b"r=abc,s=QSXCR+Q6sek8bf92,i=4096", &o, Mech::ScramSha1).unwrap());
        // A MITM removed -PLUS: the server's hash no longer matches.
        let stripped = offer(&["SCRAM-SHA-1"]);
        assert!(matches!(
            check_ssdp(first, &stripped, Mech::ScramSha1),
            Err(ConnectError::SignInIntercepted { .. })
        ));
    }
}
