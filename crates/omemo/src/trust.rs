//! Trust: fingerprints as clients show them, trust states, and `xmpp:` verification URIs.

use xmpp_parsers::jid::BareJid;

use crate::error::{Error, Result};
use crate::keys::PublicKey;

/// How far the user trusts a device's identity key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Trust {
    /// Not decided: messages are not encrypted for it until the user decides.
    Undecided,
    /// Trusted without verification (blind trust before verification).
    Trusted,
    /// The user compared fingerprints (or scanned a code).
    Verified,
    /// The user refused it: never encrypted for.
    Distrusted,
}

impl Trust {
    /// Whether messages are encrypted for a device with this state.
    pub fn is_usable(self) -> bool {
        matches!(self, Trust::Trusted | Trust::Verified)
    }

    /// A stable name for storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Trust::Undecided => "undecided",
            Trust::Trusted => "trusted",
            Trust::Verified => "verified",
            Trust::Distrusted => "distrusted",
        }
    }

    /// Inverse of [`Trust::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "undecided" => Trust::Undecided,
            "trusted" => Trust::Trusted,
            "verified" => Trust::Verified,
            "distrusted" => Trust::Distrusted,
            _ => return None,
        })
    }
}

/// The fingerprint of an identity key: 64 lowercase hex characters of the 32-byte key (the
/// `05` type prefix left out, as Conversations and Dino show it).
pub fn fingerprint(key: &PublicKey) -> String {
    hex::encode(key.as_bytes())
}

/// The fingerprint in 8 groups of 8 characters separated by spaces.
pub fn fingerprint_grouped(key: &PublicKey) -> String {
    let hex = fingerprint(key);
    let groups: Vec<&str> = (0..8).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join(" ")
}

/// Parses a fingerprint as a person or a URI gives it: hex, any case, spaces, colons or dashes
/// between groups, with or without the leading `05`.
pub fn parse_fingerprint(s: &str) -> Result<PublicKey> {
    if s.len() > 256 {
        return Err(Error::InvalidFingerprint);
    }
    let clean: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ':' && *c != '-')
        .collect();
    let bytes = hex::decode(clean).map_err(|_| Error::InvalidFingerprint)?;
    PublicKey::decode_lenient(&bytes).map_err(|_| Error::InvalidFingerprint)
}

/// An `xmpp:` URI carrying device fingerprints, as Conversations encodes in its QR codes:
/// `xmpp:user@example.org?omemo-sid-123456789=<fingerprint>;omemo-sid-...=...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustUri {
    /// Whose devices.
    pub jid: BareJid,
    /// Device ids with their identity keys.
    pub devices: Vec<(u32, PublicKey)>,
}

impl TrustUri {
    /// Parses the URI. Parameters other than `omemo-sid-*` are ignored.
    pub fn parse(uri: &str) -> Result<Self> {
        if uri.len() > 8192 {
            return Err(Error::InvalidFingerprint);
        }
        let rest = uri.strip_prefix("xmpp:").ok_or(Error::InvalidFingerprint)?;
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let (jid, query) = rest.split_once('?').unwrap_or((rest, ""));
        let jid = percent_decode(jid)?;
        let jid = stable_jid(&jid)?;
        let mut devices = Vec::new();
        for param in query.split([';', '&']) {
            let Some((key, value)) = param.split_once('=') else {
                continue;
            };
            let Some(id) = key.strip_prefix("omemo-sid-") else {
                continue;
            };
            let id: u32 = id.parse().map_err(|_| Error::InvalidFingerprint)?;
            devices.push((id, parse_fingerprint(value)?));
        }
        Ok(TrustUri { jid, devices })
    }

    /// Formats the URI (fingerprints without the `05` prefix).
    pub fn to_uri(&self) -> String {
        let params: Vec<String> = self
            .devices
            .iter()
            .map(|(id, key)| format!("omemo-sid-{id}={}", fingerprint(key)))
            .collect();
        let jid = percent_encode(self.jid.as_str());
        if params.is_empty() {
            format!("xmpp:{jid}")
        } else {
            format!("xmpp:{jid}?{}", params.join(";"))
        }
    }
}

