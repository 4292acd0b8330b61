//! TLS policy: the platform verifier, plus one pinned certificate per account.
//!
//! A certificate that fails verification is refused, with its SHA-256
//! fingerprint and every problem found ([`Problems`]): the platform
//! verifier's verdict, and Tern's own checks of the server name and of the
//! validity period (the platform verifier stops at the first problem, so an
//! untrusted certificate's name is never checked by it). The user may pin the
//! certificate refused last for that account.
//!
//! A pin bypasses exactly the problems the user saw: a certificate is
//! accepted through its pin only when it is the pinned certificate (SHA-256
//! of the end-entity certificate) and every problem found now was accepted
//! with the pin. A pinned certificate that expires later, or a pin made for
//! an unknown issuer only, is refused again with the new problem. A
//! certificate the platform verifier accepts needs no pin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::ConnectError;

/// What an account trusts besides the operating system's roots.
#[derive(Clone, Debug, Default)]
pub struct TlsTrust {
    /// Extra root certificates (DER) trusted like the platform's own (used
    /// for private deployments and tests).
    pub extra_roots: Vec<Vec<u8>>,
    /// The certificate the user pinned for the account, if any.
    pub pin: Option<Pin>,
}

/// A certificate the user trusts although it failed verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pin {
    /// SHA-256 of the end-entity certificate (DER).
    pub sha256: [u8; 32],
    /// The problems the user accepted when it was refused.
    pub accepts: Problems,
}

/// What can be wrong with a server's certificate: a set of flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Problems(u8);

impl Problems {
    /// No problem.
    pub const NONE: Problems = Problems(0);
    /// Not issued by a trusted authority (unknown issuer, self-signed, bad
    /// signature, or anything else the verifier refuses).
    pub const UNTRUSTED: Problems = Problems(1);
    /// Not issued for the server's domain.
    pub const NAME: Problems = Problems(2);
    /// Expired, or not valid yet.
    pub const EXPIRED: Problems = Problems(4);
    /// Revoked by its issuer.
    pub const REVOKED: Problems = Problems(8);
    /// Not valid for server authentication.
    pub const PURPOSE: Problems = Problems(16);

    const ALL: [(Problems, &'static str, &'static str); 5] = [
        (
            Problems::UNTRUSTED,
            "untrusted",
            "issued by an unknown authority",
        ),
        (Problems::NAME, "name", "issued for a different server name"),
        (Problems::EXPIRED, "expired", "expired or not valid yet"),
        (Problems::REVOKED, "revoked", "revoked"),
        (
            Problems::PURPOSE,
            "purpose",
            "not valid for server authentication",
        ),
    ];

    /// Both sets.
    pub fn union(self, other: Problems) -> Problems {
        Problems(self.0 | other.0)
    }

    /// Whether every problem of `other` is in this set.
    pub fn contains(self, other: Problems) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether there is no problem.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Stable names (`untrusted`, `name`, `expired`, `revoked`, `purpose`).
    pub fn names(self) -> Vec<String> {
        Problems::ALL
            .iter()
            .filter(|(p, _, _)| self.contains(*p))
            .map(|(_, n, _)| (*n).to_string())
            .collect()
    }

    /// The names, comma separated, as stored with a pin.
    pub fn to_list(self) -> String {
        self.names().join(",")
    }

    /// Reads [`Problems::to_list`]; unknown names are left out.
    pub fn from_list(list: &str) -> Problems {
        list.split(',')
            .filter_map(|n| {
                Problems::ALL
                    .iter()
                    .find(|(_, name, _)| *name == n.trim())
                    .map(|(p, _, _)| *p)
            })
            .fold(Problems::NONE, Problems::union)
    }

