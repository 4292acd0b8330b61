//! AES-256-GCM for shared files (XEP-0454), streamed: a file of any size is
//! encrypted or decrypted a buffer at a time, in place, without ever being
//! held in memory whole.
//!
//! GCM is put together here from its parts (the AES block cipher, CTR mode
//! with a 32-bit big-endian counter, and GHASH) as NIST SP 800-38D defines
//! it, without additional authenticated data: XEP-0454 uses none. Both IV
//! lengths in use are accepted: 12 bytes (what GCM is made for, and what
//! current clients send) and 16 bytes (what older clients sent), for which
//! the first counter block is derived through GHASH.

use aes::cipher::{BlockEncrypt, InnerIvInit, KeyInit, StreamCipher};
use aes::Aes256;
use ctr::{Ctr32BE, CtrCore};
use ghash::universal_hash::UniversalHash;
use ghash::GHash;
use subtle::ConstantTimeEq;

/// Length of the authentication tag, in bytes.
pub(crate) const TAG_LEN: usize = 16;

/// Most bytes one key and IV may encrypt: 2^39 - 256 bits (NIST SP
/// 800-38D §5.2.1.1), where the 32-bit counter would wrap.
pub(crate) const MAX_LEN: u64 = (1 << 36) - 32;

/// More than [`MAX_LEN`] bytes were given to one cipher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("more data than AES-GCM may encrypt under one key and IV")]
pub(crate) struct TooLong;

/// The authentication tag does not match: the file was altered, cut short,
/// or the key is wrong. Nothing decrypted from it may be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the file's authentication tag does not match")]
pub(crate) struct BadTag;

/// What encryption and decryption share: the key stream, the running
/// GHASH over the ciphertext and the mask of the tag.
struct Gcm {
    /// The key stream, from inc32(J0) on.
    ctr: Ctr32BE<Aes256>,
    /// GHASH over the whole blocks of ciphertext seen so far.
    ghash: GHash,
    /// E(K, J0), XORed into the tag.
    tag_mask: [u8; 16],
    /// Ciphertext not yet hashed (less than a block).
    partial: [u8; 16],
    /// How many bytes of `partial` are filled.
    partial_len: usize,
    /// Bytes of ciphertext so far.
    len: u64,
}

impl Gcm {
    /// A cipher for `key` and `iv`, `None` unless the IV is 12 or 16 bytes.
    fn new(key: &[u8; 32], iv: &[u8]) -> Option<Gcm> {
        if iv.len() != 12 && iv.len() != 16 {
            return None;
        }
        let aes = Aes256::new(key.into());
        let mut h = ghash::Block::default();
        aes.encrypt_block(&mut h);
        let ghash = GHash::new(&h);
        let mut j0 = ghash::Block::default();
        if iv.len() == 12 {
            // J0 = IV || 0^31 || 1.
            j0[..12].copy_from_slice(iv);
            j0[15] = 1;
        } else {
            // J0 = GHASH(IV || 0^s || 0^64 || [len(IV)]_64).
            let mut g = ghash.clone();
            g.update_padded(iv);
            let mut lens = ghash::Block::default();
            lens[8..].copy_from_slice(&((iv.len() as u64) * 8).to_be_bytes());
            g.update(&[lens]);
            j0 = g.finalize();
        }
        // The first block of key stream is E(K, J0), the tag's mask; the
        // data is encrypted from inc32(J0) on.
        let mut ctr = Ctr32BE::<Aes256>::from_core(CtrCore::inner_iv_init(aes, &j0));
        let mut tag_mask = [0u8; 16];
        ctr.apply_keystream(&mut tag_mask);
        Some(Gcm {
            ctr,
            ghash,
            tag_mask,
            partial: [0; 16],
            partial_len: 0,
            len: 0,
        })
    }

    /// Checks that `n` more bytes stay within [`MAX_LEN`] and counts them.
    fn reserve(&mut self, n: usize) -> Result<(), TooLong> {
        let total = self.len.checked_add(n as u64).ok_or(TooLong)?;
        if total > MAX_LEN {
            return Err(TooLong);
        }
        self.len = total;
        Ok(())
    }

