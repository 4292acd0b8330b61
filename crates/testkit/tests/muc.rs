//! Group chat (XEP-0045) with the slixmpp peer against real Prosody and
//! ejabberd servers: proves the room features and peer commands the
//! engine's group chat tests rely on.

use std::time::Duration;

use serde_json::Value;
use tern_testkit::{Ejabberd, ModerationVersion, PeerOptions, Prosody, RoomConfig, SlixmppPeer};

const WAIT: Duration = Duration::from_secs(20);

/// What the scenarios need from either server.
struct Server {
    domain: String,
    muc_domain: String,
    c2s_port: u16,
    prosody: Option<Prosody>,
    ejabberd: Option<Ejabberd>,
}

impl Server {
    fn prosody() -> Server {
        let p = Prosody::start().expect("start Prosody");
        Server {
            domain: p.domain().to_owned(),
            muc_domain: p.muc_domain(),
            c2s_port: p.c2s_port(),
            prosody: Some(p),
            ejabberd: None,
        }
    }

    fn ejabberd() -> Server {
        let e = Ejabberd::start().expect("start ejabberd");
        Server {
            domain: e.domain().to_owned(),
            muc_domain: e.muc_domain(),
            c2s_port: e.c2s_port(),
            prosody: None,
            ejabberd: Some(e),
        }
    }

    fn is_prosody(&self) -> bool {
        self.prosody.is_some()
    }

    fn peer(&self) -> SlixmppPeer {
        let (user, password) = match (&self.prosody, &self.ejabberd) {
            (Some(p), _) => p.create_user(),
            (_, Some(e)) => e.create_user(),
            _ => unreachable!("a server runs"),
        }
        .expect("create user");
        let opts = PeerOptions::new(
            format!("{user}@{}", self.domain),
            password,
            "127.0.0.1",
            self.c2s_port,
        );
        SlixmppPeer::start(opts).expect("start peer")
    }

    fn room(&self, name: &str) -> String {
        format!("{name}@{}", self.muc_domain)
    }

    fn log(&self) -> String {
        match (&self.prosody, &self.ejabberd) {
            (Some(p), _) => p.log(),
            (_, Some(e)) => e.log(),
            _ => String::new(),
        }
    }
}

fn wait(peer: &SlixmppPeer, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    peer.wait_for(WAIT, pred)
        .unwrap_or_else(|err| panic!("{what}: {err:#}"))
}

fn is(e: &Value, name: &str) -> bool {
    e["event"] == name
}

fn muc_presence(e: &Value, room: &str, nick: &str) -> bool {
    is(e, "muc_presence") && e["room"] == room && e["nick"] == nick
}

fn has_code(e: &Value, code: u64) -> bool {
    e["codes"]
        .as_array()
        .is_some_and(|codes| codes.iter().any(|c| c == code))
}

