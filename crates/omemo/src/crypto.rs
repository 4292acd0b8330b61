//! Symmetric primitives: HKDF-SHA256, HMAC-SHA256, AES-256-CBC and AES-128-GCM.

use aes::cipher::{block_padding::Pkcs7, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::aes::Aes128;
use aes_gcm::AesGcm;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;
type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;
type Aes128Gcm12 = AesGcm<Aes128, aes_gcm::aead::consts::U12>;
type Aes128Gcm16 = AesGcm<Aes128, aes_gcm::aead::consts::U16>;

/// HKDF-SHA256 (RFC 5869). `salt = None` means 32 zero bytes, as libsignal uses.
pub fn hkdf_sha256<const N: usize>(salt: Option<&[u8]>, ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let hk = hkdf::Hkdf::<Sha256>::new(salt, ikm);
    // Only fails for N > 255 * 32, which no caller asks for.
    if hk.expand(info, &mut out).is_err() {
        debug_assert!(false, "HKDF output length {N} too long");
    }
    out
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut mac) = <HmacSha256 as Mac>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of any length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// AES-256-CBC with PKCS#7 padding (libsignal's message body cipher).
pub fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes256CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec_mut::<Pkcs7>(plaintext)
}

/// Inverse of [`aes256_cbc_encrypt`]; fails on bad length or padding.
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || ciphertext.len() % 16 != 0 {
        return Err(Error::DecryptionFailed);
    }
    Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map_err(|_| Error::DecryptionFailed)
}

/// AES-128-GCM encryption; returns ciphertext followed by the 16-byte tag.
/// `iv` must be 12 or 16 bytes.
pub fn aes128_gcm_encrypt(key: &[u8; 16], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let out = match iv.len() {
        12 => Aes128Gcm12::new(key.into()).encrypt(iv.into(), plaintext),
        16 => Aes128Gcm16::new(key.into()).encrypt(iv.into(), plaintext),
        _ => return Err(Error::Malformed("payload IV")),
    };
    out.map_err(|_| Error::DecryptionFailed)
}

/// AES-128-GCM decryption of ciphertext followed by its 16-byte tag.
/// `iv` must be 12 or 16 bytes.
pub fn aes128_gcm_decrypt(key: &[u8; 16], iv: &[u8], ciphertext_and_tag: &[u8]) -> Result<Vec<u8>> {
    let out = match iv.len() {
        12 => Aes128Gcm12::new(key.into()).decrypt(iv.into(), ciphertext_and_tag),
        16 => Aes128Gcm16::new(key.into()).decrypt(iv.into(), ciphertext_and_tag),
        _ => return Err(Error::Malformed("payload IV")),
    };
    out.map_err(|_| Error::DecryptionFailed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn hkdf_rfc5869_case1() {
        let okm: [u8; 42] = hkdf_sha256(
            Some(&h("000102030405060708090a0b0c")),
            &[0x0b; 22],
            &h("f0f1f2f3f4f5f6f7f8f9"),
        );
        assert_eq!(
            hex::encode(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn hkdf_rfc5869_case2_long_inputs() {
        let ikm: Vec<u8> = (0x00..=0x4f).collect();
        let salt: Vec<u8> = (0x60..=0xaf).collect();
        let info: Vec<u8> = (0xb0..=0xff).collect();
        let okm: [u8; 82] = hkdf_sha256(Some(&salt), &ikm, &info);
        assert_eq!(
            hex::encode(okm),
            "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"
        );
    }

    #[test]
    fn hkdf_rfc5869_case3_zero_salt_equals_none() {
        let expected =
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
        let a: [u8; 42] = hkdf_sha256(Some(&[]), &[0x0b; 22], &[]);
        let b: [u8; 42] = hkdf_sha256(None, &[0x0b; 22], &[]);
        let c: [u8; 42] = hkdf_sha256(Some(&[0; 32]), &[0x0b; 22], &[]);
        assert_eq!(hex::encode(a), expected);
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn hmac_rfc4231_case2() {
        let mac = hmac_sha256(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            hex::encode(mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn aes_gcm_nist_test_case_3() {
        // McGrew & Viega, GCM spec test case 3 (AES-128, 96-bit IV).
        let key: [u8; 16] = h("feffe9928665731c6d6a8f9467308308").try_into().unwrap();
        let iv = h("cafebabefacedbaddecaf888");
        let pt = h("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
        let out = aes128_gcm_encrypt(&key, &iv, &pt).unwrap();
        assert_eq!(
            hex::encode(&out),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f59854d5c2af327cd64a62cf35abd2ba6fab4"
        );
        assert_eq!(aes128_gcm_decrypt(&key, &iv, &out).unwrap(), pt);
    }

    #[test]
    fn aes_gcm_16_byte_iv_round_trip_and_tamper() {
        let key = [7u8; 16];
        let iv = [9u8; 16];
        let mut out = aes128_gcm_encrypt(&key, &iv, b"hello").unwrap();
        assert_eq!(aes128_gcm_decrypt(&key, &iv, &out).unwrap(), b"hello");
        out[0] ^= 1;
        assert!(matches!(
            aes128_gcm_decrypt(&key, &iv, &out),
            Err(Error::DecryptionFailed)
        ));
        assert!(matches!(
            aes128_gcm_decrypt(&key, &[0; 8], &out),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn aes_cbc_round_trip_and_bad_inputs() {
        let key = [1u8; 32];
        let iv = [2u8; 16];
        let ct = aes256_cbc_encrypt(&key, &iv, b"sixteen byte msg");
        assert_eq!(ct.len(), 32);
        assert_eq!(
            aes256_cbc_decrypt(&key, &iv, &ct).unwrap(),
            b"sixteen byte msg"
        );
        assert!(aes256_cbc_decrypt(&key, &iv, &ct[..31]).is_err());
        assert!(aes256_cbc_decrypt(&key, &iv, &[]).is_err());
        assert!(aes256_cbc_decrypt(&[3u8; 32], &iv, &ct).is_err());
    }
}
