#![no_main]
use libfuzzer_sys::fuzz_target;
use xmpp_parsers::minidom::Element;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(el) = text.parse::<Element>() else { return };
    let Ok(bundle) = tern_omemo::legacy_omemo::Bundle::try_from(el) else { return };
    if let Ok(parsed) = tern_omemo::parse_bundle(&bundle, &mut rand::rngs::OsRng) {
        let me = tern_omemo::keys::KeyPair::generate(&mut rand::rngs::OsRng);
        let mut r = tern_omemo::session::SessionRecord::new();
        let _ = r.process_bundle(&parsed, &me, 1, &mut rand::rngs::OsRng);
    }
});
