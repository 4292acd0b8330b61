//! Tern against libomemo-c (Dino's C library, a fork of libsignal-protocol-c), in the same
//! process and run, for the same operations:
//!
//! - `session_setup_from_bundle`: verify the signed pre-key, X3DH, first ratchet step, and store
//!   the new session.
//! - `encrypt_message/N`: one chat message for N recipient devices: AES-128-GCM payload, then
//!   `key || tag` encrypted with the session of each device (load the session, ratchet, store).
//! - `decrypt_message`: one message in an established chain: decode the key message, load the
//!   session, ratchet, store it, open the payload.
//!
//! Both sides keep sessions serialised in memory between operations, as a database would, and
//! both talk over acknowledged sessions (plain `SignalMessage`s, no pre-key messages).
//! libomemo-c runs with the test harness's OpenSSL crypto provider (Dino uses libgcrypt).
//!
//! Needs the `libomemo-c-interop` feature (libomemo-c-dev, libssl-dev):
//! `cargo bench -p tern-omemo --features libomemo-c-interop --bench libomemo_c`.
//! Results: docs/omemo-benchmarks.md.
#![allow(missing_docs, unsafe_code, clippy::unwrap_used)]

use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand::rngs::OsRng;
use tern_omemo::keys::KeyPair;
use tern_omemo::message::{CiphertextMessage, SignalMessage};
use tern_omemo::payload;
use tern_omemo::session::{PreKeyBundle, ResponderKeys, SessionRecord};

const MESSAGE: &[u8] = b"a typical chat message of some length";
const SENDER: &str = "alice@example.org";
const SENDER_DEVICE: i32 = 1;
const RECIPIENT: &str = "bob@example.org";
/// Room for one serialised key message (a `SignalMessage` of 32 bytes is about 100 bytes).
const KEY_CAP: usize = 512;

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
    #[allow(clippy::too_many_arguments)]
    fn shim_omemo_encrypt(
        p: *mut RawPeer,
        name: *const c_char,
        devices: *const i32,
        n: usize,
        pt: *const u8,
        pt_len: usize,
        payload: *mut u8,
        iv: *mut u8,
        keys: *mut u8,
        key_cap: usize,
        key_lens: *mut usize,
        is_pre_key: *mut c_int,
    ) -> c_int;
    #[allow(clippy::too_many_arguments)]
    fn shim_omemo_decrypt(
        p: *mut RawPeer,
        name: *const c_char,
        device: i32,
        key: *const u8,
        key_len: usize,
        is_pre_key: c_int,
        iv: *const u8,
        payload: *const u8,
        len: usize,
        out: *mut u8,
    ) -> c_int;
}

/// One encrypted message: IV, payload, and one key message per device.
struct Message {
    iv: [u8; 12],
    payload: Vec<u8>,
    keys: Vec<(i32, bool, Vec<u8>)>,
}

/// A libomemo-c device with in-memory stores (sessions kept serialised).
struct CPeer(*mut RawPeer);

impl CPeer {
    fn new(n_pre_keys: u32) -> Self {
        let p = unsafe { shim_peer_new(1234, n_pre_keys) };
        assert!(!p.is_null());
        CPeer(p)
    }

