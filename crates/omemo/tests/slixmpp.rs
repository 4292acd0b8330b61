//! OMEMO 0.3 interop with python-oldmemo (slixmpp-omemo 2.2) over a real Prosody on loopback.
//!
//! The slixmpp peer (tern-testkit's `SlixmppPeer` in OMEMO mode, blind trust) decrypts every
//! OMEMO message it gets, reports it, and echoes the text back encrypted. The Tern side is a
//! tokio-xmpp session driving `tern_omemo::Omemo` directly: it publishes its device list and
//! bundle over PEP, fetches the peer's, and must decrypt every echo to the exact text sent.
//!
//! Needs Prosody (installed with apt on first use) and the peer's virtualenv (PyPI on first
//! use); both are set up by tern-testkit.

#[path = "slixmpp/support.rs"]
mod support;

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::{ensure, Context, Result};
use tern_omemo::keys::PublicKey;
use tern_omemo::{BareJid, Event, Trust};
use tern_testkit::{PeerOptions, Prosody, SlixmppPeer};

use support::{bare_jid, ratchet_message, Incoming, Tern};

/// Starts an OMEMO slixmpp peer as a fresh user of `server`.
fn start_bot(server: &Prosody) -> Result<Arc<SlixmppPeer>> {
    let (user, password) = server.create_user()?;
    let options = PeerOptions::new(
        format!("{user}@{}", server.domain()),
        password,
        "127.0.0.1",
        server.c2s_port(),
    );
    tokio::task::block_in_place(|| SlixmppPeer::start_omemo(options)).map(Arc::new)
}

/// Sends `text` to the bot, checks that the bot decrypted exactly it from this device, and
/// that Tern decrypts the bot's echo to exactly it. Returns the ratchet keys of Tern's message
/// and of the echo.
async fn round_trip(
    tern: &mut Tern,
    bot: &Arc<SlixmppPeer>,
    bot_jid: &BareJid,
    bot_device: u32,
    id: &str,
    text: &str,
    expect_pre_key: bool,
) -> Result<(PublicKey, PublicKey)> {
    let sent = tern.send_text(bot_jid, id, text).await?;
    let key = sent
        .header
        .keys
        .iter()
        .find(|k| k.rid == bot_device)
        .context("no key for the bot's device")?;
    ensure!(
        key.prekey == expect_pre_key,
        "{id}: pre-key message {}, expected {expect_pre_key}",
        key.prekey
    );
    let ours = ratchet_message(key)?.ratchet_key;

    let decrypted = tern.peer_decrypted(bot, id).await?;
    ensure!(decrypted["body"] == text, "the bot decrypted {decrypted}");
    ensure!(
        decrypted["device_id"] == tern.device_id(),
        "the bot saw another sender device: {decrypted}"
    );

    let (echo, incoming) = tern.receive_text(bot_jid).await?;
    ensure!(echo == text, "{id}: echo decrypted to {echo:?}");
    ensure!(incoming.encrypted.header.sid == bot_device);
    let echo_key = incoming.key_for(tern.device_id())?;
    ensure!(!echo_key.prekey, "{id}: the echo is a pre-key message");
    Ok((ours, ratchet_message(echo_key)?.ratchet_key))
}

/// Tern starts the session (first pre-key message), then: a reply, several alternating rounds
/// (each a Diffie-Hellman ratchet step on both sides), three messages delivered to the bot out
/// of order, and three bot messages decrypted by Tern out of order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tern_starts_a_session_with_slixmpp_omemo() -> Result<()> {
    let server = Prosody::start()?;
    let mut tern = Tern::start(&server)
        .await
        .with_context(|| format!("Prosody log:\n{}", server.log()))?;
    let bot = start_bot(&server)?;
    with_peer_log(&bot, tern_starts(&mut tern, &bot).await)
        .with_context(|| format!("Prosody log:\n{}", server.log()))
}

/// Adds the end of the peer's log to an error.
fn with_peer_log(peer: &SlixmppPeer, result: Result<()>) -> Result<()> {
    result.with_context(|| {
        let events: Vec<String> = peer.clear_events().iter().map(|e| e.to_string()).collect();
        format!(
            "slixmpp peer events not yet consumed:\n{}\nslixmpp peer log (last lines):\n{}",
            events.join("\n"),
            peer.stderr_tail()
        )
    })
}

