//! XEP-0215: External Service Discovery (`urn:xmpp:extdisco:2`): the STUN
//! and TURN servers the user's server names for calls, with the
//! credentials it hands out (Prosody's `mod_turn_external`, ejabberd's
//! `mod_stun_disco`). Read leniently: a service without a host, or of
//! another kind, is skipped.

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

/// The namespace of XEP-0215 version 2.
pub(crate) const NS_EXTDISCO: &str = "urn:xmpp:extdisco:2";
/// Most services read from one answer.
const MAX_SERVICES: usize = 16;
/// Longest host name, user name or password taken.
const MAX_TEXT: usize = 512;

/// A STUN or TURN server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Service {
    /// STUN (else TURN).
    pub(crate) stun: bool,
    /// Host name or address.
    pub(crate) host: String,
    /// UDP port (3478 when not given).
    pub(crate) port: u16,
    /// TURN credentials.
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
}

/// The request for the services of `server` (the user's domain).
pub(crate) fn request(server: Jid) -> Iq {
    Iq::Get {
        from: None,
        to: Some(server),
        id: super::message::new_id(),
        payload: Element::builder("services", NS_EXTDISCO).build(),
    }
}

/// The STUN and TURN services (over UDP) of an answer.
pub(crate) fn read(services: &Element) -> Vec<Service> {
    if !services.is("services", NS_EXTDISCO) {
        return Vec::new();
    }
    let text = |el: &Element, name: &str| {
        el.attr(name)
            .filter(|v| !v.is_empty() && v.len() <= MAX_TEXT)
            .map(str::to_string)
    };
    services
        .children()
        .filter(|c| c.is("service", NS_EXTDISCO))
        .filter_map(|s| {
            let stun = match s.attr("type") {
                Some("stun") => true,
                Some("turn") => false,
                _ => return None,
            };
            if s.attr("transport").is_some_and(|t| t != "udp") {
                return None;
            }
            Some(Service {
                stun,
                host: text(s, "host")?,
                port: s
                    .attr("port")
                    .and_then(|p| p.parse().ok())
                    .filter(|p| *p != 0)
                    .unwrap_or(3478),
                username: text(s, "username"),
                password: text(s, "password"),
            })
        })
        .take(MAX_SERVICES)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::el;

    #[test]
    fn reads_what_prosody_answers() {
        // XEP-0215 §3.1 example 2, as mod_turn_external answers it.
        let s = el("<services xmlns='urn:xmpp:extdisco:2'>
            <service host='stun.shakespeare.lit' port='9998' transport='udp' type='stun'/>
            <service host='turn.shakespeare.lit' port='3478' transport='udp' type='turn'
                     username='1700000000' password='c2VjcmV0' expires='2026-12-05T20:00:00Z' restricted='1'/>
            <service host='turn.shakespeare.lit' port='5349' transport='tcp' type='turns'/>
            <service host='ftp.shakespeare.lit' port='20' transport='tcp' type='ftp'/>
            <service port='3478' type='stun'/>
        </services>");
        assert_eq!(
            read(&s),
            vec![
                Service {
                    stun: true,
                    host: "stun.shakespeare.lit".into(),
                    port: 9998,
                    username: None,
                    password: None,
                },
                Service {
                    stun: false,
                    host: "turn.shakespeare.lit".into(),
                    port: 3478,
                    username: Some("1700000000".into()),
                    password: Some("c2VjcmV0".into()),
                },
            ]
        );
        assert!(read(&el("<query xmlns='urn:xmpp:ping'/>")).is_empty());
    }
}