    /// Its bundle with signed pre-key 1 and one-time pre-key 1.
    fn bundle(&self) -> PreKeyBundle {
        let (mut identity, mut spk, mut sig, mut pk) = ([0u8; 33], [0u8; 33], [0u8; 64], [0u8; 33]);
        let rc = unsafe {
            shim_peer_bundle(
                self.0,
                1,
                identity.as_mut_ptr(),
                spk.as_mut_ptr(),
                sig.as_mut_ptr(),
                pk.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0);
        PreKeyBundle {
            registration_id: 1234,
            pre_key: Some((1, tern_omemo::keys::PublicKey::decode(&pk).unwrap())),
            signed_pre_key_id: 1,
            signed_pre_key: tern_omemo::keys::PublicKey::decode(&spk).unwrap(),
            signed_pre_key_signature: sig.to_vec(),
            identity_key: tern_omemo::keys::PublicKey::decode(&identity).unwrap(),
        }
    }

    fn process_bundle(&self, name: &CString, device: i32, b: &PreKeyBundle) {
        let pk = b.pre_key.map(|(id, k)| (id, k.serialize()));
        let rc = unsafe {
            shim_peer_process_bundle(
                self.0,
                name.as_ptr(),
                device,
                b.registration_id,
                b.identity_key.serialize().as_ptr(),
                b.signed_pre_key_id,
                b.signed_pre_key.serialize().as_ptr(),
                b.signed_pre_key_signature.as_ptr(),
                b.signed_pre_key_signature.len(),
                pk.map_or(0, |(id, _)| id),
                pk.as_ref().map_or(std::ptr::null(), |(_, k)| k.as_ptr()),
            )
        };
        assert_eq!(rc, 0, "libomemo-c process bundle");
    }

    fn encrypt(&self, name: &CString, device: i32, pt: &[u8]) -> (bool, Vec<u8>) {
        let mut out = vec![0u8; KEY_CAP];
        let mut len = out.len();
        let mut is_pre_key = 0;
        let rc = unsafe {
            shim_peer_encrypt(
                self.0,
                name.as_ptr(),
                device,
                pt.as_ptr(),
                pt.len(),
                out.as_mut_ptr(),
                &mut len,
                &mut is_pre_key,
            )
        };
        assert_eq!(rc, 0, "libomemo-c encrypt");
        out.truncate(len);
        (is_pre_key != 0, out)
    }

    fn decrypt(&self, name: &CString, device: i32, is_pre_key: bool, ct: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; KEY_CAP];
        let mut len = out.len();
        let rc = unsafe {
            shim_peer_decrypt(
                self.0,
                name.as_ptr(),
                device,
                ct.as_ptr(),
                ct.len(),
                c_int::from(is_pre_key),
                out.as_mut_ptr(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "libomemo-c decrypt");
        out.truncate(len);
        out
    }

    fn omemo_encrypt(&self, name: &CString, devices: &[i32], pt: &[u8]) -> Message {
        let n = devices.len();
        let mut payload = vec![0u8; pt.len()];
        let mut iv = [0u8; 12];
        let mut keys = vec![0u8; n * KEY_CAP];
        let mut lens = vec![0usize; n];
        let mut pre = vec![0 as c_int; n];
        let rc = unsafe {
            shim_omemo_encrypt(
                self.0,
                name.as_ptr(),
                devices.as_ptr(),
                n,
                pt.as_ptr(),
                pt.len(),
                payload.as_mut_ptr(),
                iv.as_mut_ptr(),
                keys.as_mut_ptr(),
                KEY_CAP,
                lens.as_mut_ptr(),
                pre.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "libomemo-c message encrypt");
        Message {
            iv,
            payload,
            keys: (0..n)
                .map(|i| {
                    let at = i * KEY_CAP;
                    (devices[i], pre[i] != 0, keys[at..at + lens[i]].to_vec())
                })
                .collect(),
        }
    }

    fn omemo_decrypt(&self, name: &CString, device: i32, m: &Message) -> Vec<u8> {
        let (_, is_pre_key, key) = &m.keys[0];
        let mut out = vec![0u8; m.payload.len()];
        let rc = unsafe {
            shim_omemo_decrypt(
                self.0,
                name.as_ptr(),
                device,
                key.as_ptr(),
                key.len(),
                c_int::from(*is_pre_key),
                m.iv.as_ptr(),
                m.payload.as_ptr(),
                m.payload.len(),
                out.as_mut_ptr(),
            )
        };
        assert_eq!(rc, 0, "libomemo-c message decrypt");
        out
    }
}

impl Drop for CPeer {
    fn drop(&mut self) {
        unsafe { shim_peer_free(self.0) }
    }
}

/// A Tern device's keys.
struct Peer {
    identity: KeyPair,
    signed: KeyPair,
    one_time: KeyPair,
}

impl Peer {
    fn new() -> Self {
        Peer {
            identity: KeyPair::generate(&mut OsRng),
            signed: KeyPair::generate(&mut OsRng),
            one_time: KeyPair::generate(&mut OsRng),
        }
    }

    fn bundle(&self) -> PreKeyBundle {
        PreKeyBundle {
            registration_id: 1,
            pre_key: Some((1, self.one_time.public)),
            signed_pre_key_id: 1,
            signed_pre_key: self.signed.public,
            signed_pre_key_signature: self
                .identity
                .private
                .sign(&self.signed.public.serialize(), &mut OsRng)
                .to_vec(),
            identity_key: self.identity.public,
        }
    }

    fn keys(&self) -> ResponderKeys<'_> {
        ResponderKeys {
            identity: &self.identity,
            registration_id: 1,
            signed_pre_key: &self.signed,
            one_time_pre_key: Some(&self.one_time),
        }
    }
}

/// Tern's sessions of one device, serialised by device id, as the store keeps them.
#[derive(Default)]
struct TernSessions(HashMap<i32, Vec<u8>>);

impl TernSessions {
    fn encrypt(&mut self, devices: &[i32], pt: &[u8]) -> Message {
        let sealed = payload::seal(pt, &mut OsRng).unwrap();
        let mut keys = Vec::with_capacity(devices.len());
        for &d in devices {
            let mut session = SessionRecord::from_bytes(&self.0[&d]).unwrap();
            let m = session.encrypt(&sealed.key_material).unwrap();
            keys.push((d, m.is_pre_key(), m.serialized().to_vec()));
            self.0.insert(d, session.to_bytes());
        }
        Message {
            iv: sealed.iv,
            payload: sealed.ciphertext.clone(),
            keys,
        }
    }

    fn decrypt(&mut self, device: i32, m: &Message) -> Vec<u8> {
        let (_, is_pre_key, key) = &m.keys[0];
        assert!(!is_pre_key);
        let key_message = SignalMessage::decode(key).unwrap();
        let mut session = SessionRecord::from_bytes(&self.0[&device]).unwrap();
        let material = session.decrypt(&key_message, &mut OsRng).unwrap();
        self.0.insert(device, session.to_bytes());
        payload::open(&material, &m.iv, &m.payload).unwrap()
    }
}

/// Tern: `n` recipient devices with acknowledged sessions from the sender. Returns the sender's
/// sessions and the recipients' (each keyed by the sender's device id).
fn tern_sessions(n: usize) -> (TernSessions, Vec<TernSessions>) {
    let alice = Peer::new();
    let mut sender = TernSessions::default();
    let mut recipients = Vec::new();
    for device in 1..=n as i32 {
        let bob = Peer::new();
        let mut a = SessionRecord::new();
        a.process_bundle(&bob.bundle(), &alice.identity, 1, &mut OsRng)
            .unwrap();
        let CiphertextMessage::PreKey(first) = a.encrypt(b"x").unwrap() else {
            unreachable!()
        };
        let mut b = SessionRecord::new();
        b.decrypt_pre_key(&first, Some(bob.keys()), &mut OsRng)
            .unwrap();
        let CiphertextMessage::Signal(reply) = b.encrypt(b"y").unwrap() else {
            unreachable!()
        };
        a.decrypt(&reply, &mut OsRng).unwrap();
        sender.0.insert(device, a.to_bytes());
        let mut r = TernSessions::default();
        r.0.insert(SENDER_DEVICE, b.to_bytes());
        recipients.push(r);
    }
    (sender, recipients)
}

/// libomemo-c: the same setup.
fn c_sessions(n: usize) -> (CPeer, Vec<CPeer>) {
    let (sender_name, recipient_name) = (
        CString::new(SENDER).unwrap(),
        CString::new(RECIPIENT).unwrap(),
    );
    let alice = CPeer::new(0);
    let mut recipients = Vec::new();
    for device in 1..=n as i32 {
        let bob = CPeer::new(1);
        alice.process_bundle(&recipient_name, device, &bob.bundle());
        let (pre, first) = alice.encrypt(&recipient_name, device, b"x");
        assert!(pre);
        assert_eq!(bob.decrypt(&sender_name, SENDER_DEVICE, true, &first), b"x");
        let (pre, reply) = bob.encrypt(&sender_name, SENDER_DEVICE, b"y");
        assert!(!pre);
        assert_eq!(alice.decrypt(&recipient_name, device, false, &reply), b"y");
        recipients.push(bob);
    }
    (alice, recipients)
}

fn session_setup(c: &mut Criterion) {
    let alice = Peer::new();
    let bob = Peer::new();
    let bundle = bob.bundle();
    let mut group = c.benchmark_group("vs_libomemo_c/session_setup_from_bundle");
    group.bench_function("tern", |b| {
        b.iter(|| {
            let mut r = SessionRecord::new();
            r.process_bundle(black_box(&bundle), &alice.identity, 1, &mut OsRng)
                .unwrap();
            r.to_bytes()
        })
    });
    let c_alice = CPeer::new(0);
    let name = CString::new(RECIPIENT).unwrap();
    group.bench_function("libomemo-c", |b| {
        b.iter(|| c_alice.process_bundle(&name, 1, black_box(&bundle)))
    });
    group.finish();
}

fn encrypt_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("vs_libomemo_c/encrypt_message");
    group.sample_size(20);
    let name = CString::new(RECIPIENT).unwrap();
    for n in [1usize, 10, 100] {
        let devices: Vec<i32> = (1..=n as i32).collect();
        let (mut tern, tern_recipients) = tern_sessions(n);
        let (c_alice, c_recipients) = c_sessions(n);
        // Both sides produce what the other side's recipients can read.
        let m = tern.encrypt(&devices, MESSAGE);
        assert_eq!(m.keys.len(), n);
        assert!(m.keys.iter().all(|(_, pre, _)| !pre));
        let m = c_alice.omemo_encrypt(&name, &devices, MESSAGE);
        assert!(m.keys.iter().all(|(_, pre, _)| !pre));
        let sender = CString::new(SENDER).unwrap();
        assert_eq!(
            c_recipients[n - 1].omemo_decrypt(
                &sender,
                SENDER_DEVICE,
                &Message {
                    keys: vec![m.keys[n - 1].clone()],
                    iv: m.iv,
                    payload: m.payload.clone(),
                }
            ),
            MESSAGE
        );
        drop(tern_recipients);
        group.bench_with_input(BenchmarkId::new("tern", n), &n, |b, _| {
            b.iter(|| tern.encrypt(&devices, black_box(MESSAGE)))
        });
        group.bench_with_input(BenchmarkId::new("libomemo-c", n), &n, |b, _| {
            b.iter(|| c_alice.omemo_encrypt(&name, &devices, black_box(MESSAGE)))
        });
    }
    group.finish();
}

fn decrypt_message(c: &mut Criterion) {
    let mut group = c.benchmark_group("vs_libomemo_c/decrypt_message");
    let (mut tern, mut tern_recipients) = tern_sessions(1);
    let mut bob = tern_recipients.remove(0);
    group.bench_function("tern", |b| {
        b.iter_batched(
            || tern.encrypt(&[1], MESSAGE),
            |m| {
                let pt = bob.decrypt(SENDER_DEVICE, &m);
                debug_assert_eq!(pt, MESSAGE);
                pt
            },
            BatchSize::SmallInput,
        )
    });
    let (c_alice, c_recipients) = c_sessions(1);
    let (sender, recipient) = (
        CString::new(SENDER).unwrap(),
        CString::new(RECIPIENT).unwrap(),
    );
    let c_bob = &c_recipients[0];
    group.bench_function("libomemo-c", |b| {
        b.iter_batched(
            || c_alice.omemo_encrypt(&recipient, &[1], MESSAGE),
            |m| {
                let pt = c_bob.omemo_decrypt(&sender, SENDER_DEVICE, &m);
                debug_assert_eq!(pt, MESSAGE);
                pt
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, session_setup, encrypt_message, decrypt_message);
criterion_main!(benches);