    /// Applies the key stream to `buf` in place.
    fn crypt(&mut self, buf: &mut [u8]) -> Result<(), TooLong> {
        self.ctr.try_apply_keystream(buf).map_err(|_| TooLong)
    }

    /// Feeds ciphertext to GHASH, a whole block at a time.
    fn hash(&mut self, mut data: &[u8]) {
        if self.partial_len > 0 {
            let take = (16 - self.partial_len).min(data.len());
            self.partial[self.partial_len..self.partial_len + take].copy_from_slice(&data[..take]);
            self.partial_len += take;
            data = &data[take..];
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update(&[self.partial.into()]);
            self.partial_len = 0;
        }
        let whole = data.len() / 16 * 16;
        let (blocks, rest) = data.split_at(whole);
        if !blocks.is_empty() {
            // Whole blocks padded are the blocks themselves.
            self.ghash.update_padded(blocks);
        }
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
    }

    /// The tag over all the ciphertext: GHASH(C || 0^s || [0]_64 ||
    /// [len(C)]_64) XOR E(K, J0).
    fn tag(mut self) -> [u8; 16] {
        if self.partial_len > 0 {
            let partial = self.partial;
            self.ghash.update_padded(&partial[..self.partial_len]);
        }
        let mut lens = ghash::Block::default();
        lens[8..].copy_from_slice(&self.len.wrapping_mul(8).to_be_bytes());
        self.ghash.update(&[lens]);
        let mut tag: [u8; 16] = self.ghash.finalize().into();
        for (t, m) in tag.iter_mut().zip(self.tag_mask) {
            *t ^= m;
        }
        tag
    }
}

/// Encrypts a file a buffer at a time; the tag comes at the end.
pub(crate) struct Encryptor(Gcm);

impl Encryptor {
    /// An encryptor for `key` and `iv` (12 or 16 bytes; `None` otherwise).
    pub(crate) fn new(key: &[u8; 32], iv: &[u8]) -> Option<Encryptor> {
        Gcm::new(key, iv).map(Encryptor)
    }

    /// Encrypts the next bytes of the file in place. Refused, with `buf`
    /// left as it was, past [`MAX_LEN`] bytes in all.
    pub(crate) fn update(&mut self, buf: &mut [u8]) -> Result<(), TooLong> {
        self.0.reserve(buf.len())?;
        self.0.crypt(buf)?;
        self.0.hash(buf);
        Ok(())
    }

    /// The authentication tag, to send after the ciphertext.
    pub(crate) fn finish(self) -> [u8; TAG_LEN] {
        self.0.tag()
    }
}

/// Decrypts a file a buffer at a time; nothing it gives may be trusted
/// before [`Decryptor::finish`] has accepted the tag.
pub(crate) struct Decryptor(Gcm);

impl Decryptor {
    /// A decryptor for `key` and `iv` (12 or 16 bytes; `None` otherwise).
    pub(crate) fn new(key: &[u8; 32], iv: &[u8]) -> Option<Decryptor> {
        Gcm::new(key, iv).map(Decryptor)
    }

    /// Decrypts the next bytes of the ciphertext (without the tag) in
    /// place. Refused, with `buf` left as it was, past [`MAX_LEN`] bytes.
    pub(crate) fn update(&mut self, buf: &mut [u8]) -> Result<(), TooLong> {
        self.0.reserve(buf.len())?;
        self.0.hash(buf);
        self.0.crypt(buf)
    }

    /// Whether `tag` is the ciphertext's tag (compared in constant time).
    pub(crate) fn finish(self, tag: &[u8; TAG_LEN]) -> Result<(), BadTag> {
        let ours = self.0.tag();
        if bool::from(ours.ct_eq(tag)) {
            Ok(())
        } else {
            Err(BadTag)
        }
    }
}

/// Decrypts a download whose last [`TAG_LEN`] bytes are the tag (how
/// XEP-0454 files are stored), when where the ciphertext ends is only known
/// at the end of the stream: every chunk is decrypted but the last
/// [`TAG_LEN`] bytes seen so far, which are held back as the tag.
pub(crate) struct TagSplitter {
    /// Decrypts what is known not to be the tag.
    dec: Decryptor,
    /// The last bytes of the stream so far (the tag, at the end).
    tail: [u8; TAG_LEN],
    /// How many bytes of `tail` are filled.
    tail_len: usize,
}

