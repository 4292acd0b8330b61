//! Starts a Prosody on loopback with a test CA and one user, for the
//! end-to-end test and `scripts/run --demo`. Prints one JSON line:
//! `{"domain", "host", "port", "jid", "password", "ca_pem"}` (`ca_pem` is a
//! file to pass as `TERN_EXTRA_ROOT_PEM`), then runs until stdin closes.
//!
//! With `--peer`, a second user is signed in with an independent client
//! (slixmpp, [`SlixmppPeer`]); the first line also has `peer_jid`. Each
//! further stdin line is a command for that peer (see
//! `crates/testkit/peers/peer.py`), and everything it sees is printed as
//! `{"peer_event": ..., "peer": 0}` lines. With `--peers=N`, N such users
//! and clients: `peer_jids` lists them, a command with `"peer": i` goes to
//! the i-th (the first without it), and events carry their peer's index.
//!
//! With `--omemo`, the first peer runs OMEMO (slixmpp-omemo, blind trust;
//! [`SlixmppPeer::start_omemo`]) and the first line also has
//! `peer_omemo_device` and `peer_omemo_fingerprint` (as python-omemo shows
//! it).
//!
//! With `--call-peer`, one more user is signed in with an independent
//! voice call peer (slixmpp + aiortc, [`CallPeer`]); the first line also
//! has `call_peer_jid`. A stdin line with `"call_peer": true` is a command
//! for it (see `crates/testkit/peers/callpeer.py`; e.g. `{"call_peer":
//! true, "cmd": "call", "to": JID, "tone_hz": 880}`), and everything it
//! reports is printed as `{"call_event": ...}` lines.
//!
//! With `--big-room=N` (for `scripts/bench approoms`), Prosody also has
//! the admin shell and the bots component ([`ProsodyOptions::big_rooms`]),
//! and the group chat `big@conference.<domain>` is filled server-side with
//! N occupants `bot1` .. `botN` ([`BigRoom::fill`]); the first line also
//! has `room` (its JID), `room_occupants` and `fill_s`. The stdin line
//! `{"cmd": "flood", "rate": R, "seconds": S}` then makes the room send R
//! presence changes a second for S seconds to every occupant that is not a
//! bot ([`BigRoom::flood_in_server`]); it answers at once with
//! `{"flood": {"changes", "recipients", "t"}}` (`t`: wall-clock seconds).
//!
//! With `--demo` (for `scripts/run --demo`), the account is `you@localhost`
//! and `juliet@localhost` is already a contact: a scripted slixmpp client
//! with a nickname and a status that greets the user and answers what they
//! write.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tern_testkit::{BigRoom, CallPeer, PeerOptions, Prosody, ProsodyOptions, SlixmppPeer, TestCa};

