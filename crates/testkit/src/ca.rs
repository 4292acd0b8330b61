//! A test certificate authority and the leaf certificates it issues.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use sha2::{Digest, Sha256};

/// A certificate authority generated once per process, for servers started
/// by this crate. Clients under test trust [`TestCa::ca_cert_der`].
pub struct TestCa {
    cert_der: Vec<u8>,
    cert_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A leaf (end-entity) certificate and its private key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leaf {
    /// The certificate, PEM encoded.
    pub cert_pem: String,
    /// The private key (PKCS#8), PEM encoded.
    pub key_pem: String,
    /// The certificate, DER encoded.
    pub cert_der: Vec<u8>,
}

impl Leaf {
    /// SHA-256 of the DER certificate, as used for certificate pinning.
    pub fn sha256_fingerprint(&self) -> [u8; 32] {
        Sha256::digest(&self.cert_der).into()
    }
}

impl TestCa {
    /// The process-wide test CA, generated on first use.
    ///
    /// # Panics
    ///
    /// Panics if key generation fails, which only happens when the crypto
    /// backend is broken.
    pub fn global() -> &'static TestCa {
        static CA: OnceLock<TestCa> = OnceLock::new();
        CA.get_or_init(|| TestCa::generate().expect("generating the test CA"))
    }

    /// Generates a fresh CA (most callers want [`TestCa::global`]).
    pub fn generate() -> Result<TestCa, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Tern Test CA");
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Tern tests");
        set_validity(&mut params);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key)?;
        Ok(TestCa {
            cert_der: cert.der().to_vec(),
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate, DER encoded (add it to a client's root store).
    pub fn ca_cert_der(&self) -> Vec<u8> {
        self.cert_der.clone()
    }

    /// The CA certificate, PEM encoded.
    pub fn ca_cert_pem(&self) -> String {
        self.cert_pem.clone()
    }

    /// Issues a leaf certificate with a new key: CA:FALSE, extended key usage
    /// serverAuth and clientAuth, subject alternative names `dns_names` plus
    /// IP 127.0.0.1.
    ///
    /// # Panics
    ///
    /// Panics if a name is not a valid DNS name (IA5 string) or signing fails.
    pub fn issue_leaf(&self, dns_names: &[&str]) -> Leaf {
        self.try_issue_leaf(dns_names)
            .expect("issuing a test leaf certificate")
    }

    /// Like [`TestCa::issue_leaf`], valid from `not_before` to `not_after`
    /// (year, month, day): e.g. an expired certificate.
    ///
    /// # Panics
    ///
    /// Panics if a name is not a valid DNS name (IA5 string) or signing fails.
    pub fn issue_leaf_valid(
        &self,
        dns_names: &[&str],
        not_before: (i32, u8, u8),
        not_after: (i32, u8, u8),
    ) -> Leaf {
        self.issue(dns_names, Some((not_before, not_after)))
            .expect("issuing a test leaf certificate")
    }

    /// Like [`TestCa::issue_leaf`], returning errors instead of panicking.
    pub fn try_issue_leaf(&self, dns_names: &[&str]) -> Result<Leaf, rcgen::Error> {
        self.issue(dns_names, None)
    }

    #[allow(clippy::type_complexity)]
    fn issue(
        &self,
        dns_names: &[&str],
        validity: Option<((i32, u8, u8), (i32, u8, u8))>,
    ) -> Result<Leaf, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut sans = Vec::new();
        for name in dns_names {
            let san = SanType::DnsName((*name).try_into()?);
            if !sans.contains(&san) {
                sans.push(san);
            }
        }
        sans.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params.subject_alt_names = sans;
        params.distinguished_name.push(
            DnType::CommonName,
            dns_names.first().copied().unwrap_or("localhost"),
        );
        set_validity(&mut params);
        if let Some(((y1, m1, d1), (y2, m2, d2))) = validity {
            params.not_before = date_time_ymd(y1, m1, d1);
            params.not_after = date_time_ymd(y2, m2, d2);
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        // clientAuth too: servers present the same certificate as TLS
        // clients on outgoing s2s links, and ejabberd checks the purpose.
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }
}

/// Validity 2020–2099. rcgen's default (until the year 4096) crashes
/// ejabberd, which arms an Erlang timer for the expiry date.
fn set_validity(params: &mut CertificateParams) {
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 1, 1);
}
