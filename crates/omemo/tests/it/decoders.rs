//! Every decoder under random and mutated input: errors, never panics. A bounded, stable-Rust
//! stand-in for the cargo-fuzz targets in `fuzz/`. `TERN_OMEMO_FUZZ_ITERATIONS` overrides the
//! default of 100 000 inputs per decoder family.

use base64::Engine as _;
use rand::rngs::{OsRng, StdRng};
use rand::{Rng, SeedableRng};
use tern_omemo::legacy_omemo::{Bundle, Encrypted, Key};
use tern_omemo::message::{CiphertextMessage, PreKeySignalMessage, SignalMessage};
use tern_omemo::session::SessionRecord;
use tern_omemo::{parse_bundle, parse_key, TrustUri};
use xmpp_parsers::minidom::Element;

fn iterations() -> usize {
    std::env::var("TERN_OMEMO_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

/// An `<encrypted/>` element a real client sent (xmpp-parsers' `legacy_omemo` example).
const REAL_ENCRYPTED: &str = r#"<encrypted xmlns="eu.siacs.conversations.axolotl">
  <header sid="564866972">
    <key prekey="true" rid="1236">Mwjp9AESIQVylscLPpj/HlowaTiIsaBj73HCVEllXpVTtMG9EYwRexohBQFd2p/Oq97vAAdLKA09DlcSg0x1xWn260p1jaeyIhAZImIzCiEFhaQ4I+DuQgo6vCLCjHu4uewDZmWHuBl8uJw1IkyZxhUQABgAIjCoEVgVThWlaIlnN3V5Bg1hQX7OD1cvstLD5lH3zZMadL3KeONELESlBbeKmNgcYC/e3HZnbgWzBiic36yNAjAW</key>
    <key rid="26052318">MwohBTV6dpumL1OxA9MdIFmu2E19+cIWDHWYfhdubvo0hmh6EAAYHCIwNc9/59eeYi8pVZQhMJJMVkKUkFP/yrTfG3o1lfpHGseCqb/JTgtDytQPiYrTpHl2V/mdsM6IPig=</key>
    <key rid="1164059891">MwohBVnhz9pvEj1s1waEHuk5qpQqhUrpavycFz0hq/KYwI8oEAAYCSIwedEGN6MidxyvaPI8zorLcpG0Y7e7ecGkkd5vdDrL7Qt1tXaHb0iDyE/rZZHpFiNN38Izfp5vHv4=</key>
    <iv>SY/SCGPt0CnA2odB</iv>
  </header>
  <payload>Vas=</payload>
</encrypted>"#;

const REAL_BUNDLE: &str = r#"<bundle xmlns="eu.siacs.conversations.axolotl">
  <signedPreKeyPublic signedPreKeyId="1">BYAbACA15bPn95p7RGC2XbgQyly8aRKS4BaJ+hD8Ybhe</signedPreKeyPublic>
  <signedPreKeySignature>sIJVNDZi/NgFsry4OBdM+adyGttLEXbUh/h/5dVOZveMgyVoIdgwBUzq8Wgd2xYTQMioNzwYebTX+9p0h9eujA==</signedPreKeySignature>
  <identityKey>BQFd2p/Oq97vAAdLKA09DlcSg0x1xWn260p1jaeyIhAZ</identityKey>
  <prekeys>
    <preKeyPublic preKeyId="1">BbjHsF5ndtNV8ToRcJTYSNGePgAWsFGkSL6OG7B7LXRe</preKeyPublic>
    <preKeyPublic preKeyId="2">BeWHsbBNx1uer1ia/nW/6tn/OlqHll9itjjUTIvV39x7</preKeyPublic>
    <preKeyPublic preKeyId="3">BeVr5xPmNErkwK3ocPmv0Nohy3C4PKQBnxMuOqiXotJY</preKeyPublic>
  </prekeys>
</bundle>"#;

fn real_encrypted() -> Encrypted {
    REAL_ENCRYPTED
        .parse::<Element>()
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn real_client_messages_decode() {
    let e = real_encrypted();
    let CiphertextMessage::PreKey(m) = parse_key(&e.header.keys[0]).unwrap() else {
        panic!("prekey=true must give a pre-key message")
    };
    assert_eq!(m.pre_key_id, Some(31337));
    assert_eq!(m.signed_pre_key_id, 22);
    // Conversations puts its device id in the registration id field.
    assert_eq!(m.registration_id, e.header.sid);
    assert_eq!(m.message.counter, 0);
    assert_eq!(m.serialized(), &e.header.keys[0].data[..]);
    let bundle: Bundle = REAL_BUNDLE.parse::<Element>().unwrap().try_into().unwrap();
    let parsed = parse_bundle(&bundle, &mut OsRng).unwrap();
    assert_eq!(
        m.identity_key, parsed.identity_key,
        "the sender's own bundle"
    );
    for k in &e.header.keys[1..] {
        let CiphertextMessage::Signal(m) = parse_key(k).unwrap() else {
            panic!("expected a signal message")
        };
        assert_eq!(m.serialized(), &k.data[..]);
        assert_eq!(m.ciphertext.len(), 48, "a 32-byte key after CBC padding");
    }
    let CiphertextMessage::Signal(m) = parse_key(&e.header.keys[1]).unwrap() else {
        unreachable!()
    };
    assert_eq!((m.counter, m.previous_counter), (0, 28));
}

#[test]
fn decoder_error_paths() {
    let e = real_encrypted();
    let good = &e.header.keys[1].data;
    assert!(SignalMessage::decode(&[]).is_err());
    assert!(matches!(
        SignalMessage::decode(&[0x23, 1, 2, 3, 4, 5, 6, 7, 8, 9]),
        Err(tern_omemo::Error::UnsupportedVersion(0x23))
    ));
    assert!(matches!(
        SignalMessage::decode(&[0x33; 5]),
        Err(tern_omemo::Error::Malformed(_))
    ));
    for cut in 1..good.len() {
        // Every truncation is an error or (if it only shortens the MAC) a different message.
        let _ = SignalMessage::decode(&good[..cut]);
    }
    assert!(SignalMessage::decode(&good[..good.len() - 20]).is_err());
    // Valid protobuf without the required fields.
    assert!(matches!(
        SignalMessage::decode(&[0x33, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
        Err(tern_omemo::Error::Malformed(_))
    ));
    assert!(matches!(
        PreKeySignalMessage::decode(&[0x33, 0x28, 0x01]),
        Err(tern_omemo::Error::Malformed(_))
    ));
    assert!(matches!(
        SignalMessage::decode(&vec![0x33; 70_000]),
        Err(tern_omemo::Error::TooLarge { .. })
    ));
    let key = Key {
        rid: 1,
        prekey: true,
        data: good.clone(),
    };
    assert!(
        parse_key(&key).is_err(),
        "a signal message is not a pre-key message"
    );
}

fn mutate(rng: &mut StdRng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..rng.gen_range(1..4) {
        match rng.gen_range(0..5) {
            0 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] ^= 1 << rng.gen_range(0..8);
            }
            1 if !v.is_empty() => {
                let i = rng.gen_range(0..v.len());
                v[i] = rng.gen();
            }
            2 => v.truncate(rng.gen_range(0..=v.len())),
            3 => {
                let i = rng.gen_range(0..=v.len());
                v.insert(i, rng.gen());
            }
            _ => {
                let n = rng.gen_range(0..8);
                v.extend((0..n).map(|_| rng.gen::<u8>()));
            }
        }
    }
    v
}

fn random_bytes(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.gen_range(0..200);
    let mut v: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
    if rng.gen_bool(0.5) && !v.is_empty() {
        v[0] = 0x33;
    }
    v
}

#[test]
fn wire_decoders_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x7e57);
    let e = real_encrypted();
    let seeds: Vec<Vec<u8>> = e.header.keys.iter().map(|k| k.data.clone()).collect();
    for i in 0..iterations() {
        let input = if i % 2 == 0 {
            random_bytes(&mut rng)
        } else {
            mutate(&mut rng, &seeds[i % seeds.len()])
        };
        let _ = SignalMessage::decode(&input);
        let _ = PreKeySignalMessage::decode(&input);
        let key = Key {
            rid: 1,
            prekey: i % 3 == 0,
            data: input,
        };
        let _ = parse_key(&key);
    }
}

#[test]
fn session_records_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5e55);
    let mut record = SessionRecord::new();
    let bob = tern_omemo::keys::KeyPair::generate(&mut OsRng);
    let signed = tern_omemo::keys::KeyPair::generate(&mut OsRng);
    let bundle = tern_omemo::session::PreKeyBundle {
        registration_id: 1,
        pre_key: None,
        signed_pre_key_id: 1,
        signed_pre_key: signed.public,
        signed_pre_key_signature: bob
            .private
            .sign(&signed.public.serialize(), &mut OsRng)
            .to_vec(),
        identity_key: bob.public,
    };
    let me = tern_omemo::keys::KeyPair::generate(&mut OsRng);
    record.process_bundle(&bundle, &me, 1, &mut OsRng).unwrap();
    let seed = record.to_bytes();
    for i in 0..iterations() / 10 {
        let input = if i % 4 == 0 {
            random_bytes(&mut rng)
        } else {
            mutate(&mut rng, &seed)
        };
        if let Ok(mut r) = SessionRecord::from_bytes(&input) {
            let _ = r.encrypt(b"x");
        }
    }
}

