//! XEP-0454: OMEMO Media sharing. An encrypted file is uploaded like any
//! other and shared as `aesgcm://host/path#<iv><key>`: the HTTPS URL with
//! its scheme replaced, and the IV and AES-256 key as hex in the fragment
//! (which never reaches the server). Current clients use 12-byte IVs
//! (88 hex digits in all), older ones 16-byte IVs (96 digits).

/// Longest aesgcm URL accepted, in bytes.
pub(crate) const MAX_URL_LEN: usize = 4096;

/// The scheme of encrypted file links.
const SCHEME: &str = "aesgcm://";

/// Where an encrypted file is and how to decrypt it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AesGcmLink {
    /// The file's HTTPS URL, without the fragment.
    pub(crate) https_url: String,
    /// The IV, 12 or 16 bytes.
    pub(crate) iv: Vec<u8>,
    /// The AES-256 key.
    pub(crate) key: [u8; 32],
}

impl std::fmt::Debug for AesGcmLink {
    /// Shows the URL only: the key and IV stay out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AesGcmLink")
            .field("https_url", &self.https_url)
            .finish_non_exhaustive()
    }
}

/// The link in `url`, if it is an `aesgcm://` URL (the scheme in any case)
/// with a host and a fragment of exactly 88 or 96 hex digits, no
/// whitespace or control characters, and at most [`MAX_URL_LEN`] bytes.
pub(crate) fn parse(url: &str) -> Option<AesGcmLink> {
    if url.len() > MAX_URL_LEN || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let scheme = url.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let (rest, fragment) = url[SCHEME.len()..].split_once('#')?;
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') || host.contains('@') {
        return None;
    }
    let iv_len = match fragment.len() {
        88 => 12,
        96 => 16,
        _ => return None,
    };
    if !fragment.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes = hex::decode(fragment).ok()?;
    let (iv, key) = bytes.split_at(iv_len);
    Some(AesGcmLink {
        https_url: format!("https://{rest}"),
        iv: iv.to_vec(),
        key: key.try_into().ok()?,
    })
}

impl AesGcmLink {
    /// The link as an `aesgcm://` URL, the fragment in lowercase hex.
    pub(crate) fn to_url(&self) -> String {
        let rest = self
            .https_url
            .get(.."https://".len())
            .filter(|s| s.eq_ignore_ascii_case("https://"))
            .map_or(self.https_url.as_str(), |_| {
                &self.https_url["https://".len()..]
            });
        let rest = rest.split('#').next().unwrap_or_default();
        format!(
            "{SCHEME}{rest}#{}{}",
            hex::encode(&self.iv),
            hex::encode(self.key)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IV12: &str = "2f6b3ee3b1d5c3a6c1b8d9e0";
    const IV16: &str = "2f6b3ee3b1d5c3a6c1b8d9e0aabbccdd";
    const KEY: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

    #[test]
    fn reads_both_iv_lengths() {
        // XEP-0454 §3, the form of the example URL, with a 12-byte IV.
        let url = format!("aesgcm://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg#{IV12}{KEY}");
        let link = parse(&url).unwrap();
        assert_eq!(
            link.https_url,
            "https://download.montague.tld/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/tr%C3%A8s%20cool.jpg"
        );
        assert_eq!(link.iv, hex::decode(IV12).unwrap());
        assert_eq!(link.key.to_vec(), hex::decode(KEY).unwrap());
        assert_eq!(link.to_url(), url);

        let url = format!(
            "AESGCM://h.example:5281/f/a.png?x=1#{}{}",
            IV16.to_uppercase(),
            KEY
        );
        let link = parse(&url).unwrap();
        assert_eq!(link.https_url, "https://h.example:5281/f/a.png?x=1");
        assert_eq!(link.iv.len(), 16);
        assert_eq!(
            link.to_url(),
            format!("aesgcm://h.example:5281/f/a.png?x=1#{IV16}{KEY}"),
            "lowercase scheme and hex"
        );
        assert_eq!(parse(&link.to_url()), Some(link));
    }

    #[test]
    fn refuses_anything_else() {
        let ok = format!("aesgcm://h.example/f#{IV12}{KEY}");
        assert!(parse(&ok).is_some());
        for bad in [
            format!("https://h.example/f#{IV12}{KEY}"),
            format!("aesgcm:h.example/f#{IV12}{KEY}"),
            format!("aesgcm:///f#{IV12}{KEY}"),
            format!("aesgcm://user@h.example/f#{IV12}{KEY}"),
            format!("aesgcm://h.example/f#{IV12}{KEY}0"),
            format!("aesgcm://h.example/f#{IV12}{}", &KEY[1..]),
            format!("aesgcm://h.example/f#{IV12}{KEY}00"),
            format!("aesgcm://h.example/f#{IV16}{KEY}00"),
            format!("aesgcm://h.example/f#{}{KEY}", IV12.replace('2', "g")),
            format!("aesgcm://h.example/f#{}", "é".repeat(44)),
            format!("aesgcm://h.example/f{IV12}{KEY}"),
            format!("aesgcm://h.example/a b#{IV12}{KEY}"),
            format!("aesgcm://h.example/a\nb#{IV12}{KEY}"),
            format!("aesgcm://h.example/f#{IV12}#{KEY}"),
            format!("aesgcm://h.example/{}#{IV12}{KEY}", "a".repeat(MAX_URL_LEN)),
            String::new(),
            "aesgcm".into(),
            "aesgcm://".into(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }

    #[test]
    fn the_key_stays_out_of_debug_output() {
        let link = parse(&format!("aesgcm://h.example/f#{IV12}{KEY}")).unwrap();
        let shown = format!("{link:?}");
        assert!(shown.contains("https://h.example/f"));
        assert!(!shown.contains(&KEY[..8]) && !shown.contains(&IV12[..8]));
    }
}
