//! The TypeScript the UI uses for commands, events and their types is
//! generated from the shell's definitions; this test fails when the
//! committed file is stale. `TERN_BLESS=1` writes it anew.

#![allow(clippy::unwrap_used, missing_docs)]

use std::path::PathBuf;

#[test]
fn generated_bindings_are_current() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../ui/src/lib/generated/bindings.ts");
    let fresh = tern_app::typescript().unwrap();
    if std::env::var_os("TERN_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "ui/src/lib/generated/bindings.ts is stale: the commands or the types \
         that cross to the UI changed. Run `TERN_BLESS=1 cargo test -p tern-app --test bindings` \
         and commit the file."
    );
}
