#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = tern_omemo::message::SignalMessage::decode(data) {
        assert_eq!(m.serialized(), data);
    }
});
