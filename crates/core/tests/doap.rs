//! The DOAP file at the repository root lists exactly what the engine
//! declares in `SUPPORTED_XEPS`, with the same status.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

#[test]
fn doap_matches_supported_xeps() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tern.doap");
    let doap = std::fs::read_to_string(path).unwrap();
    let mut listed = BTreeMap::new();
    for block in doap.split("<xmpp:SupportedXep>").skip(1) {
        let xep = block
            .split("extensions/xep-")
            .nth(1)
            .and_then(|s| s.get(..4))
            .expect("xep number");
        let status = block
            .split("<xmpp:status>")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("status");
        assert!(
            listed.insert(xep.to_string(), status.to_string()).is_none(),
            "XEP-{xep} listed twice"
        );
    }
    let declared: BTreeMap<String, String> = tern_core::SUPPORTED_XEPS
        .iter()
        .map(|(x, s)| (x.to_string(), s.to_string()))
        .collect();
    assert_eq!(listed, declared, "tern.doap and SUPPORTED_XEPS disagree");
}
