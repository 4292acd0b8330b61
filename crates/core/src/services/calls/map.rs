//! Jingle (XEP-0166/0167/0176/0320/0339) to the media crate's plain
//! descriptions and back: one content's RTP description and ICE-UDP
//! transport are one [`MediaDescription`].

use std::net::{IpAddr, SocketAddr};

use tern_media::{
    call::FINGERPRINT_HASH, Candidate, CandidateKind, Codec, Fingerprint, MediaDescription, Setup,
};

use crate::xep::jingle::{
    self, CandidateType, Content, IceUdpTransport, Media, PayloadType, RtpDescription,
};

/// Most candidates taken from one content (a peer may trickle more; those
/// beyond are dropped).
pub(crate) const MAX_CANDIDATES: usize = 64;

/// The media description of a Jingle content, if it is RTP audio over
/// ICE-UDP with a fingerprint Tern can check.
pub(crate) fn description_of(c: &Content) -> Result<MediaDescription, String> {
    let d = c
        .description
        .as_ref()
        .ok_or_else(|| format!("content {:?} has no RTP description", c.name))?;
    let t = c
        .transport
        .as_ref()
        .ok_or_else(|| format!("content {:?} has no ICE-UDP transport", c.name))?;
    let f = t
        .fingerprint
        .as_ref()
        .ok_or_else(|| format!("content {:?} has no DTLS fingerprint", c.name))?;
    let codecs = d
        .payload_types
        .iter()
        .filter_map(|p| {
            Some(Codec {
                payload_type: p.id,
                name: p.name.clone()?,
                clock_rate: p.clockrate.unwrap_or(8000),
                channels: p.channels.max(1),
                params: p.parameters.clone(),
            })
        })
        .collect();
    Ok(MediaDescription {
        ice_ufrag: t.ufrag.clone().unwrap_or_default(),
        ice_pwd: t.pwd.clone().unwrap_or_default(),
        fingerprint: Fingerprint::from_digest(&f.hash, &f.digest),
        setup: match f.setup {
            jingle::Setup::Actpass => Setup::ActPass,
            jingle::Setup::Active => Setup::Active,
            jingle::Setup::Passive => Setup::Passive,
        },
        codecs,
        ssrc: d.sources.first().map(|s| s.ssrc),
        rtcp_mux: d.rtcp_mux,
        candidates: candidates_of(t),
    })
}

/// The usable candidates of a transport: component 1 over UDP with a
/// numeric address (a peer's mDNS `.local` names and component-2
/// candidates of a peer without rtcp-mux are left out).
pub(crate) fn candidates_of(t: &IceUdpTransport) -> Vec<Candidate> {
    t.candidates
        .iter()
        .filter_map(candidate_of)
        .take(MAX_CANDIDATES)
        .collect()
}

fn candidate_of(c: &jingle::Candidate) -> Option<Candidate> {
    if c.component != 1 || !c.protocol.eq_ignore_ascii_case("udp") || c.port == 0 {
        return None;
    }
    let ip: IpAddr = c.ip.parse().ok()?;
    let related = match (&c.rel_addr, c.rel_port) {
        (Some(a), Some(p)) => a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p)),
        _ => None,
    };
    Some(Candidate {
        foundation: c.foundation.clone(),
        component: 1,
        protocol: "udp".into(),
        priority: c.priority,
        address: SocketAddr::new(ip, c.port),
        kind: match c.kind {
            CandidateType::Host => CandidateKind::Host,
            CandidateType::Srflx => CandidateKind::ServerReflexive,
            CandidateType::Prflx => CandidateKind::PeerReflexive,
            CandidateType::Relay => CandidateKind::Relayed,
        },
        related,
        generation: c.generation.unwrap_or(0),
    })
}

/// A candidate as Jingle writes it.
pub(crate) fn jingle_candidate(c: &Candidate) -> jingle::Candidate {
    jingle::Candidate {
        component: c.component,
        foundation: c.foundation.clone(),
        generation: Some(c.generation),
        id: Some(crate::xep::message::new_id()),
        ip: c.address.ip().to_string(),
        port: c.address.port(),
        priority: c.priority,
        protocol: c.protocol.clone(),
        kind: match c.kind {
            CandidateKind::Host => CandidateType::Host,
            CandidateKind::ServerReflexive => CandidateType::Srflx,
            CandidateKind::PeerReflexive => CandidateType::Prflx,
            CandidateKind::Relayed => CandidateType::Relay,
        },
        network: Some(0),
        rel_addr: c.related.map(|a| a.ip().to_string()),
        rel_port: c.related.map(|a| a.port()),
    }
}