fn print(line: &serde_json::Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

/// What the demo contact answers to `body`.
fn demo_answer(body: &str) -> String {
    let lower = body.to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
    if has(&["hello", "hi", "hey", "bonjour", "hallo"]) {
        "Hi! I'm Juliet, a scripted contact on this demo server. Try *bold*, _italic_ or `code`, reply to a message, react to one, or press ↑ to edit your last message."
            .into()
    } else if has(&["who", "what are you", "bot"]) {
        "I'm a small script running on the same computer as this demo server. Nothing you write here leaves your machine."
            .into()
    } else if has(&["bye", "ciao", "goodbye"]) {
        "Goodbye! Close the window to end the demo; its server and data go with it.".into()
    } else if let Some(action) = body.strip_prefix("/me ") {
        format!(
            "/me smiles back at you ({})",
            action.chars().take(60).collect::<String>()
        )
    } else {
        format!(
            "You said: “{}”. I'm only a script, but every message here went through a real XMPP server, with delivery receipts and read markers.",
            body.chars().take(200).collect::<String>()
        )
    }
}

/// Makes `you` and `juliet` contacts of each other, with the help of a
/// short-lived client for `you`.
fn befriend(prosody: &Prosody, you: (&str, &str), bot: &SlixmppPeer) -> anyhow::Result<()> {
    let me = SlixmppPeer::start(PeerOptions::new(
        you.0,
        you.1,
        "127.0.0.1",
        prosody.c2s_port(),
    ))?;
    let t = Duration::from_secs(20);
    me.send(serde_json::json!({"cmd": "subscribe", "to": bot.bare_jid()}))?;
    bot.wait_for(t, |e| e["event"] == "subscribe_request")?;
    bot.send(serde_json::json!({"cmd": "approve", "to": you.0}))?;
    bot.send(serde_json::json!({"cmd": "subscribe", "to": you.0}))?;
    me.wait_for(t, |e| e["event"] == "subscribe_request")?;
    me.send(serde_json::json!({"cmd": "approve", "to": bot.bare_jid()}))?;
    // Both directions are done once each side sees the other's presence.
    me.wait_for(t, |e| e["event"] == "presence" && e["type"] == "available")?;
    bot.wait_for(t, |e| e["event"] == "presence" && e["type"] == "available")?;
    drop(me);
    Ok(())
}

fn run_demo(prosody: Prosody) -> anyhow::Result<()> {
    let domain = prosody.domain().to_string();
    let you = format!("you@{domain}");
    let password = format!("demo-{:08x}", std::process::id());
    prosody.create_user_named("you", &password)?;
    prosody.create_user_named("juliet", "juliet-demo")?;
    let bot = SlixmppPeer::start(PeerOptions::new(
        format!("juliet@{domain}"),
        "juliet-demo",
        "127.0.0.1",
        prosody.c2s_port(),
    ))?;
    befriend(&prosody, (&you, &password), &bot)?;
    bot.send(
        serde_json::json!({"cmd": "presence", "show": "chat", "status": "Write me, I answer"}),
    )?;
    bot.send(serde_json::json!({"cmd": "iq", "xml":
        "<iq type='set' id='nick'><pubsub xmlns='http://jabber.org/protocol/pubsub'>\
         <publish node='http://jabber.org/protocol/nick'><item id='current'>\
         <nick xmlns='http://jabber.org/protocol/nick'>Juliet (demo)</nick></item></publish>\
         </pubsub></iq>"}))?;
    bot.send_message(
        &you,
        "Welcome to Tern! This is a demo server on your own computer. Write me something and I'll answer.",
        "demo-welcome",
    )?;
    let ca_pem = prosody.dir().join("tern-test-ca.pem");
    std::fs::write(&ca_pem, TestCa::global().ca_cert_pem())?;
    print(&serde_json::json!({
        "domain": domain,
        "host": "127.0.0.1",
        "port": prosody.c2s_port(),
        "jid": you,
        "password": password,
        "ca_pem": ca_pem,
        "peer_jid": bot.bare_jid(),
    }))?;
    let bot = Arc::new(bot);
    let answering = Arc::clone(&bot);
    std::thread::spawn(move || {
        let mut n = 0u64;
        loop {
            let Ok(event) = answering.next_event(Duration::from_secs(3600)) else {
                std::thread::sleep(Duration::from_millis(200));
                continue;
            };
            let body = event["body"]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_string();
            let from = event["from"].as_str().unwrap_or_default();
            if event["event"] != "message" || body.is_empty() || !from.starts_with("you@") {
                continue;
            }
            if event["replace_id"].is_string() || event["retract_id"].is_string() {
                continue;
            }
            n += 1;
            let to = from.split('/').next().unwrap_or(from).to_string();
            if let Some(id) = event["id"].as_str() {
                let _ = answering.send(serde_json::json!({"cmd": "displayed", "to": to, "id": id}));
            }
            let _ = answering
                .send(serde_json::json!({"cmd": "chatstate", "to": to, "state": "composing"}));
            std::thread::sleep(Duration::from_millis(900));
            let _ = answering.send_message(&to, &demo_answer(&body), &format!("demo-{n}"));
        }
    });
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    drop(bot);
    drop(prosody);
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let peer_count = std::env::args()
        .filter_map(|a| match a.as_str() {
            "--peer" => Some(1),
            _ => a.strip_prefix("--peers=").and_then(|n| n.parse().ok()),
        })
        .max()
        .unwrap_or(0usize);
    let big_room = std::env::args()
        .find_map(|a| a.strip_prefix("--big-room=").map(str::to_owned))
        .map(|n| n.parse::<usize>())
        .transpose()?;
    let prosody = match big_room {
        Some(_) => Prosody::start_with(ProsodyOptions::big_rooms())?,
        None => Prosody::start()?,
    };
    if std::env::args().any(|a| a == "--demo") {
        return run_demo(prosody);
    }
    let (user, password) = prosody.create_user()?;
    let ca_pem = prosody.dir().join("tern-test-ca.pem");
    std::fs::write(&ca_pem, TestCa::global().ca_cert_pem())?;
    let mut info = serde_json::json!({
        "domain": prosody.domain(),
        "host": "127.0.0.1",
        "port": prosody.c2s_port(),
        "jid": format!("{user}@{}", prosody.domain()),
        "password": password,
        "ca_pem": ca_pem,
    });
    let omemo = std::env::args().any(|a| a == "--omemo");
    let mut peer_jids = Vec::new();
    let mut peers = Vec::new();
    for i in 0..peer_count {
        let (name, secret) = prosody.create_user()?;
        let jid = format!("{name}@{}", prosody.domain());
        let opts = PeerOptions::new(&jid, secret, "127.0.0.1", prosody.c2s_port());
        let peer = Arc::new(if omemo && i == 0 {
            SlixmppPeer::start_omemo(opts)?
        } else {
            SlixmppPeer::start(opts)?
        });
        if i == 0 {
            info["peer_jid"] = jid.clone().into();
            if omemo {
                info["peer_omemo_device"] = peer.omemo_device_id().into();
                info["peer_omemo_fingerprint"] = peer.omemo_fingerprint().into();
            }
        }
        peer_jids.push(jid);
        peers.push(peer);
    }
    if peer_count > 0 {
        info["peer_jids"] = peer_jids.into();
    }
    let call_peer = if std::env::args().any(|a| a == "--call-peer") {
        let (name, secret) = prosody.create_user()?;
        let jid = format!("{name}@{}", prosody.domain());
        let opts = PeerOptions::new(&jid, secret, "127.0.0.1", prosody.c2s_port());
        info["call_peer_jid"] = jid.into();
        Some(Arc::new(CallPeer::start(opts)?))
    } else {
        None
    };
    let big = match big_room {
        Some(n) => {
            let room = format!("big@{}", prosody.muc_domain());
            let started = Instant::now();
            let big = BigRoom::fill(&prosody, &room, n)?;
            info["room"] = room.into();
            info["room_occupants"] = n.into();
            info["fill_s"] = started.elapsed().as_secs_f64().into();
            Some(big)
        }
        None => None,
    };
    print(&info)?;
    // Events only after that first line.
    for (i, peer) in peers.iter().enumerate() {
        let events = Arc::clone(peer);
        std::thread::spawn(move || loop {
            match events.next_event(Duration::from_secs(3600)) {
                Ok(event) => {
                    let line = serde_json::json!({ "peer_event": event, "peer": i });
                    if print(&line).is_err() {
                        break;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        });
    }
    if let Some(peer) = &call_peer {
        let events = Arc::clone(peer);
        std::thread::spawn(move || loop {
            match events.next_event(Duration::from_secs(3600)) {
                Ok(event) => {
                    if print(&serde_json::json!({ "call_event": event })).is_err() {
                        break;
                    }
                }
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        });
    }
    // Serve until whoever started us closes our stdin (or dies).
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(mut cmd) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if let (Some(big), Some("flood")) = (&big, cmd["cmd"].as_str()) {
            let rate = cmd["rate"].as_u64().unwrap_or(1_000);
            let seconds = cmd["seconds"].as_f64().unwrap_or(30.0);
            let (changes, recipients) =
                big.flood_in_server(&prosody, u32::try_from(rate)?, seconds)?;
            let t = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
            print(&serde_json::json!({"flood": {
                "changes": changes, "recipients": recipients, "t": t,
            }}))?;
            continue;
        }
        if cmd
            .as_object_mut()
            .and_then(|o| o.remove("call_peer"))
            .is_some_and(|c| c == true)
        {
            if let Some(peer) = &call_peer {
                peer.send(cmd)?;
            }
            continue;
        }
        let index = cmd
            .as_object_mut()
            .and_then(|o| o.remove("peer"))
            .and_then(|i| i.as_u64())
            .unwrap_or(0);
        if let Some(peer) = usize::try_from(index).ok().and_then(|i| peers.get(i)) {
            peer.send(cmd)?;
        }
    }
    drop(big);
    drop(call_peer);
    drop(peers);
    drop(prosody);
    Ok(())
}
