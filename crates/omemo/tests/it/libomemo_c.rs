//! Interop with libomemo-c (Dino's C library, a fork of libsignal-protocol-c) at the session
//! level, in both directions. Needs `libomemo-c-dev` and `libssl-dev`; run with
//! `cargo test -p tern-omemo --features libomemo-c-interop --test it libomemo_c`.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int, CString};

use rand::rngs::OsRng;
use tern_omemo::keys::{KeyPair, PublicKey};
use tern_omemo::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};
use tern_omemo::session::{PreKeyBundle, ResponderKeys, SessionRecord};

#[repr(C)]
struct RawPeer {
    _private: [u8; 0],
}

extern "C" {
    fn shim_peer_new(registration_id: u32, n_pre_keys: u32) -> *mut RawPeer;
    fn shim_peer_free(p: *mut RawPeer);
    fn shim_peer_bundle(
        p: *mut RawPeer,
        pre_key_id: u32,
        identity: *mut u8,
        spk: *mut u8,
        sig: *mut u8,
        pre_key: *mut u8,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn shim_peer_process_bundle(
        p: *mut RawPeer,
        name: *const c_char,
        device: i32,
        registration_id: u32,
        identity: *const u8,
        spk_id: u32,
        spk: *const u8,
        sig: *const u8,
        sig_len: usize,
        pre_key_id: u32,
        pre_key: *const u8,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn shim_peer_encrypt(
        p: *mut RawPeer,
        name: *const c_char,
        device: i32,
        pt: *const u8,
        pt_len: usize,
        out: *mut u8,
        out_len: *mut usize,
        is_pre_key: *mut c_int,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn shim_peer_decrypt(
        p: *mut RawPeer,
        name: *const c_char,
        device: i32,
        ct: *const u8,
        ct_len: usize,
        is_pre_key: c_int,
        out: *mut u8,
        out_len: *mut usize,
    ) -> c_int;
    fn shim_peer_sign(p: *mut RawPeer, msg: *const u8, len: usize, sig: *mut u8) -> c_int;
    fn shim_verify(
        p: *mut RawPeer,
        key: *const u8,
        msg: *const u8,
        len: usize,
        sig: *const u8,
        sig_len: usize,
    ) -> c_int;
}

/// A libomemo-c device with in-memory stores.
struct CPeer(*mut RawPeer);

const RUST_NAME: &str = "rust@example.org";
const RUST_DEVICE: i32 = 4242;
const C_SPK_ID: u32 = 1;

struct CBundle {
    identity: [u8; 33],
    spk: [u8; 33],
    sig: [u8; 64],
    pre_key: Option<(u32, [u8; 33])>,
}

impl CPeer {
    fn new() -> Self {
        let p = unsafe { shim_peer_new(1234, 10) };
        assert!(!p.is_null());
        CPeer(p)
    }

    fn bundle(&self, pre_key_id: u32) -> CBundle {
        let mut b = CBundle {
            identity: [0; 33],
            spk: [0; 33],
            sig: [0; 64],
            pre_key: None,
        };
        let mut pk = [0u8; 33];
        let rc = unsafe {
            shim_peer_bundle(
                self.0,
                pre_key_id,
                b.identity.as_mut_ptr(),
                b.spk.as_mut_ptr(),
                b.sig.as_mut_ptr(),
                pk.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        if pre_key_id != 0 {
            b.pre_key = Some((pre_key_id, pk));
        }
        b
    }

    fn process_bundle(&self, b: &PreKeyBundle) -> c_int {
        let name = CString::new(RUST_NAME).unwrap();
        let pk = b.pre_key.map(|(id, k)| (id, k.serialize()));
        unsafe {
            shim_peer_process_bundle(
                self.0,
                name.as_ptr(),
                RUST_DEVICE,
                b.registration_id,
                b.identity_key.serialize().as_ptr(),
                b.signed_pre_key_id,
                b.signed_pre_key.serialize().as_ptr(),
                b.signed_pre_key_signature.as_ptr(),
                b.signed_pre_key_signature.len(),
                pk.map_or(0, |(id, _)| id),
                pk.as_ref().map_or(std::ptr::null(), |(_, k)| k.as_ptr()),
            )
        }
    }

    fn encrypt(&self, pt: &[u8]) -> CiphertextMessage {
        let name = CString::new(RUST_NAME).unwrap();
        let mut out = vec![0u8; 4096];
        let mut len = out.len();
        let mut is_pre_key = 0;
        let rc = unsafe {
            shim_peer_encrypt(
                self.0,
                name.as_ptr(),
                RUST_DEVICE,
                pt.as_ptr(),
                pt.len(),
                out.as_mut_ptr(),
                &mut len,
                &mut is_pre_key,
            )
        };
        assert_eq!(rc, 0, "libomemo-c encrypt");
        out.truncate(len);
        if is_pre_key != 0 {
            CiphertextMessage::PreKey(PreKeySignalMessage::decode(&out).unwrap())
        } else {
            CiphertextMessage::Signal(SignalMessage::decode(&out).unwrap())
        }
    }

    fn decrypt(&self, m: &CiphertextMessage) -> Result<Vec<u8>, c_int> {
        let name = CString::new(RUST_NAME).unwrap();
        let ct = m.serialized();
        let mut out = vec![0u8; 4096];
        let mut len = out.len();
        let rc = unsafe {
            shim_peer_decrypt(
                self.0,
                name.as_ptr(),
                RUST_DEVICE,
                ct.as_ptr(),
                ct.len(),
                c_int::from(m.is_pre_key()),
                out.as_mut_ptr(),
                &mut len,
            )
        };
        if rc != 0 {
            return Err(rc);
        }
        out.truncate(len);
        Ok(out)
    }

    fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let mut sig = [0u8; 64];
        assert_eq!(
            unsafe { shim_peer_sign(self.0, msg.as_ptr(), msg.len(), sig.as_mut_ptr()) },
            0
        );
        sig
    }

    fn verify(&self, key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
        let rc = unsafe {
            shim_verify(
                self.0,
                key.serialize().as_ptr(),
                msg.as_ptr(),
                msg.len(),
                sig.as_ptr(),
                sig.len(),
            )
        };
        assert!(rc >= 0, "libomemo-c verify error {rc}");
        rc == 1
    }
}

impl Drop for CPeer {
    fn drop(&mut self) {
        unsafe { shim_peer_free(self.0) }
    }
}

/// The Rust side: its own keys and the session with the C device.
struct RustPeer {
    identity: KeyPair,
    signed: KeyPair,
    one_time: KeyPair,
    session: SessionRecord,
}

impl RustPeer {
    fn new() -> Self {
        RustPeer {
            identity: KeyPair::generate(&mut OsRng),
            signed: KeyPair::generate(&mut OsRng),
            one_time: KeyPair::generate(&mut OsRng),
            session: SessionRecord::new(),
        }
    }

    fn bundle(&self, with_one_time: bool) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: 77,
            pre_key: with_one_time.then_some((5, self.one_time.public)),
            signed_pre_key_id: 2,
            signed_pre_key: self.signed.public,
            signed_pre_key_signature: self
                .identity
                .private
                .sign(&self.signed.public.serialize(), &mut OsRng)
                .to_vec(),
            identity_key: self.identity.public,
        }
    }

    fn decrypt(&mut self, m: &CiphertextMessage) -> tern_omemo::Result<Vec<u8>> {
        match m {
            CiphertextMessage::PreKey(m) => {
                assert_eq!(m.signed_pre_key_id, 2);
                let keys = ResponderKeys {
                    identity: &self.identity,
                    registration_id: 77,
                    signed_pre_key: &self.signed,
                    one_time_pre_key: m.pre_key_id.map(|id| {
                        assert_eq!(id, 5);
                        &self.one_time
                    }),
                };
                Ok(self
                    .session
                    .decrypt_pre_key(m, Some(keys), &mut OsRng)?
                    .plaintext)
            }
            CiphertextMessage::Signal(m) => self.session.decrypt(m, &mut OsRng),
        }
    }

    fn start_with(&mut self, c: &CPeer, pre_key_id: u32) {
        let b = c.bundle(pre_key_id);
        let bundle = PreKeyBundle {
            registration_id: 1234,
            pre_key: b
                .pre_key
                .map(|(id, k)| (id, PublicKey::decode(&k).unwrap())),
            signed_pre_key_id: C_SPK_ID,
            signed_pre_key: PublicKey::decode(&b.spk).unwrap(),
            signed_pre_key_signature: b.sig.to_vec(),
            identity_key: PublicKey::decode(&b.identity).unwrap(),
        };
        self.session
            .process_bundle(&bundle, &self.identity, 77, &mut OsRng)
            .unwrap();
    }
}

fn text(i: usize) -> Vec<u8> {
    format!(
        "message number {i} with some padding to vary lengths {}",
        "x".repeat(i % 40)
    )
    .into_bytes()
}

#[test]
fn xeddsa_signatures_verify_both_ways() {
    let c = CPeer::new();
    let b = c.bundle(0);
    let c_identity = PublicKey::decode(&b.identity).unwrap();
    // The signed pre-key signature libomemo-c made.
    c_identity.verify(&b.spk, &b.sig).unwrap();
    for i in 0..50usize {
        let msg = text(i);
        let sig = c.sign(&msg);
        c_identity.verify(&msg, &sig).unwrap();
        assert!(c_identity.verify(b"other", &sig).is_err());
        let rust = KeyPair::generate(&mut OsRng);
        let sig = rust.private.sign(&msg, &mut OsRng);
        assert!(
            c.verify(&rust.public, &msg, &sig),
            "C rejects Rust signature {i}"
        );
        assert!(!c.verify(&rust.public, b"other", &sig));
    }
}

#[test]
fn c_initiates_rust_responds_with_ratchet_steps() {
    for with_one_time in [true, false] {
        let c = CPeer::new();
        let mut r = RustPeer::new();
        assert_eq!(c.process_bundle(&r.bundle(with_one_time)), 0);
        let first = c.encrypt(b"hello from C");
        assert!(first.is_pre_key());
        assert_eq!(r.decrypt(&first).unwrap(), b"hello from C");
        for round in 0..6 {
            let reply = r.session.encrypt(&text(round)).unwrap();
            assert!(!reply.is_pre_key());
            assert_eq!(c.decrypt(&reply).unwrap(), text(round));
            for i in 0..3 {
                let m = c.encrypt(&text(100 + round * 3 + i));
                assert!(
                    !m.is_pre_key(),
                    "C stops sending pre-key messages once answered"
                );
                assert_eq!(r.decrypt(&m).unwrap(), text(100 + round * 3 + i));
            }
        }
    }
}

#[test]
fn rust_initiates_c_responds_with_ratchet_steps() {
    for pre_key_id in [3, 0] {
        let c = CPeer::new();
        let mut r = RustPeer::new();
        r.start_with(&c, pre_key_id);
        let first = r.session.encrypt(b"hello from Rust").unwrap();
        assert!(first.is_pre_key());
        assert_eq!(c.decrypt(&first).unwrap(), b"hello from Rust");
        for round in 0..6 {
            let m = c.encrypt(&text(round));
            assert!(!m.is_pre_key());
            assert_eq!(r.decrypt(&m).unwrap(), text(round));
            for i in 0..3 {
                let m = r.session.encrypt(&text(200 + round * 3 + i)).unwrap();
                assert!(!m.is_pre_key());
                assert_eq!(c.decrypt(&m).unwrap(), text(200 + round * 3 + i));
            }
        }
    }
}

#[test]
fn repeated_pre_key_messages_before_the_answer() {
    // Rust sends three pre-key messages before C answers; C gets them out of order.
    let c = CPeer::new();
    let mut r = RustPeer::new();
    r.start_with(&c, 4);
    let ms: Vec<_> = (0..3)
        .map(|i| r.session.encrypt(&text(i)).unwrap())
        .collect();
    assert!(ms.iter().all(CiphertextMessage::is_pre_key));
    assert_eq!(c.decrypt(&ms[1]).unwrap(), text(1));
    assert_eq!(c.decrypt(&ms[2]).unwrap(), text(2));
    assert_eq!(c.decrypt(&ms[0]).unwrap(), text(0));
    // And the other way round.
    let c = CPeer::new();
    let mut r = RustPeer::new();
    assert_eq!(c.process_bundle(&r.bundle(true)), 0);
    let ms: Vec<_> = (0..3).map(|i| c.encrypt(&text(i))).collect();
    assert!(ms.iter().all(CiphertextMessage::is_pre_key));
    assert_eq!(r.decrypt(&ms[2]).unwrap(), text(2));
    assert_eq!(r.decrypt(&ms[0]).unwrap(), text(0));
    assert_eq!(r.decrypt(&ms[1]).unwrap(), text(1));
    assert!(r.decrypt(&ms[1]).is_err(), "replay rejected");
}

#[test]
fn out_of_order_delivery_both_directions() {
    let c = CPeer::new();
    let mut r = RustPeer::new();
    r.start_with(&c, 2);
    assert_eq!(
        c.decrypt(&r.session.encrypt(b"hi").unwrap()).unwrap(),
        b"hi"
    );
    for round in 0..4usize {
        // C -> Rust, reversed, spanning a ratchet step on the C side.
        let from_c: Vec<_> = (0..5)
            .map(|i| (i, c.encrypt(&text(round * 10 + i))))
            .collect();
        for (i, m) in from_c.iter().rev() {
            assert_eq!(r.decrypt(m).unwrap(), text(round * 10 + i));
        }
        // Rust -> C, shuffled.
        let from_r: Vec<_> = (0..5)
            .map(|i| (i, r.session.encrypt(&text(500 + round * 10 + i)).unwrap()))
            .collect();
        for idx in [3, 0, 4, 1, 2] {
            let (i, m) = &from_r[idx];
            assert_eq!(c.decrypt(m).unwrap(), text(500 + round * 10 + i));
        }
    }
    // Messages from an older chain arriving after a ratchet step.
    let old = c.encrypt(b"old chain");
    let newer = c.encrypt(b"newer");
    assert_eq!(r.decrypt(&newer).unwrap(), b"newer");
    let reply = r.session.encrypt(b"reply").unwrap();
    assert_eq!(c.decrypt(&reply).unwrap(), b"reply");
    let next_chain = c.encrypt(b"next chain");
    assert_eq!(r.decrypt(&next_chain).unwrap(), b"next chain");
    assert_eq!(r.decrypt(&old).unwrap(), b"old chain");
}

#[test]
fn session_restored_from_bytes_keeps_talking_to_c() {
    let c = CPeer::new();
    let mut r = RustPeer::new();
    assert_eq!(c.process_bundle(&r.bundle(true)), 0);
    assert_eq!(r.decrypt(&c.encrypt(b"one")).unwrap(), b"one");
    let pending = c.encrypt(b"two");
    r.session = SessionRecord::from_bytes(&r.session.to_bytes()).unwrap();
    assert_eq!(r.decrypt(&pending).unwrap(), b"two");
    let reply = r.session.encrypt(b"three").unwrap();
    assert_eq!(c.decrypt(&reply).unwrap(), b"three");
}

#[test]
fn tampered_messages_are_rejected_by_both() {
    let c = CPeer::new();
    let mut r = RustPeer::new();
    r.start_with(&c, 1);
    let m = r.session.encrypt(b"x").unwrap();
    let CiphertextMessage::PreKey(pk) = &m else {
        panic!("expected a pre-key message")
    };
    // Flip the last MAC byte of the inner message.
    let mut bytes = m.serialized().to_vec();
    let inner = pk.message.serialized();
    let at = bytes.windows(inner.len()).position(|w| w == inner).unwrap();
    bytes[at + inner.len() - 1] ^= 1;
    let forged = CiphertextMessage::PreKey(PreKeySignalMessage::decode(&bytes).unwrap());
    assert!(c.decrypt(&forged).is_err());
    assert_eq!(c.decrypt(&m).unwrap(), b"x");
    let m = c.encrypt(b"y");
    let mut bytes = m.serialized().to_vec();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    let forged = SignalMessage::decode(&bytes).unwrap();
    assert!(r.session.decrypt(&forged, &mut OsRng).is_err());
    assert_eq!(r.decrypt(&m).unwrap(), b"y");
}
