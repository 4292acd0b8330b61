//! TLS policy: the platform verifier, plus per-account pinned certificates.
//!
//! A certificate that fails verification is refused, and its SHA-256
//! fingerprint is reported so the user can decide to pin it for that account.
//! Only a pinned certificate (exact match of the end-entity certificate)
//! bypasses the platform verifier; any other certificate is verified again.

use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use crate::error::ConnectError;

/// What an account trusts besides the operating system's roots.
#[derive(Clone, Debug, Default)]
pub struct TlsTrust {
    /// Extra root certificates (DER) trusted like the platform's own (used
    /// for private deployments and tests).
    pub extra_roots: Vec<Vec<u8>>,
    /// SHA-256 fingerprints of end-entity certificates the user pinned.
    pub pinned: Vec<[u8; 32]>,
}

/// The certificate that failed verification in the last handshake.
#[derive(Clone, Debug)]
pub(crate) struct CertFailure {
    pub sha256: [u8; 32],
    pub reason: String,
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
    pinned: Vec<[u8; 32]>,
    failure: Arc<Mutex<Option<CertFailure>>>,
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
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        if self.pinned.contains(&digest) {
            return Ok(ServerCertVerified::assertion());
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => Ok(v),
            Err(e) => {
                if let Ok(mut slot) = self.failure.lock() {
                    *slot = Some(CertFailure {
                        sha256: digest,
                        reason: describe_cert_error(&e),
                    });
                }
                Err(e)
            }
        }
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

fn describe_cert_error(e: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => "issued by an unknown authority".into(),
            C::Expired | C::ExpiredContext { .. } => "expired".into(),
            C::NotValidYet | C::NotValidYetContext { .. } => "not valid yet".into(),
            C::Revoked => "revoked".into(),
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "issued for a different server name".into()
            }
            C::BadSignature => "bad signature".into(),
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                "not valid for server authentication".into()
            }
            other => format!("{other:?}"),
        },
        other => other.to_string(),
    }
}

/// Builds the rustls configuration for one connection attempt, returning the
/// slot in which a failed verification records the certificate.
pub(crate) fn client_config(
    trust: &TlsTrust,
    direct_tls: bool,
) -> Result<(Arc<ClientConfig>, FailureSlot), ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = trust
        .extra_roots
        .iter()
        .map(|der| CertificateDer::from(der.clone()));
    let platform =
        rustls_platform_verifier::Verifier::new_with_extra_roots(roots, provider.clone()).map_err(
            |e| ConnectError::TlsFailure {
                detail: format!("cannot load the system's certificate store: {e}"),
            },
        )?;
    let failure = Arc::new(Mutex::new(None));
    let verifier = PinningVerifier {
        inner: Arc::new(platform),
        pinned: trust.pinned.clone(),
        failure: failure.clone(),
    };
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
}
