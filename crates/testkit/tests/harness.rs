//! Integration tests of the harness against real servers.

use std::time::Instant;
use tern_testkit::*;

#[test]
fn prosody_starts() -> Result<()> {
    let t = Instant::now();
    let mut p = Prosody::start()?;
    eprintln!("prosody started in {:?}, turn running {}", t.elapsed(), p.turn_running());
    let t = Instant::now();
    let (u, pw) = p.create_user()?;
    eprintln!("user {u} {pw} in {:?}", t.elapsed());
    let t = Instant::now();
    p.restart()?;
    eprintln!("restart in {:?}", t.elapsed());
    eprintln!("{}", p.log());
    Ok(())
}