impl TagSplitter {
    /// A splitter feeding `dec`.
    pub(crate) fn new(dec: Decryptor) -> TagSplitter {
        TagSplitter {
            dec,
            tail: [0; TAG_LEN],
            tail_len: 0,
        }
    }

    /// Takes the next chunk of the download and gives back the plaintext
    /// now known not to be part of the tag (possibly nothing; at most
    /// [`TAG_LEN`] bytes more than `chunk`).
    pub(crate) fn update(&mut self, chunk: &[u8]) -> Result<Vec<u8>, TooLong> {
        let total = self.tail_len + chunk.len();
        if total <= TAG_LEN {
            self.tail[self.tail_len..total].copy_from_slice(chunk);
            self.tail_len = total;
            return Ok(Vec::new());
        }
        let out_len = total - TAG_LEN;
        let mut out = Vec::with_capacity(out_len);
        out.extend_from_slice(&self.tail[..self.tail_len]);
        out.extend_from_slice(chunk);
        let mut tail = [0u8; TAG_LEN];
        tail.copy_from_slice(&out[out_len..]);
        out.truncate(out_len);
        self.dec.update(&mut out)?;
        self.tail = tail;
        self.tail_len = TAG_LEN;
        Ok(out)
    }

    /// Checks the tag at the end of the stream; a stream shorter than a
    /// tag fails.
    pub(crate) fn finish(self) -> Result<(), BadTag> {
        if self.tail_len < TAG_LEN {
            return Err(BadTag);
        }
        self.dec.finish(&self.tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes_gcm::aead::consts::{U12, U16};
    use aes_gcm::aead::Aead;
    use aes_gcm::AesGcm;
    use rand::{Rng, RngCore, SeedableRng};

    const LENGTHS: [usize; 7] = [0, 1, 15, 16, 17, 1000, 100_000];

    /// The ciphertext and tag `aes-gcm` makes for `plain`.
    fn reference(key: &[u8; 32], iv: &[u8], plain: &[u8]) -> Vec<u8> {
        if iv.len() == 12 {
            AesGcm::<Aes256, U12>::new(key.into())
                .encrypt(iv.into(), plain)
                .unwrap()
        } else {
            AesGcm::<Aes256, U16>::new(key.into())
                .encrypt(iv.into(), plain)
                .unwrap()
        }
    }

    /// `data` cut into random pieces (empty ones too).
    fn chunks(rng: &mut impl Rng, data: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let n = match rng.gen_range(0..4) {
                0 => 0,
                1 => rng.gen_range(1..=17),
                2 => rng.gen_range(1..=100),
                _ => rng.gen_range(1..=5000),
            }
            .min(rest.len());
            out.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        out.push(Vec::new());
        out
    }

    fn encrypt(key: &[u8; 32], iv: &[u8], pieces: &[Vec<u8>]) -> Vec<u8> {
        let mut enc = Encryptor::new(key, iv).unwrap();
        let mut out = Vec::new();
        for p in pieces {
            let mut p = p.clone();
            enc.update(&mut p).unwrap();
            out.extend_from_slice(&p);
        }
        out.extend_from_slice(&enc.finish());
        out
    }

    fn decrypt(key: &[u8; 32], iv: &[u8], pieces: &[Vec<u8>]) -> Result<Vec<u8>, BadTag> {
        let mut split = TagSplitter::new(Decryptor::new(key, iv).unwrap());
        let mut out = Vec::new();
        for p in pieces {
            out.extend(split.update(p).unwrap());
        }
        split.finish().map(|()| out)
    }

    #[test]
    fn matches_aes_gcm_for_both_iv_lengths_and_any_chunking() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(454);
        for iv_len in [12, 16] {
            for len in LENGTHS {
                for _ in 0..4 {
                    let mut key = [0u8; 32];
                    rng.fill_bytes(&mut key);
                    let mut iv = vec![0u8; iv_len];
                    rng.fill_bytes(&mut iv);
                    let mut plain = vec![0u8; len];
                    rng.fill_bytes(&mut plain);

                    let expected = reference(&key, &iv, &plain);
                    let sealed = encrypt(&key, &iv, &chunks(&mut rng, &plain));
                    assert_eq!(sealed, expected, "iv {iv_len}, length {len}");

                    let opened = decrypt(&key, &iv, &chunks(&mut rng, &sealed));
                    assert_eq!(opened, Ok(plain), "iv {iv_len}, length {len}");
                }
            }
        }
    }

    #[test]
    fn nist_test_vectors() {
        // The GCM specification's test cases 13 to 15 (AES-256, 96-bit IV,
        // no additional data).
        let cases: [(&str, &str, &str, &str, &str); 3] = [
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "",
                "",
                "530f8afbc74536b9a963b4f1c4cb738b",
            ),
            (
                "0000000000000000000000000000000000000000000000000000000000000000",
                "000000000000000000000000",
                "00000000000000000000000000000000",
                "cea7403d4d606b6e074ec5d3baf39d18",
                "d0d1c8a799996bf0265b98b5d48ab919",
            ),
            (
                "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
                "cafebabefacedbaddecaf888",
                "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                 1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
                "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
                 8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
                "b094dac5d93471bdec1a502270e3cc6c",
            ),
        ];
        for (key, iv, plain, cipher, tag) in cases {
            let key: [u8; 32] = hex::decode(key).unwrap().try_into().unwrap();
            let iv = hex::decode(iv).unwrap();
            let mut buf = hex::decode(plain).unwrap();
            let mut enc = Encryptor::new(&key, &iv).unwrap();
            enc.update(&mut buf).unwrap();
            assert_eq!(hex::encode(&buf), cipher);
            assert_eq!(hex::encode(enc.finish()), tag);

            let mut dec = Decryptor::new(&key, &iv).unwrap();
            dec.update(&mut buf).unwrap();
            assert_eq!(hex::encode(&buf), plain);
            let tag: [u8; 16] = hex::decode(tag).unwrap().try_into().unwrap();
            assert_eq!(dec.finish(&tag), Ok(()));
        }
    }

