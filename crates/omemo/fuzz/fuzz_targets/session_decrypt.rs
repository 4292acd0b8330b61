#![no_main]
//! Messages a peer could send into an established session: raw bytes, or a valid message of
//! that session with the input XORed over it (so counters, ratchet keys and lengths change while
//! the structure mostly survives). Decryption runs on a copy of the receiving session.
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tern_omemo::keys::KeyPair;
use tern_omemo::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};
use tern_omemo::session::{PreKeyBundle, ResponderKeys, SessionRecord};

struct Fixture {
    identity: KeyPair,
    signed: KeyPair,
    one_time: KeyPair,
    /// Bob's session after the first pre-key message and his reply.
    bob: SessionRecord,
    /// The next message Alice sends in that session.
    signal: Vec<u8>,
    /// A pre-key message of a new session Alice starts.
    pre_key: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rng = &mut StdRng::seed_from_u64(1);
        let alice = KeyPair::generate(rng);
        let identity = KeyPair::generate(rng);
        let signed = KeyPair::generate(rng);
        let one_time = KeyPair::generate(rng);
        let bundle = PreKeyBundle {
            registration_id: 1,
            pre_key: Some((1, one_time.public)),
            signed_pre_key_id: 1,
            signed_pre_key: signed.public,
            signed_pre_key_signature: identity
                .private
                .sign(&signed.public.serialize(), rng)
                .to_vec(),
            identity_key: identity.public,
        };
        let mut a = SessionRecord::new();
        a.process_bundle(&bundle, &alice, 2, rng).expect("bundle");
        let CiphertextMessage::PreKey(first) = a.encrypt(&[1; 32]).expect("encrypt") else {
            panic!("expected a pre-key message")
        };
        let mut bob = SessionRecord::new();
        let keys = ResponderKeys {
            identity: &identity,
            registration_id: 1,
            signed_pre_key: &signed,
            one_time_pre_key: Some(&one_time),
        };
        bob.decrypt_pre_key(&first, Some(keys), rng)
            .expect("decrypt");
        let CiphertextMessage::Signal(reply) = bob.encrypt(&[2; 32]).expect("encrypt") else {
            panic!("expected a signal message")
        };
        a.decrypt(&reply, rng).expect("decrypt reply");
        let signal = a.encrypt(&[3; 32]).expect("encrypt").serialized().to_vec();
        let mut again = SessionRecord::new();
        again
            .process_bundle(&bundle, &alice, 2, rng)
            .expect("bundle");
        let pre_key = again
            .encrypt(&[4; 32])
            .expect("encrypt")
            .serialized()
            .to_vec();
        Fixture {
            identity,
            signed,
            one_time,
            bob,
            signal,
            pre_key,
        }
    })
}

fn xor_over(valid: &[u8], data: &[u8]) -> Vec<u8> {
    let mut out = valid.to_vec();
    out.resize(valid.len().max(data.len()), 0);
    for (o, d) in out.iter_mut().zip(data) {
        *o ^= d;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let rng = &mut StdRng::seed_from_u64(2);
    let mut bob = f.bob.clone();
    let (bytes, pre_key) = match kind % 4 {
        0 => (rest.to_vec(), false),
        1 => (rest.to_vec(), true),
        2 => (xor_over(&f.signal, rest), false),
        _ => (xor_over(&f.pre_key, rest), true),
    };
    let ok = if pre_key {
        let Ok(m) = PreKeySignalMessage::decode(&bytes) else {
            return;
        };
        let keys = ResponderKeys {
            identity: &f.identity,
            registration_id: 1,
            signed_pre_key: &f.signed,
            one_time_pre_key: Some(&f.one_time),
        };
        bob.decrypt_pre_key(&m, Some(keys), rng).is_ok()
    } else {
        let Ok(m) = SignalMessage::decode(&bytes) else {
            return;
        };
        bob.decrypt(&m, rng).is_ok()
    };
    if ok {
        // A session that decrypted something still stores and restores.
        SessionRecord::from_bytes(&bob.to_bytes()).expect("round trip");
    }
});
