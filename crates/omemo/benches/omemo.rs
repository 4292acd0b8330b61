//! OMEMO benchmarks: session setup, session encrypt/decrypt, and whole-element encryption for
//! 1, 10 and 100 recipient devices. Results and how to run: docs/omemo-benchmarks.md.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand::rngs::OsRng;
use tern_omemo::keys::KeyPair;
use tern_omemo::legacy_omemo::{Device, DeviceList};
use tern_omemo::message::CiphertextMessage;
use tern_omemo::session::{PreKeyBundle, ResponderKeys, SessionRecord};
use tern_omemo::{BareJid, Config, MemoryStore, Omemo};

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

fn established() -> (SessionRecord, SessionRecord) {
    let alice = Peer::new();
    let bob = Peer::new();
    let mut a = SessionRecord::new();
    a.process_bundle(&bob.bundle(), &alice.identity, 1, &mut OsRng)
        .unwrap();
    let CiphertextMessage::PreKey(m) = a.encrypt(b"x").unwrap() else {
        unreachable!()
    };
    let mut b = SessionRecord::new();
    b.decrypt_pre_key(&m, Some(bob.keys()), &mut OsRng).unwrap();
    let CiphertextMessage::Signal(r) = b.encrypt(b"y").unwrap() else {
        unreachable!()
    };
    a.decrypt(&r, &mut OsRng).unwrap();
    (a, b)
}

fn primitives(c: &mut Criterion) {
    let pair = KeyPair::generate(&mut OsRng);
    let msg = pair.public.serialize();
    let sig = pair.private.sign(&msg, &mut OsRng);
    c.bench_function("xeddsa_sign", |b| {
        b.iter(|| pair.private.sign(black_box(&msg), &mut OsRng))
    });
    c.bench_function("xeddsa_verify", |b| {
        b.iter(|| {
            pair.public
                .verify(black_box(&msg), black_box(&sig))
                .unwrap()
        })
    });
}

fn session(c: &mut Criterion) {
    let alice = Peer::new();
    let bob = Peer::new();
    let bundle = bob.bundle();
    c.bench_function("session_setup_from_bundle", |b| {
        b.iter(|| {
            let mut r = SessionRecord::new();
            r.process_bundle(black_box(&bundle), &alice.identity, 1, &mut OsRng)
                .unwrap();
            r
        })
    });
    c.bench_function("session_setup_from_pre_key_message", |b| {
        b.iter_batched(
            || {
                let mut a = SessionRecord::new();
                a.process_bundle(&bundle, &alice.identity, 1, &mut OsRng)
                    .unwrap();
                match a.encrypt(&[7; 32]).unwrap() {
                    CiphertextMessage::PreKey(m) => m,
                    CiphertextMessage::Signal(_) => unreachable!(),
                }
            },
            |m| {
                let mut r = SessionRecord::new();
                r.decrypt_pre_key(&m, Some(bob.keys()), &mut OsRng).unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    let (mut a, _) = established();
    c.bench_function("session_encrypt_32B", |bench| {
        bench.iter(|| a.encrypt(black_box(&[7; 32])).unwrap())
    });
    let (a, b) = established();
    c.bench_function("session_decrypt_32B_new_chain", |bench| {
        bench.iter_batched(
            || {
                let m = match a.clone().encrypt(&[7; 32]).unwrap() {
                    CiphertextMessage::Signal(m) => m,
                    CiphertextMessage::PreKey(m) => m.message,
                };
                (b.clone(), m)
            },
            |(mut b, m)| b.decrypt(&m, &mut OsRng).unwrap(),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("session_record_round_trip", |bench| {
        bench.iter(|| SessionRecord::from_bytes(&black_box(&a).to_bytes()).unwrap())
    });
}

fn jid(s: &str) -> BareJid {
    s.parse().unwrap()
}

fn omemo_elements(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let small = Config {
        pre_key_count: 2,
        ..Config::default()
    };
    let mut group = c.benchmark_group("omemo_encrypt_message");
    group.sample_size(20);
    for n in [1usize, 10, 100] {
        let (mut alice, _bobs) = rt.block_on(async {
            let mut alice = Omemo::load_or_create(
                MemoryStore::new(),
                jid("alice@example.org"),
                small.clone(),
                0,
            )
            .await
            .unwrap();
            let mut bobs = Vec::new();
            for _ in 0..n {
                bobs.push(
                    Omemo::load_or_create(
                        MemoryStore::new(),
                        jid("bob@example.org"),
                        small.clone(),
                        0,
                    )
                    .await
                    .unwrap(),
                );
            }
            let list = DeviceList {
                devices: bobs
                    .iter()
                    .map(|b| Device {
                        id: b.own_device_id(),
                    })
                    .collect(),
            };
            alice
                .receive_device_list(&jid("bob@example.org"), &list)
                .await
                .unwrap();
            for b in &bobs {
                let bundle = b.own_bundle().await.unwrap();
                alice
                    .receive_bundle(&jid("bob@example.org"), b.own_device_id(), &bundle)
                    .await
                    .unwrap();
            }
            (alice, bobs)
        });
        let to = [jid("bob@example.org")];
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                rt.block_on(alice.encrypt(&to, black_box(b"a typical chat message of some length")))
                    .unwrap()
            })
        });
    }
    group.finish();

    // Decrypting one element (a SignalMessage key, 12-byte IV payload) on the receiving side.
    let (mut alice, mut bob) = rt.block_on(async {
        let mut alice = Omemo::load_or_create(
            MemoryStore::new(),
            jid("alice@example.org"),
            small.clone(),
            0,
        )
        .await
        .unwrap();
        let mut bob =
            Omemo::load_or_create(MemoryStore::new(), jid("bob@example.org"), small.clone(), 0)
                .await
                .unwrap();
        alice
            .receive_device_list(&jid("bob@example.org"), &bob.own_device_list(None))
            .await
            .unwrap();
        let bundle = bob.own_bundle().await.unwrap();
        alice
            .receive_bundle(&jid("bob@example.org"), bob.own_device_id(), &bundle)
            .await
            .unwrap();
        let first = alice
            .encrypt(&[jid("bob@example.org")], b"hi")
            .await
            .unwrap();
        bob.decrypt(&jid("alice@example.org"), &first.element)
            .await
            .unwrap();
        bob.receive_device_list(&jid("alice@example.org"), &alice.own_device_list(None))
            .await
            .unwrap();
        let ack = bob
            .encrypt_key_transport(&[jid("alice@example.org")])
            .await
            .unwrap();
        alice
            .decrypt(&jid("bob@example.org"), &ack.element)
            .await
            .unwrap();
        (alice, bob)
    });
    let to = [jid("bob@example.org")];
    let from = jid("alice@example.org");
    c.bench_function("omemo_decrypt_message", |b| {
        b.iter_batched(
            || {
                rt.block_on(alice.encrypt(&to, b"a typical chat message of some length"))
                    .unwrap()
                    .element
            },
            |e| rt.block_on(bob.decrypt(&from, &e)).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

criterion_group!(benches, primitives, session, omemo_elements);
criterion_main!(benches);