async fn tern_starts(tern: &mut Tern, bot: &Arc<SlixmppPeer>) -> Result<()> {
    let bot_jid = bare_jid(bot)?;
    let bot_device = bot.omemo_device_id().context("the bot has no device id")?;

    let devices = tern.fetch_device_list(&bot_jid).await?;
    ensure!(devices == [bot_device], "bot device list: {devices:?}");
    tern.fetch_bundle(&bot_jid, bot_device).await?;

    // First message: a pre-key message; the bot builds its session from it.
    let mut our_keys = Vec::new();
    let mut bot_keys = Vec::new();
    let (ours, theirs) = round_trip(
        tern,
        bot,
        &bot_jid,
        bot_device,
        "t-1",
        "Hello from Tern 🦀: the first, pre-key, message",
        true,
    )
    .await?;
    our_keys.push(ours);
    bot_keys.push(theirs);

    // The echo acknowledged the session: plain ratchet messages from now on, and every round
    // trip moves both ratchets to a new key.
    for round in 2..=6 {
        let text = format!("round {round}: réponse n°{round} ✓");
        let (ours, theirs) = round_trip(
            tern,
            bot,
            &bot_jid,
            bot_device,
            &format!("t-{round}"),
            &text,
            false,
        )
        .await?;
        our_keys.push(ours);
        bot_keys.push(theirs);
    }
    let distinct: HashSet<_> = our_keys.iter().collect();
    ensure!(
        distinct.len() == our_keys.len(),
        "Tern's ratchet did not step every round"
    );
    let distinct: HashSet<_> = bot_keys.iter().collect();
    ensure!(
        distinct.len() == bot_keys.len(),
        "the bot's ratchet did not step every round"
    );

    // Out of order towards the bot: three messages of one chain, delivered 3, 1, 2.
    let texts = [
        "out of order: one",
        "out of order: two",
        "out of order: three",
    ];
    let mut elements = Vec::new();
    for text in texts {
        elements.push(tern.encrypt(&bot_jid, text).await?);
    }
    let mut chain = Vec::new();
    for element in &elements {
        let key = element
            .header
            .keys
            .iter()
            .find(|k| k.rid == bot_device)
            .context("no key for the bot's device")?;
        ensure!(!key.prekey);
        chain.push(ratchet_message(key)?);
    }
    ensure!(
        chain.iter().all(|m| m.ratchet_key == chain[0].ratchet_key)
            && chain[1].counter == chain[0].counter + 1
            && chain[2].counter == chain[1].counter + 1,
        "not one chain: {chain:?}"
    );
    let order = [2, 0, 1];
    for i in order {
        let id = format!("ooo-{i}");
        tern.send(&bot_jid, &id, elements[i].clone()).await?;
    }
    for i in order {
        let decrypted = tern.peer_decrypted(bot, &format!("ooo-{i}")).await?;
        ensure!(
            decrypted["body"] == texts[i],
            "the bot decrypted {decrypted}"
        );
    }
    // The bot handles messages in arrival order, so its echoes come 3, 1, 2 too.
    for i in order {
        let (echo, _) = tern.receive_text(&bot_jid).await?;
        ensure!(echo == texts[i], "echo {echo:?}, expected {:?}", texts[i]);
    }

    // Out of order from the bot: three messages of one chain, decrypted 3, 1, 2.
    bot.set_omemo_echo(false)?;
    let texts = [
        "from the bot: one",
        "from the bot: two",
        "from the bot: three",
    ];
    let tern_jid = tern.jid.to_string();
    for (i, text) in texts.iter().enumerate() {
        let id = format!("bot-{i}");
        bot.omemo_send(&tern_jid, text, &id)?;
        tern.peer_sent(bot, &id).await?;
    }
    let mut received: Vec<Option<Incoming>> = vec![None, None, None];
    while received.iter().any(Option::is_none) {
        let incoming = tern.next_encrypted(&bot_jid).await?;
        match (0..3).find(|i| incoming.id.as_deref() == Some(&format!("bot-{i}"))) {
            Some(i) => received[i] = Some(incoming),
            // Anything else (an empty ratchet message) must decrypt as it comes.
            None => {
                tern.decrypt(&incoming).await?;
            }
        }
    }
    let received: Vec<Incoming> = received.into_iter().flatten().collect();
    let mut chain = Vec::new();
    for incoming in &received {
        chain.push(ratchet_message(incoming.key_for(tern.device_id())?)?);
    }
    ensure!(
        chain.iter().all(|m| m.ratchet_key == chain[0].ratchet_key)
            && chain[1].counter == chain[0].counter + 1
            && chain[2].counter == chain[1].counter + 1,
        "not one chain: {chain:?}"
    );
    for i in order {
        let decrypted = tern.decrypt(&received[i]).await?;
        let text = String::from_utf8(decrypted.plaintext.context("no payload")?)?;
        ensure!(
            text == texts[i],
            "decrypted {text:?}, expected {:?}",
            texts[i]
        );
    }

    // The sessions survived all that: one more round trip.
    bot.set_omemo_echo(true)?;
    let (ours, theirs) = round_trip(
        tern,
        bot,
        &bot_jid,
        bot_device,
        "t-last",
        "still in sync after the reordering",
        false,
    )
    .await?;
    ensure!(!our_keys.contains(&ours) && !bot_keys.contains(&theirs));
    Ok(())
}