    /// In words, for [`ConnectError::CertificateUntrusted`]'s `reason`.
    pub fn describe(self) -> String {
        Problems::ALL
            .iter()
            .filter(|(p, _, _)| self.contains(*p))
            .map(|(_, _, words)| *words)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The certificate that failed verification in the last handshake.
#[derive(Clone, Debug)]
pub(crate) struct CertFailure {
    pub sha256: [u8; 32],
    pub problems: Problems,
}

/// Formats a SHA-256 fingerprint the way browsers show it: `AB:CD:...`.
pub fn format_fingerprint(sha256: &[u8; 32]) -> String {
    sha256
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses a fingerprint in hex, with or without `:` separators.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let clean: String = s
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    let bytes = hex::decode(clean).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Where a failed verification records the certificate it refused.
pub(crate) type FailureSlot = Arc<Mutex<Option<CertFailure>>>;

#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    pin: Option<Pin>,
    failure: Arc<Mutex<Option<CertFailure>>>,
}

impl PinningVerifier {
    /// Every problem of a certificate the platform verifier refused with
    /// `error`.
    fn problems(
        &self,
        error: &rustls::Error,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Problems {
        let mut found = classify(error);
        let period = validity(end_entity.as_ref());
        match period {
            Some((from, until)) => {
                let t = now.as_secs() as i64;
                if t < from || t > until {
                    found = found.union(Problems::EXPIRED);
                }
            }
            None => found = found.union(Problems::UNTRUSTED),
        }
        // The platform verifier stops at the first problem: when that was
        // the validity period, ask again as of a moment when the
        // certificate was valid, to learn about the issuer and the name.
        if found.contains(Problems::EXPIRED) {
            if let Some((from, _)) = period.filter(|(from, _)| *from >= 0) {
                let then = UnixTime::since_unix_epoch(Duration::from_secs(from as u64 + 1));
                if let Err(e) = self.inner.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp_response,
                    then,
                ) {
                    found = found.union(classify(&e));
                }
            }
        }
        let name_ok = ParsedCertificate::try_from(end_entity)
            .and_then(|cert| rustls::client::verify_server_name(&cert, server_name))
            .is_ok();
        if !name_ok {
            found = found.union(Problems::NAME);
        }
        if found.is_empty() {
            found = Problems::UNTRUSTED;
        }
        found
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let error = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        let problems = self.problems(
            &error,
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        if let Some(pin) = self.pin.filter(|p| p.sha256 == digest) {
            if pin.accepts.contains(problems) {
                return Ok(ServerCertVerified::assertion());
            }
        }
        if let Ok(mut slot) = self.failure.lock() {
            *slot = Some(CertFailure {
                sha256: digest,
                problems,
            });
        }
        Err(error)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The problem behind a verifier's error.
fn classify(e: &rustls::Error) -> Problems {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::Expired
            | C::ExpiredContext { .. }
            | C::NotValidYet
            | C::NotValidYetContext { .. } => Problems::EXPIRED,
            C::NotValidForName | C::NotValidForNameContext { .. } => Problems::NAME,
            C::Revoked => Problems::REVOKED,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => Problems::PURPOSE,
            _ => Problems::UNTRUSTED,
        },
        _ => Problems::UNTRUSTED,
    }
}

/// notBefore and notAfter of a DER certificate, in seconds since 1970.
fn validity(cert: &[u8]) -> Option<(i64, i64)> {
    let (tag, cert, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let (tag, tbs, _) = der(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut rest = tbs;
    // [0] version, optional.
    let (tag, _, after) = der(rest)?;
    if tag == 0xA0 {
        rest = after;
    }
    // serialNumber, signature, issuer.
    for expected in [0x02, 0x30, 0x30] {
        let (tag, _, after) = der(rest)?;
        if tag != expected {
            return None;
        }
        rest = after;
    }
    let (tag, period, _) = der(rest)?;
    if tag != 0x30 {
        return None;
    }
    let (t1, from, after) = der(period)?;
    let (t2, until, _) = der(after)?;
    Some((asn1_time(t1, from)?, asn1_time(t2, until)?))
}

/// One DER element: tag, contents, and what follows.
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*input.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, input.get(header..end)?, input.get(end..)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn asn1_time(tag: u8, value: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(value).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
        }
        0x18 => (text.get(..4)?.parse().ok()?, text.get(4..)?),
        _ => return None,
    };
    if rest.len() != 10 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| rest.get(i..i + 2).and_then(|s| s.parse::<i64>().ok());
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    // Days from 1970-01-01 (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn pinning_verifier(trust: &TlsTrust) -> Result<PinningVerifier, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = trust
        .extra_roots
        .iter()
        .map(|der| CertificateDer::from(der.clone()));
    let platform = rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider)
        .map_err(|e| ConnectError::TlsFailure {
            detail: format!("cannot load the system's certificate store: {e}"),
        })?;
    Ok(PinningVerifier {
        inner: Arc::new(platform),
        pin: trust.pin,
        failure: Arc::new(Mutex::new(None)),
    })
}

/// Builds the rustls configuration for one connection attempt, returning the
/// slot in which a failed verification records the certificate.
pub(crate) fn client_config(
    trust: &TlsTrust,
    direct_tls: bool,
) -> Result<(Arc<ClientConfig>, FailureSlot), ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = pinning_verifier(trust)?;
    let failure = verifier.failure.clone();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConnectError::TlsFailure {
            detail: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    if direct_tls {
        // XEP-0368: ALPN identifies the protocol on a shared port.
        config.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Ok((Arc::new(config), failure))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trip() {
        let fp = [0xABu8; 32];
        let s = format_fingerprint(&fp);
        assert!(s.starts_with("AB:AB:"));
        assert_eq!(s.len(), 32 * 3 - 1);
        assert_eq!(parse_fingerprint(&s), Some(fp));
        assert_eq!(
            parse_fingerprint(&s.replace(':', "").to_lowercase()),
            Some(fp)
        );
        assert_eq!(parse_fingerprint("abcd"), None);
        assert_eq!(parse_fingerprint("zz"), None);
    }

    use tern_testkit::{Leaf, TestCa};

    const DAY: u64 = 86_400;
    /// 2030-01-01, inside the test certificates' validity (2020–2099).
    const Y2030: u64 = 1_893_456_000;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(Duration::from_secs(secs))
    }

    fn sha(leaf: &Leaf) -> [u8; 32] {
        leaf.sha256_fingerprint()
    }

    /// Verifies `leaf` for `name` as of `now`; the problems if refused.
    fn check(trust: &TlsTrust, leaf: &Leaf, name: &str, now: UnixTime) -> Result<(), Problems> {
        let v = pinning_verifier(trust).unwrap();
        let cert = CertificateDer::from(leaf.cert_der.clone());
        let name = ServerName::try_from(name.to_string()).unwrap();
        match v.verify_server_cert(&cert, &[], &name, &[], now) {
            Ok(_) => Ok(()),
            Err(_) => {
                let f = v.failure.lock().unwrap().take().expect("failure recorded");
                assert_eq!(f.sha256, sha(leaf));
                Err(f.problems)
            }
        }
    }

    fn trusting_test_ca() -> TlsTrust {
        TlsTrust {
            extra_roots: vec![TestCa::global().ca_cert_der()],
            pin: None,
        }
    }

    #[test]
    fn asn1_times() {
        assert_eq!(asn1_time(0x17, b"700101000000Z"), Some(0));
        assert_eq!(asn1_time(0x18, b"20380119031408Z"), Some(2_147_483_648));
        assert_eq!(asn1_time(0x17, b"491231235959Z"), Some(2_524_607_999));
        assert_eq!(asn1_time(0x17, b"701301000000Z"), None);
        assert_eq!(asn1_time(0x17, b"7001010000Z"), None);
        assert_eq!(asn1_time(0x04, b"700101000000Z"), None);
        let leaf = TestCa::global().issue_leaf(&["localhost"]);
        // 2020-01-01 to 2099-01-01.
        assert_eq!(
            validity(&leaf.cert_der),
            Some((1_577_836_800, 4_070_908_800))
        );
        assert_eq!(validity(&leaf.cert_der[..40]), None);
        assert_eq!(validity(b""), None);
    }

    #[test]
    fn problem_lists_round_trip() {
        let p = Problems::UNTRUSTED.union(Problems::EXPIRED);
        assert_eq!(p.to_list(), "untrusted,expired");
        assert_eq!(Problems::from_list("untrusted,expired"), p);
        assert_eq!(Problems::from_list("expired, untrusted,unknown"), p);
        assert_eq!(
            p.describe(),
            "issued by an unknown authority; expired or not valid yet"
        );
        assert!(p.contains(Problems::EXPIRED));
        assert!(!Problems::UNTRUSTED.contains(p));
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let other_ca = TestCa::generate().unwrap();
        let none = TlsTrust::default();
        // Unknown issuer, right name.
        let leaf = other_ca.issue_leaf(&["localhost"]);
        assert_eq!(
            check(&none, &leaf, "localhost", at(Y2030)),
            Err(Problems::UNTRUSTED)
        );
        // Unknown issuer and another name: the platform verifier only says
        // the first.
        assert_eq!(
            check(&none, &leaf, "example.net", at(Y2030)),
            Err(Problems::UNTRUSTED.union(Problems::NAME))
        );
        // Unknown issuer, expired.
        let old = other_ca.issue_leaf_valid(&["localhost"], (2020, 1, 1), (2021, 1, 1));
        assert_eq!(
            check(&none, &old, "localhost", at(Y2030)),
            Err(Problems::UNTRUSTED.union(Problems::EXPIRED))
        );
        // A trusted issuer, expired: only that.
        let trusted_old =
            TestCa::global().issue_leaf_valid(&["localhost"], (2020, 1, 1), (2021, 1, 1));
        assert_eq!(
            check(&trusting_test_ca(), &trusted_old, "localhost", at(Y2030)),
            Err(Problems::EXPIRED)
        );
        // A trusted, valid certificate needs nothing.
        let good = TestCa::global().issue_leaf(&["localhost"]);
        assert_eq!(
            check(&trusting_test_ca(), &good, "localhost", at(Y2030)),
            Ok(())
        );
    }

    #[test]
    fn a_pin_accepts_what_was_shown_and_nothing_more() {
        let other_ca = TestCa::generate().unwrap();
        let leaf = other_ca.issue_leaf(&["localhost"]);
        let pinned = |accepts| TlsTrust {
            extra_roots: Vec::new(),
            pin: Some(Pin {
                sha256: sha(&leaf),
                accepts,
            }),
        };
        // Pinned for an unknown issuer: accepted while valid.
        assert_eq!(
            check(&pinned(Problems::UNTRUSTED), &leaf, "localhost", at(Y2030)),
            Ok(())
        );
        // The same certificate, once expired, is refused again.
        let after = 4_070_908_800 + DAY;
        assert_eq!(
            check(&pinned(Problems::UNTRUSTED), &leaf, "localhost", at(after)),
            Err(Problems::UNTRUSTED.union(Problems::EXPIRED))
        );
        // ... and accepted if the user accepts that too.
        assert_eq!(
            check(
                &pinned(Problems::UNTRUSTED.union(Problems::EXPIRED)),
                &leaf,
                "localhost",
                at(after)
            ),
            Ok(())
        );
        // Used for another server name: refused.
        assert_eq!(
            check(
                &pinned(Problems::UNTRUSTED),
                &leaf,
                "example.net",
                at(Y2030)
            ),
            Err(Problems::UNTRUSTED.union(Problems::NAME))
        );
        // Another certificate is not covered by the pin.
        let other = other_ca.issue_leaf(&["localhost"]);
        assert_eq!(
            check(&pinned(Problems::UNTRUSTED), &other, "localhost", at(Y2030)),
            Err(Problems::UNTRUSTED)
        );
    }
}
