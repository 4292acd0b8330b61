//! Curve25519 keys as libsignal serialises them, X25519 agreement and XEdDSA signatures.

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::scalar::{clamp_integer, Scalar};
use rand::{CryptoRng, RngCore};
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// The type byte libsignal puts in front of a serialised Curve25519 public key.
pub const DJB_TYPE: u8 = 0x05;

/// A Curve25519 (Montgomery u-coordinate) public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// Wraps the 32 raw bytes of a key.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PublicKey(bytes)
    }

    /// The 32 raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Decodes the libsignal form: `0x05` followed by 32 bytes.
    pub fn decode(data: &[u8]) -> Result<Self> {
        match data {
            [DJB_TYPE, rest @ ..] => Ok(PublicKey(rest.try_into().map_err(|_| Error::InvalidKey)?)),
            _ => Err(Error::InvalidKey),
        }
    }

    /// Like [`PublicKey::decode`] but also accepts the bare 32 bytes, as a few old clients
    /// publish in bundles.
    pub fn decode_lenient(data: &[u8]) -> Result<Self> {
        match <[u8; 32]>::try_from(data) {
            Ok(raw) => Ok(PublicKey(raw)),
            Err(_) => Self::decode(data),
        }
    }

    /// The libsignal form: `0x05` followed by the 32 bytes.
    pub fn serialize(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out[0] = DJB_TYPE;
        out[1..].copy_from_slice(&self.0);
        out
    }

    /// Verifies an XEdDSA signature made by the private key of this (Montgomery) key.
    ///
    /// Accepts both the XEdDSA form (sign bit of the Edwards key forced to zero) and the older
    /// libsignal form that carries the Edwards sign bit in the top bit of the signature.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<()> {
        let sig: &[u8; 64] = signature.try_into().map_err(|_| Error::BadSignature)?;
        let sign_bit = sig[63] >> 7;
        let edwards = MontgomeryPoint(self.0)
            .to_edwards(sign_bit)
            .ok_or(Error::BadSignature)?;
        let a_bytes = edwards.compress();
        let mut r_bytes = [0u8; 32];
        r_bytes.copy_from_slice(&sig[..32]);
        let mut s_bytes = [0u8; 32];
        s_bytes.copy_from_slice(&sig[32..]);
        s_bytes[31] &= 0x7f;
        let s: Option<Scalar> = Scalar::from_canonical_bytes(s_bytes).into();
        let s = s.ok_or(Error::BadSignature)?;
        let h = hash_to_scalar(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(a_bytes.as_bytes())
                .chain_update(message),
        );
        let r_check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&h, &(-edwards), &s);
        if r_check.compress() == CompressedEdwardsY(r_bytes) {
            Ok(())
        } else {
            Err(Error::BadSignature)
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", hex::encode(self.0))
    }
}

/// A Curve25519 private key (stored clamped, as libsignal does). Zeroised on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey([u8; 32]);

impl PrivateKey {
    /// Makes a fresh random key.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = PrivateKey(clamp_integer(bytes));
        bytes.zeroize();
        key
    }

    /// Wraps 32 bytes (clamping them).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PrivateKey(clamp_integer(bytes))
    }

    /// The 32 bytes, for storage.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(MontgomeryPoint::mul_base_clamped(self.0).to_bytes())
    }

    /// X25519 agreement with a peer's public key.
    pub fn agree(&self, their: &PublicKey) -> [u8; 32] {
        x25519_dalek::x25519(self.0, their.0)
    }

    /// Makes an XEdDSA signature of `message` with this key.
    pub fn sign<R: RngCore + CryptoRng>(&self, message: &[u8], rng: &mut R) -> [u8; 64] {
        let mut k = Scalar::from_bytes_mod_order(self.0);
        let edwards = EdwardsPoint::mul_base(&k);
        let mut a_bytes = edwards.compress();
        if a_bytes.as_bytes()[31] & 0x80 != 0 {
            k = -k;
            a_bytes = EdwardsPoint::mul_base(&k).compress();
        }
        let mut z = [0u8; 64];
        rng.fill_bytes(&mut z);
        let mut prefix = [0xffu8; 32];
        prefix[0] = 0xfe;
        let r = hash_to_scalar(
            Sha512::new()
                .chain_update(prefix)
                .chain_update(k.as_bytes())
                .chain_update(message)
                .chain_update(z),
        );
        z.zeroize();
        let r_point = EdwardsPoint::mul_base(&r).compress();
        let h = hash_to_scalar(
            Sha512::new()
                .chain_update(r_point.as_bytes())
                .chain_update(a_bytes.as_bytes())
                .chain_update(message),
        );
        let s = r + h * k;
        k.zeroize();
        let mut out = [0u8; 64];
        out[..32].copy_from_slice(r_point.as_bytes());
        out[32..].copy_from_slice(s.as_bytes());
        out
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

/// A private key with its public key.
#[derive(Clone, Debug)]
pub struct KeyPair {
    /// The public half.
    pub public: PublicKey,
    /// The private half.
    pub private: PrivateKey,
}

impl KeyPair {
    /// Makes a fresh random key pair.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::from_private(PrivateKey::generate(rng))
    }

    /// Completes a private key into a pair.
    pub fn from_private(private: PrivateKey) -> Self {
        KeyPair {
            public: private.public_key(),
            private,
        }
    }
}