    #[test]
    fn altered_files_are_refused() {
        let key = [7u8; 32];
        let iv = [9u8; 12];
        let plain = b"a photo of the summit".to_vec();
        let sealed = encrypt(&key, &iv, std::slice::from_ref(&plain));
        assert_eq!(decrypt(&key, &iv, std::slice::from_ref(&sealed)), Ok(plain));

        // One bit flipped anywhere: in the ciphertext or in the tag.
        for i in [0, 5, sealed.len() - 16, sealed.len() - 1] {
            let mut bad = sealed.clone();
            bad[i] ^= 1;
            assert_eq!(decrypt(&key, &iv, &[bad]), Err(BadTag), "byte {i}");
        }
        // Cut short, or a byte added.
        assert_eq!(
            decrypt(&key, &iv, &[sealed[..sealed.len() - 1].to_vec()]),
            Err(BadTag)
        );
        let mut longer = sealed.clone();
        longer.push(0);
        assert_eq!(decrypt(&key, &iv, &[longer]), Err(BadTag));
        // Shorter than a tag, or empty.
        assert_eq!(decrypt(&key, &iv, &[vec![1, 2, 3]]), Err(BadTag));
        assert_eq!(decrypt(&key, &iv, &[]), Err(BadTag));
        // Another key or IV.
        assert_eq!(
            decrypt(&[8u8; 32], &iv, std::slice::from_ref(&sealed)),
            Err(BadTag)
        );
        assert_eq!(decrypt(&key, &[9u8; 16], &[sealed]), Err(BadTag));
    }

    #[test]
    fn only_12_and_16_byte_ivs() {
        for len in [0, 1, 8, 11, 13, 15, 17, 32] {
            assert!(Encryptor::new(&[0; 32], &vec![0; len]).is_none());
            assert!(Decryptor::new(&[0; 32], &vec![0; len]).is_none());
        }
    }

    #[test]
    fn too_much_data_is_refused_not_wrapped() {
        let mut enc = Encryptor::new(&[0; 32], &[0; 12]).unwrap();
        enc.0.len = MAX_LEN - 4;
        let mut buf = [1u8; 8];
        assert_eq!(enc.update(&mut buf), Err(TooLong));
        assert_eq!(buf, [1u8; 8], "left as it was");
        let mut buf = [1u8; 4];
        assert_eq!(enc.update(&mut buf), Ok(()));
    }
}
