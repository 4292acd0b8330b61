#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(uri) = tern_omemo::TrustUri::parse(s) {
            let again = tern_omemo::TrustUri::parse(&uri.to_uri()).ok();
            assert_eq!(again.as_ref(), Some(&uri));
        }
        let _ = tern_omemo::trust::parse_fingerprint(s);
    }
});
