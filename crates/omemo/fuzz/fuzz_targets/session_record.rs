#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut r) = tern_omemo::session::SessionRecord::from_bytes(data) {
        let _ = r.encrypt(b"fuzz");
        let _ = r.to_bytes();
    }
});