/// Create, join, messages with stanza-ids, self-ping, private messages,
/// nickname, subject, voice, kick, ban, archive, moderation (Prosody),
/// destroy.
fn rooms_messages_and_admin(server: &Server) {
    let alice = server.peer();
    let bob = server.peer();
    let room = server.room("lounge");

    let created = alice
        .muc_create(
            &room,
            "alice",
            &RoomConfig {
                non_anonymous: true,
                ..RoomConfig::default()
            },
        )
        .expect("create the room");
    assert_eq!(created["new"], true, "{created}");
    let joined = bob.muc_join(&room, "bob").expect("bob joins");
    assert_eq!(joined["role"], "participant", "{joined}");
    assert_eq!(joined["affiliation"], "none", "{joined}");
    assert!(has_code(&joined, 110), "self-presence: {joined}");
    // Bob sees the owner, the owner sees Bob with his real JID.
    let owner = wait(&bob, "the owner's presence", |e| {
        muc_presence(e, &room, "alice")
    });
    assert_eq!(owner["affiliation"], "owner");
    assert_eq!(owner["role"], "moderator");
    let seen = wait(&alice, "bob's presence", |e| muc_presence(e, &room, "bob"));
    assert_eq!(
        seen["jid"].as_str().map(|j| j.split('/').next()),
        Some(Some(bob.bare_jid())),
        "{seen}"
    );
    if server.is_prosody() {
        // XEP-0421, built into Prosody 0.12.
        assert!(joined["occupant_id"].is_string(), "{joined}");
        assert!(seen["occupant_id"].is_string(), "{seen}");
    }

    // XEP-0410 self-ping.
    let ping = bob
        .iq(
            &format!("<iq type='get' to='{room}/bob'><ping xmlns='urn:xmpp:ping'/></iq>"),
            WAIT,
        )
        .expect("self-ping");
    assert_eq!(ping["type"], "result", "{ping}");

    // Group chat messages carry the room's stanza-id; the sender gets the
    // reflection with the same id.
    alice.muc_send(&room, "hello room", "m-1").expect("send");
    let got = wait(&bob, "the group chat message", |e| {
        is(e, "message") && e["id"] == "m-1"
    });
    assert_eq!(got["type"], "groupchat");
    assert_eq!(got["from"], format!("{room}/alice"));
    assert_eq!(got["body"], "hello room");
    let stanza_id = got["stanza_id"].as_str().expect("stanza-id by the room");
    let echo = wait(&alice, "the reflection", |e| {
        is(e, "message") && e["id"] == "m-1"
    });
    assert_eq!(echo["stanza_id"], stanza_id);
    if server.is_prosody() {
        assert_eq!(got["occupant_id"], echo["occupant_id"]);
        assert!(got["occupant_id"].is_string(), "{got}");
    }

    // A private message through the room.
    bob.muc_pm(&room, "alice", "psst", "pm-1").expect("pm");
    let pm = wait(&alice, "the private message", |e| {
        is(e, "message") && e["id"] == "pm-1"
    });
    assert_eq!(pm["type"], "chat");
    assert_eq!(pm["from"], format!("{room}/bob"));
    assert_eq!(pm["body"], "psst");

    // Nickname change: 303 with the new nick, then the new presence.
    bob.muc_nick(&room, "robert").expect("nick");
    let gone = wait(&alice, "the nick change", |e| {
        muc_presence(e, &room, "bob") && e["type"] == "unavailable"
    });
    assert!(has_code(&gone, 303), "{gone}");
    assert_eq!(gone["new_nick"], "robert");
    wait(&alice, "the new nick", |e| {
        muc_presence(e, &room, "robert") && e["type"] == "available"
    });
    let own = wait(&bob, "own new nick", |e| {
        muc_presence(e, &room, "robert") && e["self"] == true && e["type"] == "available"
    });
    assert!(has_code(&own, 110), "{own}");

    // Subject.
    alice
        .muc_subject(&room, "Plans for today")
        .expect("subject");
    let subject = wait(&bob, "the subject", |e| {
        is(e, "muc_subject") && e["subject"] == "Plans for today"
    });
    assert_eq!(subject["room"], room);
    assert_eq!(subject["from"], format!("{room}/alice"));

    // Voice: visitor and back.
    alice
        .muc_role(&room, "robert", "visitor", Some("quiet please"))
        .expect("revoke voice");
    let muted = wait(&bob, "voice revoked", |e| {
        muc_presence(e, &room, "robert") && e["self"] == true && e["role"] == "visitor"
    });
    assert_eq!(muted["type"], "available");
    alice
        .muc_role(&room, "robert", "participant", None)
        .expect("grant voice");
    wait(&bob, "voice granted", |e| {
        muc_presence(e, &room, "robert") && e["self"] == true && e["role"] == "participant"
    });

    // The room's archive has the message.
    let history = alice.muc_history(&room, 10).expect("archive query");
    let archived = history
        .iter()
        .find(|m| m["body"] == "hello room")
        .unwrap_or_else(|| panic!("archived message in {history:?}"));
    assert_eq!(archived["stanza_id"], stanza_id);
    assert_eq!(archived["from"], format!("{room}/alice"));

    if server.is_prosody() {
        moderation(&alice, &bob, &room, stanza_id);
    }

    // Kick (307), then ban (301); a banned user cannot come back.
    alice
        .muc_role(&room, "robert", "none", Some("out"))
        .expect("kick");
    let kicked = wait(&bob, "kicked", |e| {
        muc_presence(e, &room, "robert") && e["self"] == true && e["type"] == "unavailable"
    });
    assert!(has_code(&kicked, 307), "{kicked}");
    bob.muc_join(&room, "bob").expect("rejoin after a kick");
    alice
        .muc_affiliation(&room, bob.bare_jid(), "outcast", Some("for good"))
        .expect("ban");
    let banned = wait(&bob, "banned", |e| {
        muc_presence(e, &room, "bob") && e["self"] == true && has_code(e, 301)
    });
    assert_eq!(banned["type"], "unavailable");
    assert_eq!(banned["affiliation"], "outcast");
    if server.is_prosody() {
        // ejabberd 23.01 lets the banned user back in here: in a moderated
        // room it restores the role stored by the voice changes above.
        let refused = bob
            .muc_join(&room, "bob")
            .expect_err("a banned user is refused");
        assert!(format!("{refused:#}").contains("forbidden"), "{refused:#}");
    }

    // The owner destroys the room.
    alice.muc_destroy(&room, Some("done")).expect("destroy");
    let closed = wait(&alice, "destroyed", |e| {
        muc_presence(e, &room, "alice") && e["type"] == "unavailable"
    });
    assert_eq!(closed["self"], true, "{closed}");
    assert_eq!(closed["destroyed"], true, "{closed}");
    assert_eq!(closed["destroy_reason"], "done", "{closed}");
}

