//! Property tests: round trips and reordering within the skip window.

use proptest::prelude::*;
use rand::rngs::OsRng;
use tern_omemo::keys::KeyPair;
use tern_omemo::message::{CiphertextMessage, SignalMessage};
use tern_omemo::payload;
use tern_omemo::session::{PreKeyBundle, ResponderKeys, SessionRecord};
use tern_omemo::trust::{fingerprint, fingerprint_grouped, parse_fingerprint};

/// Alice and Bob after one pre-key message and one answer.
pub(crate) fn pair() -> (SessionRecord, SessionRecord) {
    let alice = KeyPair::generate(&mut OsRng);
    let bob = KeyPair::generate(&mut OsRng);
    let signed = KeyPair::generate(&mut OsRng);
    let one_time = KeyPair::generate(&mut OsRng);
    let bundle = PreKeyBundle {
        registration_id: 1,
        pre_key: Some((1, one_time.public)),
        signed_pre_key_id: 1,
        signed_pre_key: signed.public,
        signed_pre_key_signature: bob
            .private
            .sign(&signed.public.serialize(), &mut OsRng)
            .to_vec(),
        identity_key: bob.public,
    };
    let mut a = SessionRecord::new();
    a.process_bundle(&bundle, &alice, 2, &mut OsRng).unwrap();
    let CiphertextMessage::PreKey(first) = a.encrypt(b"init").unwrap() else {
        panic!("expected a pre-key message")
    };
    let mut b = SessionRecord::new();
    let keys = ResponderKeys {
        identity: &bob,
        registration_id: 1,
        signed_pre_key: &signed,
        one_time_pre_key: Some(&one_time),
    };
    b.decrypt_pre_key(&first, Some(keys), &mut OsRng).unwrap();
    let ack = signal(b.encrypt(b"ack").unwrap());
    a.decrypt(&ack, &mut OsRng).unwrap();
    (a, b)
}

fn signal(m: CiphertextMessage) -> SignalMessage {
    match m {
        CiphertextMessage::Signal(m) => m,
        CiphertextMessage::PreKey(m) => m.message,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn session_round_trip(messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 1..12),
                          turns in prop::collection::vec(any::<bool>(), 12)) {
        let (mut a, mut b) = pair();
        for (m, alice_sends) in messages.iter().zip(turns) {
            let (tx, rx) = if alice_sends { (&mut a, &mut b) } else { (&mut b, &mut a) };
            let wire = SignalMessage::decode(signal(tx.encrypt(m).unwrap()).serialized()).unwrap();
            prop_assert_eq!(&rx.decrypt(&wire, &mut OsRng).unwrap(), m);
        }
    }

    #[test]
    fn any_order_within_the_window_decrypts_once(
        order in (1usize..40).prop_flat_map(|n| Just((0..n).collect::<Vec<_>>()).prop_shuffle()),
        ratchet_at in any::<prop::sample::Index>(),
    ) {
        let (mut a, mut b) = pair();
        let n = order.len();
        // Alice sends n messages; halfway she receives a reply, so they span two chains.
        let split = ratchet_at.index(n);
        let mut sent = Vec::new();
        for i in 0..n {
            if i == split {
                let r = signal(b.encrypt(b"turn").unwrap());
                a.decrypt(&r, &mut OsRng).unwrap();
            }
            sent.push(signal(a.encrypt(&(i as u32).to_be_bytes()).unwrap()));
        }
        for &i in &order {
            prop_assert_eq!(b.decrypt(&sent[i], &mut OsRng).unwrap(), (i as u32).to_be_bytes().to_vec());
        }
        for m in &sent {
            prop_assert!(b.decrypt(m, &mut OsRng).is_err(), "replay must fail");
        }
        // And the session still works both ways.
        let m = signal(b.encrypt(b"after").unwrap());
        prop_assert_eq!(a.decrypt(&m, &mut OsRng).unwrap(), b"after".to_vec());
    }

    #[test]
    fn restored_session_continues(k in 0usize..6) {
        let (mut a, b) = pair();
        let sent: Vec<_> = (0..6).map(|i| signal(a.encrypt(&[i]).unwrap())).collect();
        let mut b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
        b.decrypt(&sent[5], &mut OsRng).unwrap();
        let mut b = SessionRecord::from_bytes(&b.to_bytes()).unwrap();
        prop_assert_eq!(b.decrypt(&sent[k.min(4)], &mut OsRng).unwrap(), vec![k.min(4) as u8]);
    }

    #[test]
    fn payload_round_trip(data in prop::collection::vec(any::<u8>(), 0..5000)) {
        let sealed = payload::seal(&data, &mut OsRng).unwrap();
        prop_assert_eq!(payload::open(&sealed.key_material, &sealed.iv, &sealed.ciphertext).unwrap(), data);
    }

    #[test]
    fn fingerprint_round_trip(seed in any::<[u8; 32]>()) {
        let key = tern_omemo::keys::PrivateKey::from_bytes(seed).public_key();
        prop_assert_eq!(parse_fingerprint(&fingerprint(&key)).unwrap(), key);
        prop_assert_eq!(parse_fingerprint(&fingerprint_grouped(&key)).unwrap(), key);
    }

    #[test]
    fn signatures_round_trip(seed in any::<[u8; 32]>(), msg in prop::collection::vec(any::<u8>(), 0..200)) {
        let private = tern_omemo::keys::PrivateKey::from_bytes(seed);
        let sig = private.sign(&msg, &mut OsRng);
        prop_assert!(private.public_key().verify(&msg, &sig).is_ok());
    }
}