/// Parses a bare JID until its preparation is stable. Nodeprep folds case
/// before normalising compatibility characters (U+32CF "㋏" becomes "LTD"),
/// so one pass can leave something a second pass changes; a fingerprint URI
/// must name the same address every time it is read.
fn stable_jid(s: &str) -> Result<BareJid> {
    let mut jid: BareJid = s.parse().map_err(|_| Error::InvalidFingerprint)?;
    for _ in 0..3 {
        let again: BareJid = jid
            .as_str()
            .parse()
            .map_err(|_| Error::InvalidFingerprint)?;
        if again == jid {
            return Ok(jid);
        }
        jid = again;
    }
    Err(Error::InvalidFingerprint)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"@.-_~!$'()*+,=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(Error::InvalidFingerprint)?;
            let hex = std::str::from_utf8(hex).map_err(|_| Error::InvalidFingerprint)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| Error::InvalidFingerprint)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::InvalidFingerprint)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const FP: &str = "015dda9fceabdeef00074b280d3d0e5712834c75c569f6eb4a758da7b2221019";

    #[test]
    fn uri_addresses_read_the_same_every_time() {
        // Found by the trust_uri fuzz target: one pass of nodeprep turns
        // U+32CF into "LTD", a second pass into "ltd".
        let uri = TrustUri::parse("xmpp:aexx\u{32cf}xxx|\u{d2cf}xxxx@exam-172rgx\u{92cf}\u{92cf}x")
            .unwrap();
        let again = TrustUri::parse(&uri.to_uri()).unwrap();
        assert_eq!(again, uri);
        assert!(uri.jid.as_str().starts_with("aexxltd"));
    }

    #[test]
    fn fingerprint_forms() {
        let key = PublicKey::decode(&hex::decode(format!("05{FP}")).unwrap()).unwrap();
        assert_eq!(fingerprint(&key), FP);
        assert_eq!(
            fingerprint_grouped(&key),
            "015dda9f ceabdeef 00074b28 0d3d0e57 12834c75 c569f6eb 4a758da7 b2221019"
        );
        assert_eq!(parse_fingerprint(&fingerprint_grouped(&key)).unwrap(), key);
        assert_eq!(
            parse_fingerprint(&format!("05{}", FP.to_uppercase())).unwrap(),
            key
        );
        assert!(parse_fingerprint("05zz").is_err());
        assert!(parse_fingerprint(&FP[2..]).is_err());
        assert!(parse_fingerprint(&"0".repeat(300)).is_err());
    }

    #[test]
    fn conversations_uri() {
        let uri = format!("xmpp:user@example.org?omemo-sid-123456789={FP};omemo-sid-42=05{FP}");
        let parsed = TrustUri::parse(&uri).unwrap();
        assert_eq!(parsed.jid.as_str(), "user@example.org");
        assert_eq!(parsed.devices.len(), 2);
        assert_eq!(parsed.devices[0].0, 123456789);
        assert_eq!(parsed.devices[1].1, parsed.devices[0].1);
        let again = TrustUri::parse(&parsed.to_uri()).unwrap();
        assert_eq!(again, parsed);
        let other = TrustUri::parse(
            "xmpp:user%40example.org?message;omemo-sid-1="
                .to_owned()
                .as_str(),
        );
        assert!(other.is_err(), "empty fingerprint");
        let odd = TrustUri {
            jid: "a?b;c@example.org".parse().unwrap(),
            devices: parsed.devices.clone(),
        };
        assert_eq!(TrustUri::parse(&odd.to_uri()).unwrap(), odd);
        let plain = TrustUri::parse("xmpp:user%40example.org?roster").unwrap();
        assert!(plain.devices.is_empty());
        assert!(TrustUri::parse("https://example.org").is_err());
        assert!(TrustUri::parse(&format!("xmpp:a@b?omemo-sid-x={FP}")).is_err());
        assert!(TrustUri::parse("xmpp:%zz").is_err());
    }

    #[test]
    fn trust_names_round_trip() {
        for t in [
            Trust::Undecided,
            Trust::Trusted,
            Trust::Verified,
            Trust::Distrusted,
        ] {
            assert_eq!(Trust::parse(t.as_str()), Some(t));
        }
        assert_eq!(Trust::parse("x"), None);
        assert!(Trust::Verified.is_usable() && !Trust::Undecided.is_usable());
    }
}