/// XEP-0425 version 0 on Prosody's mod_muc_moderation.
fn moderation(alice: &SlixmppPeer, bob: &SlixmppPeer, room: &str, stanza_id: &str) {
    let disco = bob
        .iq(
            &format!(
                "<iq type='get' to='{room}'>\
                 <query xmlns='http://jabber.org/protocol/disco#info'/></iq>"
            ),
            WAIT,
        )
        .expect("room disco#info");
    let xml = disco["xml"].as_str().unwrap_or_default();
    assert!(xml.contains("urn:xmpp:message-moderate:0"), "{xml}");
    assert!(xml.contains("urn:xmpp:occupant-id:0"), "{xml}");
    assert!(xml.contains("urn:xmpp:mam:2"), "{xml}");

    // A participant may not moderate.
    let refused = bob
        .muc_moderate(room, stanza_id, None, ModerationVersion::V0)
        .expect_err("participants may not moderate");
    assert!(format!("{refused:#}").contains("forbidden"), "{refused:#}");

    alice
        .muc_moderate(room, stanza_id, Some("spam"), ModerationVersion::V0)
        .expect("moderate");
    let moderated = wait(bob, "the moderation announcement", |e| {
        is(e, "muc_moderated") && e["stanza_id"] == stanza_id
    });
    assert_eq!(moderated["room"], room);
    assert_eq!(moderated["ns"], "0");
    assert_eq!(moderated["reason"], "spam");
    assert_eq!(moderated["by"], format!("{room}/alice"));
    // The archive keeps a tombstone instead of the body.
    let history = alice.muc_history(room, 10).expect("archive query");
    assert!(
        history.iter().all(|m| m["body"] != "hello room"),
        "moderated body still archived: {history:?}"
    );
}

/// XEP-0402 bookmarks: add, list, replace, remove.
fn bookmarks(server: &Server) {
    let alice = server.peer();
    assert_eq!(
        alice.bookmarks().expect("empty bookmarks"),
        Vec::<Value>::new()
    );
    let lounge = server.room("lounge");
    let kitchen = server.room("kitchen");
    alice
        .bookmark_add(&lounge, Some("The Lounge"), Some("al"), true)
        .expect("add");
    alice
        .bookmark_add(&kitchen, None, None, false)
        .expect("add");
    let mut items = alice.bookmarks().expect("bookmarks");
    items.sort_by_key(|i| i["room"].as_str().map(str::to_owned));
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0]["room"], kitchen);
    assert_eq!(items[0]["autojoin"], false);
    assert!(items[0]["name"].is_null() && items[0]["nick"].is_null());
    assert_eq!(items[1]["room"], lounge);
    assert_eq!(items[1]["name"], "The Lounge");
    assert_eq!(items[1]["nick"], "al");
    assert_eq!(items[1]["autojoin"], true);

    alice
        .bookmark_add(&lounge, Some("Renamed"), None, false)
        .expect("replace");
    alice.bookmark_remove(&kitchen).expect("remove");
    let items = alice.bookmarks().expect("bookmarks");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["room"], lounge);
    assert_eq!(items[0]["name"], "Renamed");
    assert_eq!(items[0]["autojoin"], false);
}

/// Direct (XEP-0249) and mediated (XEP-0045) invitations.
fn invitations(server: &Server) {
    let alice = server.peer();
    let carol = server.peer();
    let room = server.room("party");
    alice
        .muc_create(&room, "alice", &RoomConfig::default())
        .expect("create");

    alice
        .invite_direct(carol.bare_jid(), &room, Some("come over"))
        .expect("direct");
    let direct = wait(&carol, "the direct invitation", |e| {
        is(e, "invitation") && e["direct"] == true
    });
    assert_eq!(direct["room"], room);
    assert_eq!(direct["reason"], "come over");
    assert_eq!(direct["from"], alice.jid());

    alice
        .invite_mediated(&room, carol.bare_jid(), Some("through the room"))
        .expect("mediated");
    let mediated = wait(&carol, "the mediated invitation", |e| {
        is(e, "invitation") && e["direct"] == false
    });
    assert_eq!(mediated["room"], room);
    assert_eq!(mediated["reason"], "through the room");
    // The inviter: the real JID, or (Prosody, semi-anonymous room) the
    // occupant JID.
    let inviter = mediated["from"].as_str().unwrap_or_default();
    assert!(
        inviter.split('/').next() == Some(alice.bare_jid()) || inviter == format!("{room}/alice"),
        "{mediated}"
    );
    carol.muc_join(&room, "carol").expect("carol accepts");
}

#[test]
fn group_chat_on_prosody() {
    let server = Server::prosody();
    rooms_messages_and_admin(&server);
    bookmarks(&server);
    invitations(&server);
    // The community module loaded (the room's disco#info says so too).
    let log = server.log();
    assert!(
        !log.contains("Unable to load module"),
        "a module failed to load:\n{log}"
    );
}

#[test]
fn group_chat_on_ejabberd() {
    let server = Server::ejabberd();
    rooms_messages_and_admin(&server);
    bookmarks(&server);
    invitations(&server);
}
