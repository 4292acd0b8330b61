//! OMEMO 0.3 payload encryption: AES-128-GCM under a random key; the key and the GCM tag travel
//! to each device inside the session ("key transport"), the ciphertext in `<payload/>`.

use rand::{CryptoRng, RngCore};
use zeroize::Zeroize;

use crate::crypto::{aes128_gcm_decrypt, aes128_gcm_encrypt};
use crate::error::{Error, Result};

/// The largest payload (ciphertext) accepted or produced.
pub const MAX_PAYLOAD_LEN: usize = 1024 * 1024;
/// Length of the IV this crate generates (what today's clients send).
pub const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// An encrypted payload before it is put into an element.
#[derive(Debug)]
pub struct SealedPayload {
    /// `key(16) || tag(16)`: what is encrypted for every recipient device.
    pub key_material: [u8; 32],
    /// The GCM IV.
    pub iv: [u8; IV_LEN],
    /// The ciphertext without its tag.
    pub ciphertext: Vec<u8>,
}

impl Drop for SealedPayload {
    fn drop(&mut self) {
        self.key_material.zeroize();
    }
}

/// Encrypts `plaintext` under a fresh key and IV.
pub fn seal<R: RngCore + CryptoRng>(plaintext: &[u8], rng: &mut R) -> Result<SealedPayload> {
    if plaintext.len() > MAX_PAYLOAD_LEN {
        return Err(Error::TooLarge {
            what: "payload",
            len: plaintext.len(),
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let mut key = [0u8; 16];
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut key);
    rng.fill_bytes(&mut iv);
    let mut out = aes128_gcm_encrypt(&key, &iv, plaintext)?;
    let tag_at = out.len() - TAG_LEN;
    let mut key_material = [0u8; 32];
    key_material[..16].copy_from_slice(&key);
    key_material[16..].copy_from_slice(&out[tag_at..]);
    out.truncate(tag_at);
    key.zeroize();
    Ok(SealedPayload {
        key_material,
        iv,
        ciphertext: out,
    })
}

/// Random key material for a key-transport element (no payload).
pub fn key_transport_material<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 32] {
    let mut m = [0u8; 32];
    rng.fill_bytes(&mut m);
    m
}

/// Decrypts a payload with the key material a session delivered.
///
/// `key_material` is `key(16) || tag(16)` (current clients), or a bare 16-byte key (old
/// clients, which append the tag to the payload instead). `iv` may be 12 or 16 bytes.
pub fn open(key_material: &[u8], iv: &[u8], payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() > MAX_PAYLOAD_LEN + TAG_LEN {
        return Err(Error::TooLarge {
            what: "payload",
            len: payload.len(),
            limit: MAX_PAYLOAD_LEN,
        });
    }
    let mut key = [0u8; 16];
    let result = match key_material.len() {
        32 => {
            key.copy_from_slice(&key_material[..16]);
            let mut joined = Vec::with_capacity(payload.len() + TAG_LEN);
            joined.extend_from_slice(payload);
            joined.extend_from_slice(&key_material[16..]);
            aes128_gcm_decrypt(&key, iv, &joined)
        }
        16 => {
            key.copy_from_slice(key_material);
            if payload.len() < TAG_LEN {
                Err(Error::Malformed("payload shorter than its tag"))
            } else {
                aes128_gcm_decrypt(&key, iv, payload)
            }
        }
        _ => Err(Error::Malformed("transported key length")),
    };
    key.zeroize();
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn seal_open_round_trip() {
        let sealed = seal(b"hello", &mut OsRng).unwrap();
        assert_eq!(sealed.ciphertext.len(), 5);
        assert_eq!(
            open(&sealed.key_material, &sealed.iv, &sealed.ciphertext).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn legacy_tag_in_payload_and_16_byte_iv() {
        let key = [3u8; 16];
        let iv = [4u8; 16];
        let ct_and_tag = aes128_gcm_encrypt(&key, &iv, b"old client").unwrap();
        assert_eq!(open(&key, &iv, &ct_and_tag).unwrap(), b"old client");
        let mut material = [0u8; 32];
        material[..16].copy_from_slice(&key);
        material[16..].copy_from_slice(&ct_and_tag[ct_and_tag.len() - 16..]);
        assert_eq!(
            open(&material, &iv, &ct_and_tag[..ct_and_tag.len() - 16]).unwrap(),
            b"old client"
        );
    }

    #[test]
    fn errors() {
        let sealed = seal(b"hello", &mut OsRng).unwrap();
        let mut bad = sealed.key_material;
        bad[20] ^= 1;
        assert!(matches!(
            open(&bad, &sealed.iv, &sealed.ciphertext),
            Err(Error::DecryptionFailed)
        ));
        assert!(open(&bad[..20], &sealed.iv, &sealed.ciphertext).is_err());
        assert!(open(&bad[..16], &sealed.iv, &[1, 2, 3]).is_err());
        assert!(open(&sealed.key_material, &[0; 8], &sealed.ciphertext).is_err());
        assert!(matches!(
            open(
                &sealed.key_material,
                &sealed.iv,
                &vec![0; MAX_PAYLOAD_LEN + 17]
            ),
            Err(Error::TooLarge { .. })
        ));
        assert!(matches!(
            seal(&vec![0; MAX_PAYLOAD_LEN + 1], &mut OsRng),
            Err(Error::TooLarge { .. })
        ));
    }
}