fn hash_to_scalar(hasher: Sha512) -> Scalar {
    let digest: [u8; 64] = hasher.finalize().into();
    Scalar::from_bytes_mod_order_wide(&digest)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD.decode(s).unwrap()
    }

    /// A bundle published by a real OMEMO client (the example in xmpp-parsers'
    /// `legacy_omemo` tests): its signed pre-key signature was made by libsignal.
    #[test]
    fn verifies_libsignal_signature_from_real_bundle() {
        let identity =
            PublicKey::decode(&b64("BQFd2p/Oq97vAAdLKA09DlcSg0x1xWn260p1jaeyIhAZ")).unwrap();
        let spk = b64("BYAbACA15bPn95p7RGC2XbgQyly8aRKS4BaJ+hD8Ybhe");
        let sig = b64("sIJVNDZi/NgFsry4OBdM+adyGttLEXbUh/h/5dVOZveMgyVoIdgwBUzq8Wgd2xYTQMioNzwYebTX+9p0h9eujA==");
        identity.verify(&spk, &sig).unwrap();
        let mut bad = spk.clone();
        bad[5] ^= 1;
        assert!(matches!(
            identity.verify(&bad, &sig),
            Err(Error::BadSignature)
        ));
        let mut bad_sig = sig.clone();
        bad_sig[40] ^= 1;
        assert!(identity.verify(&spk, &bad_sig).is_err());
        assert!(identity.verify(&spk, &sig[..63]).is_err());
    }

    #[test]
    fn sign_verify_round_trip_both_sign_bits() {
        let mut rng = rand::thread_rng();
        let mut seen = [false; 2];
        for _ in 0..64 {
            let pair = KeyPair::generate(&mut rng);
            let ed = EdwardsPoint::mul_base(&Scalar::from_bytes_mod_order(pair.private.to_bytes()));
            seen[(ed.compress().as_bytes()[31] >> 7) as usize] = true;
            let sig = pair.private.sign(b"message", &mut rng);
            pair.public.verify(b"message", &sig).unwrap();
            assert!(pair.public.verify(b"messagf", &sig).is_err());
            let other = KeyPair::generate(&mut rng);
            assert!(other.public.verify(b"message", &sig).is_err());
        }
        assert!(seen[0] && seen[1], "both Edwards sign bits exercised");
    }

    #[test]
    fn old_libsignal_signature_form_verifies() {
        // The pre-XEdDSA libsignal signer keeps the key as is and stores the Edwards sign
        // bit in the top bit of s. Build such a signature by hand.
        let mut rng = rand::thread_rng();
        loop {
            let pair = KeyPair::generate(&mut rng);
            let k = Scalar::from_bytes_mod_order(pair.private.to_bytes());
            let a = EdwardsPoint::mul_base(&k).compress();
            if a.as_bytes()[31] & 0x80 == 0 {
                continue;
            }
            let r = Scalar::from_bytes_mod_order([42; 32]);
            let big_r = EdwardsPoint::mul_base(&r).compress();
            let h = hash_to_scalar(
                Sha512::new()
                    .chain_update(big_r.as_bytes())
                    .chain_update(a.as_bytes())
                    .chain_update(b"msg"),
            );
            let s = r + h * k;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(big_r.as_bytes());
            sig[32..].copy_from_slice(s.as_bytes());
            sig[63] |= 0x80;
            pair.public.verify(b"msg", &sig).unwrap();
            break;
        }
    }

    #[test]
    fn agreement_is_symmetric() {
        let mut rng = rand::thread_rng();
        let a = KeyPair::generate(&mut rng);
        let b = KeyPair::generate(&mut rng);
        assert_eq!(a.private.agree(&b.public), b.private.agree(&a.public));
    }

    #[test]
    fn rfc7748_x25519_vector() {
        let alice = PrivateKey::from_bytes(
            hex::decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            hex::encode(alice.public_key().as_bytes()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        let bob = PublicKey::from_bytes(
            hex::decode("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
                .unwrap()
                .try_into()
                .unwrap(),
        );
        assert_eq!(
            hex::encode(alice.agree(&bob)),
            "4a5d9d5b a4ce2de1 728e3bf4 80350f25 e07e21c9 47d19e33 76f09b3c 1e161742"
                .replace(' ', "")
        );
    }

    #[test]
    fn decode_rejects_bad_encodings() {
        assert!(PublicKey::decode(&[5; 32]).is_err());
        assert!(PublicKey::decode(&[6; 33]).is_err());
        assert!(PublicKey::decode(&[]).is_err());
        assert!(PublicKey::decode(&[5; 34]).is_err());
        assert!(PublicKey::decode(&[5; 33]).is_ok());
        assert!(PublicKey::decode_lenient(&[1; 32]).is_ok());
        assert!(PublicKey::decode_lenient(&[1; 31]).is_err());
    }
}