/// The ICE-UDP transport of a description (with its candidates).
pub(crate) fn transport_of(d: &MediaDescription) -> IceUdpTransport {
    IceUdpTransport {
        ufrag: Some(d.ice_ufrag.clone()),
        pwd: Some(d.ice_pwd.clone()),
        fingerprint: Some(jingle::Fingerprint {
            hash: if d.fingerprint.hash.is_empty() {
                FINGERPRINT_HASH.to_string()
            } else {
                d.fingerprint.hash.clone()
            },
            setup: match d.setup {
                Setup::ActPass => jingle::Setup::Actpass,
                Setup::Active => jingle::Setup::Active,
                Setup::Passive => jingle::Setup::Passive,
            },
            digest: d.fingerprint.digest().unwrap_or_default(),
        }),
        omemo_fingerprint: None,
        candidates: d.candidates.iter().map(jingle_candidate).collect(),
    }
}

/// The ICE credentials of a description, with one candidate: what a
/// transport-info carries.
pub(crate) fn trickle_of(d: &MediaDescription, c: &Candidate) -> IceUdpTransport {
    IceUdpTransport {
        ufrag: Some(d.ice_ufrag.clone()),
        pwd: Some(d.ice_pwd.clone()),
        fingerprint: None,
        omemo_fingerprint: None,
        candidates: vec![jingle_candidate(c)],
    }
}

/// The RTP description of an audio content (Opus, the SSRC as XEP-0339
/// says it, rtcp-mux).
pub(crate) fn rtp_of(d: &MediaDescription) -> RtpDescription {
    let payload_types = d
        .codecs
        .iter()
        .map(|c| {
            let mut p = PayloadType::new(c.payload_type, &c.name, c.clock_rate, c.channels);
            p.parameters = c.params.clone();
            p
        })
        .collect();
    let mut r = RtpDescription::new(Media::Audio, payload_types);
    r.rtcp_mux = true;
    if let Some(ssrc) = d.ssrc {
        r.sources.push(jingle::Source {
            ssrc,
            parameters: vec![("cname".into(), Some(format!("tern-{ssrc:08x}")))],
        });
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn description() -> MediaDescription {
        MediaDescription {
            ice_ufrag: "uf".into(),
            ice_pwd: "0123456789abcdefghijkl".into(),
            fingerprint: Fingerprint::from_digest("sha-256", &[0xab; 32]),
            setup: Setup::ActPass,
            codecs: vec![Codec::opus(111)],
            ssrc: Some(42),
            rtcp_mux: true,
            candidates: vec![Candidate {
                foundation: "1".into(),
                component: 1,
                protocol: "udp".into(),
                priority: 2_130_706_431,
                address: "127.0.0.1:5000".parse().unwrap(),
                kind: CandidateKind::Host,
                related: None,
                generation: 0,
            }],
        }
    }

    #[test]
    fn a_description_survives_jingle() {
        let d = description();
        let c = Content::new("0", Some(rtp_of(&d)), Some(transport_of(&d)));
        let back = description_of(&c).unwrap();
        assert_eq!(back.ice_ufrag, d.ice_ufrag);
        assert_eq!(back.ice_pwd, d.ice_pwd);
        assert_eq!(back.fingerprint.digest(), d.fingerprint.digest());
        assert_eq!(back.setup, Setup::ActPass);
        assert_eq!(back.ssrc, Some(42));
        assert_eq!(back.candidates, d.candidates);
        assert!(back
            .codecs
            .iter()
            .any(|c| c.is_opus() && c.payload_type == 111));
    }

    #[test]
    fn unusable_candidates_are_left_out() {
        let d = description();
        let mut t = transport_of(&d);
        let good = t.candidates[0].clone();
        let mut two = good.clone();
        two.component = 2;
        let mut tcp = good.clone();
        tcp.protocol = "tcp".into();
        let mut mdns = good.clone();
        mdns.ip = "e4b9d3c1.local".into();
        t.candidates = vec![two, tcp, mdns, good];
        assert_eq!(candidates_of(&t), d.candidates);
    }

    #[test]
    fn a_content_without_fingerprint_is_refused() {
        let d = description();
        let mut t = transport_of(&d);
        t.fingerprint = None;
        let c = Content::new("0", Some(rtp_of(&d)), Some(t));
        assert!(description_of(&c).unwrap_err().contains("fingerprint"));
    }
}