#[test]
fn bundles_uris_and_payloads_never_panic() {
    let mut rng = StdRng::seed_from_u64(0xb0b);
    let bundle: Bundle = REAL_BUNDLE.parse::<Element>().unwrap().try_into().unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    for i in 0..iterations() / 10 {
        let mut b = bundle.clone();
        if let Some(s) = b.signed_pre_key_public.as_mut() {
            if i % 3 == 0 {
                s.data = mutate(&mut rng, &s.data);
            }
        }
        if let Some(s) = b.signed_pre_key_signature.as_mut() {
            if i % 3 == 1 {
                s.data = mutate(&mut rng, &s.data);
            }
        }
        if let Some(k) = b.identity_key.as_mut() {
            if i % 5 == 2 {
                k.data = mutate(&mut rng, &k.data);
            }
        }
        if let Some(p) = b.prekeys.as_mut() {
            for k in &mut p.keys {
                if rng.gen_bool(0.3) {
                    k.data = mutate(&mut rng, &k.data);
                }
            }
        }
        if i % 7 == 0 {
            b.identity_key = None;
        }
        if let Ok(parsed) = parse_bundle(&b, &mut rng) {
            let mut r = SessionRecord::new();
            let me = tern_omemo::keys::KeyPair::generate(&mut OsRng);
            let _ = r.process_bundle(&parsed, &me, 1, &mut OsRng);
        }
        // XML-level: mutated text of the bundle element.
        let xml = mutate(&mut rng, REAL_BUNDLE.as_bytes());
        if let Ok(s) = std::str::from_utf8(&xml) {
            if let Ok(el) = s.parse::<Element>() {
                if let Ok(b) = Bundle::try_from(el) {
                    let _ = parse_bundle(&b, &mut rng);
                }
            }
        }
        let uri = mutate(&mut rng, b"xmpp:user@example.org?omemo-sid-123=015dda9fceabdeef00074b280d3d0e5712834c75c569f6eb4a758da7b2221019");
        if let Ok(s) = std::str::from_utf8(&uri) {
            let _ = TrustUri::parse(s);
        }
        let material = random_bytes(&mut rng);
        let iv = b64.encode(random_bytes(&mut rng));
        let _ = tern_omemo::payload::open(&material, iv.as_bytes(), &random_bytes(&mut rng));
    }
}

#[test]
fn session_decrypt_of_mutated_messages_never_panics_or_succeeds() {
    let mut rng = StdRng::seed_from_u64(0xdec);
    let (mut a, b) = crate::properties_pair();
    let seed = match a.encrypt(b"payload key material 32 bytes!!!").unwrap() {
        CiphertextMessage::Signal(m) => m.serialized().to_vec(),
        CiphertextMessage::PreKey(m) => m.message.serialized().to_vec(),
    };
    for _ in 0..iterations() / 20 {
        let input = mutate(&mut rng, &seed);
        if input == seed {
            continue;
        }
        if let Ok(m) = SignalMessage::decode(&input) {
            let mut b = b.clone();
            let r = b.decrypt(&m, &mut OsRng);
            // Only a mutation that leaves the authenticated bytes intact may decrypt.
            if r.is_ok() {
                assert_eq!(m.serialized()[..seed.len() - 8], seed[..seed.len() - 8]);
            }
        }
    }
}