/// The bot starts the session: its first message is a pre-key message built from Tern's
/// published bundle. Tern decrypts it, answers with an empty key-transport message (as OMEMO
/// asks), republishes its bundle (a one-time pre-key was used), and the conversation goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slixmpp_omemo_starts_a_session_with_tern() -> Result<()> {
    let server = Prosody::start()?;
    let mut tern = Tern::start(&server)
        .await
        .with_context(|| format!("Prosody log:\n{}", server.log()))?;
    let bot = start_bot(&server)?;
    with_peer_log(&bot, slixmpp_starts(&mut tern, &bot).await)
        .with_context(|| format!("Prosody log:\n{}", server.log()))
}

async fn slixmpp_starts(tern: &mut Tern, bot: &Arc<SlixmppPeer>) -> Result<()> {
    let bot_jid = bare_jid(bot)?;
    let bot_device = bot.omemo_device_id().context("the bot has no device id")?;
    let devices = tern.fetch_device_list(&bot_jid).await?;
    ensure!(devices == [bot_device], "bot device list: {devices:?}");

    let text = "Hello Tern, this is slixmpp-omemo 👋";
    bot.omemo_send(&tern.jid.to_string(), text, "p-1")?;
    tern.peer_sent(bot, "p-1").await?;
    let incoming = tern.next_encrypted(&bot_jid).await?;
    ensure!(
        incoming.id.as_deref() == Some("p-1"),
        "got {:?}",
        incoming.id
    );
    ensure!(incoming.encrypted.header.sid == bot_device);
    let first_key = incoming.key_for(tern.device_id())?;
    ensure!(
        first_key.prekey,
        "the bot's first message is not a pre-key message"
    );
    let bot_first_ratchet = ratchet_message(first_key)?.ratchet_key;
    let decrypted = tern.decrypt(&incoming).await?;
    let plaintext = String::from_utf8(decrypted.plaintext.clone().context("no payload")?)?;
    ensure!(plaintext == text, "decrypted {plaintext:?}");
    ensure!(decrypted.sender_device == bot_device);
    ensure!(
        decrypted.trust == Trust::Trusted,
        "trust {:?}",
        decrypted.trust
    );
    ensure!(
        decrypted.should_answer,
        "a pre-key message asks for an answer"
    );
    ensure!(
        decrypted
            .events
            .iter()
            .any(|e| matches!(e, Event::SessionEstablished { device, .. } if device.device_id == bot_device)),
        "events: {:?}",
        decrypted.events
    );
    if decrypted.events.contains(&Event::BundleChanged) {
        tern.publish_bundle().await?;
    }

    // The empty answer that completes the key exchange: the bot must accept it.
    let answer = tern
        .omemo
        .encrypt_key_transport(std::slice::from_ref(&bot_jid))
        .await?;
    ensure!(answer.recipients.len() == 1, "{:?}", answer.recipients);
    tern.send(&bot_jid, "kt-1", answer.element).await?;
    let empty = tern.peer_decrypted(bot, "kt-1").await?;
    ensure!(empty["body"].is_null(), "the bot decrypted {empty}");

    // Tern replies inside the bot's session (no pre-key message of its own) and decrypts the
    // echo, which the bot sends from a new ratchet key.
    let mut bot_keys = vec![bot_first_ratchet];
    for round in 1..=3 {
        let id = format!("r-{round}");
        let reply = format!("reply {round} from Tern, ⚙ in Rust");
        let sent = tern.send_text(&bot_jid, &id, &reply).await?;
        let key = sent
            .header
            .keys
            .iter()
            .find(|k| k.rid == bot_device)
            .context("no key for the bot's device")?;
        ensure!(!key.prekey, "{id}: Tern answered with a pre-key message");
        let decrypted = tern.peer_decrypted(bot, &id).await?;
        ensure!(
            decrypted["body"] == reply.as_str(),
            "the bot decrypted {decrypted}"
        );
        let (echo, incoming) = tern.receive_text(&bot_jid).await?;
        ensure!(echo == reply, "echo decrypted to {echo:?}");
        let key = incoming.key_for(tern.device_id())?;
        ensure!(!key.prekey, "the bot still sends pre-key messages");
        bot_keys.push(ratchet_message(key)?.ratchet_key);
    }
    let distinct: HashSet<_> = bot_keys.iter().collect();
    ensure!(
        distinct.len() == bot_keys.len(),
        "the bot's ratchet did not step every round"
    );
    Ok(())
}
