#![no_main]
use libfuzzer_sys::fuzz_target;
use xmpp_parsers::minidom::Element;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(el) = text.parse::<Element>() else { return };
    let Ok(enc) = tern_omemo::legacy_omemo::Encrypted::try_from(el) else { return };
    for key in &enc.header.keys {
        let _ = tern_omemo::parse_key(key);
    }
    if let (Some(k), Some(p)) = (enc.header.keys.first(), &enc.payload) {
        let _ = tern_omemo::payload::open(&k.data, &enc.header.iv.data, &p.data);
    }
});
