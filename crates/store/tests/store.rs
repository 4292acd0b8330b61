//! Store integration tests: migrations, error cases, accounts.

#![allow(clippy::unwrap_used)]

use tern_store::{RosterRow, Store, StoreError, StoredAccount, SCHEMA_VERSION};

fn account(jid: &str) -> StoredAccount {
    StoredAccount {
        jid: jid.into(),
        enabled: true,
        resource: None,
        host_override: Some("127.0.0.1".into()),
        port_override: Some(5222),
        direct_tls: false,
    }
}

/// A store in a fresh folder, with one account (the folder lives as long
/// as the returned guard).
async fn store_with_account(jid: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    store.upsert_account(&account(jid)).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn migrations_apply_from_empty_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    store
        .upsert_account(&account("a@example.org"))
        .await
        .unwrap();
    store.close().await;
    // Opening again applies nothing and keeps the data.
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    assert_eq!(
        store.accounts().await.unwrap(),
        vec![account("a@example.org")]
    );
}

/// A database written by the previous Tern (schema 4, before failure
/// reasons) opens with its messages intact and gains the new columns.
#[tokio::test]
async fn a_schema_4_database_is_upgraded_with_its_messages() {
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        for sql in [
            include_str!("../migrations/0001_accounts.sql"),
            include_str!("../migrations/0002_messaging.sql"),
            include_str!("../migrations/0003_omemo.sql"),
            include_str!("../migrations/0004_profiles.sql"),
            "PRAGMA user_version = 4",
            "INSERT INTO accounts (jid, created_at) VALUES ('a@example.org', 1)",
            "INSERT INTO messages (account_jid, peer, outgoing, sender, uid, body, timestamp_ms, state)
             VALUES ('a@example.org', 'b@example.net', 1, 'a@example.org', 'u1', 'from before', 1000, 9)",
        ] {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let old = store
        .timeline("a@example.org", "b@example.net", None, 10)
        .await
        .unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].body, "from before");
    assert_eq!(old[0].state, tern_store::MessageState::Failed);
    assert_eq!(
        (old[0].failure.as_deref(), old[0].failure_text.as_deref()),
        (None, None)
    );
}

/// A database of schema 6 keeps its queued messages: each outbox stanza
/// becomes a message intent in the send queue, in the same order; archive
/// ids become ids of the user's own archive; conversations are one-to-one.
#[tokio::test]
async fn a_schema_6_outbox_becomes_the_send_queue() {
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
            .unwrap()
            .filename(&path)
            .create_if_missing(true)
            .foreign_keys(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        for sql in [
            include_str!("../migrations/0001_accounts.sql"),
            include_str!("../migrations/0002_messaging.sql"),
            include_str!("../migrations/0003_omemo.sql"),
            include_str!("../migrations/0004_profiles.sql"),
            include_str!("../migrations/0005_failures.sql"),
            include_str!("../migrations/0006_cleared_history.sql"),
            "PRAGMA user_version = 6",
            "INSERT INTO accounts (jid, created_at) VALUES ('a@example.org', 1)",
            "INSERT INTO messages (id, account_jid, peer, outgoing, sender, uid, msg_id, body, timestamp_ms, state)
             VALUES (7, 'a@example.org', 'b@example.net', 1, 'a@example.org', 'q2', 'q2', 'second', 2000, 0),
                    (3, 'a@example.org', 'b@example.net', 1, 'a@example.org', 'q1', 'q1', 'first', 1000, 0)",
            "INSERT INTO messages (id, account_jid, peer, outgoing, sender, uid, archive_id, body, timestamp_ms, state)
             VALUES (9, 'a@example.org', 'b@example.net', 0, 'b@example.net', 'r1', 'A1', 'archived', 500, 10)",
            "INSERT INTO conversations (account_jid, peer, unread, updated_ms) VALUES ('a@example.org', 'b@example.net', 1, 2000)",
            "INSERT INTO outbox (message_id, account_jid, stanza, created_ms) VALUES
                (7, 'a@example.org', '<message id=''q2''/>', 20),
                (3, 'a@example.org', '<message id=''q1''/>', 10)",
        ] {
            sqlx::raw_sql(sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
    }
    let store = Store::open(&path).await.unwrap();
    assert_eq!(store.schema_version().await.unwrap(), SCHEMA_VERSION);
    let queue = store.outbox("a@example.org").await.unwrap();
    assert_eq!(
        queue
            .iter()
            .map(|e| (e.message_id, e.intent.as_str()))
            .collect::<Vec<_>>(),
        vec![(3, r#"{"type":"message"}"#), (7, r#"{"type":"message"}"#)],
        "every queued stanza is a message intent, oldest first"
    );
    let conv = store
        .conversation("a@example.org", "b@example.net")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.kind, tern_store::ConversationKind::Chat);
    assert_eq!(conv.unread, 1);
    // The archive id is now the user's own archive's: the same id from
    // there is a duplicate, from a room's archive it is another message.
    let mut again = msg("other", tern_store::Direction::Incoming, 500, "archived");
    again.archive_id = Some("A1".into());
    again.archive_by = Some("a@example.org".into());
    assert!(matches!(
        store.insert_message(&again, None, true).await.unwrap(),
        tern_store::Stored::Duplicate(m) if m.id == 9
    ));
    again.archive_by = Some("room@muc.example.net".into());
    assert!(matches!(
        store.insert_message(&again, None, true).await.unwrap(),
        tern_store::Stored::Inserted(_)
    ));
}

/// One commit applies a whole list in one transaction, and a change finds
/// a message inserted earlier in the same list.
#[tokio::test]
async fn a_list_of_changes_commits_together() {
    use tern_store::{Change, Direction, MessageState};
    let (_dir, store) = store_with_account("a@example.org").await;
    let a = "a@example.org".to_string();
    let b = "b@example.net".to_string();
    let mut mine = msg("m1", Direction::Outgoing, 1000, "hello");
    mine.state = MessageState::Acked;
    let changes = vec![
        Change::Insert {
            message: msg("t1", Direction::Incoming, 900, "typo"),
            count_unread: true,
        },
        Change::Insert {
            message: mine,
            count_unread: true,
        },
        Change::Correct {
            account: a.clone(),
            peer: b.clone(),
            reference: "t1".into(),
            direction: Direction::Incoming,
            occupant: None,
            body: "fixed".into(),
        },
        Change::Correct {
            account: a.clone(),
            peer: b.clone(),
            reference: "m1".into(),
            direction: Direction::Incoming,
            occupant: None,
            body: "nobody edits others' words".into(),
        },
        Change::React {
            account: a.clone(),
            peer: b.clone(),
            reference: "id-m1".into(),
            reactor: b.clone(),
            emojis: vec!["👍".into()],
        },
        Change::Advance {
            account: a.clone(),
            peer: b.clone(),
            reference: "id-m1".into(),
            state: MessageState::Read,
        },
        Change::Insert {
            message: msg("t1", Direction::Incoming, 900, "typo"),
            count_unread: true,
        },
    ];
    let done = store.commit(&changes).await.unwrap();
    assert_eq!((done.inserted, done.duplicates), (2, 1));
    assert_eq!(done.conversations, vec![(a.clone(), b.clone())]);
    let rows = store.timeline(&a, &b, None, 10).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].body.as_str(), rows[0].edited), ("fixed", true));
    assert_eq!(rows[1].body, "hello");
    assert_eq!(rows[1].reactions, r#"{"b@example.net":["👍"]}"#);
    assert_eq!(rows[1].state, MessageState::Read);
    assert_eq!(store.conversation(&a, &b).await.unwrap().unwrap().unread, 1);
    // A failing change rolls the whole list back.
    let bad = vec![
        Change::Insert {
            message: msg("t2", Direction::Incoming, 950, "lost with the rest"),
            count_unread: true,
        },
        Change::Insert {
            message: tern_store::NewMessage {
                account: "nobody@example.org".into(),
                ..msg("t3", Direction::Incoming, 960, "no such account")
            },
            count_unread: true,
        },
    ];
    assert!(store.commit(&bad).await.is_err());
    assert_eq!(store.timeline(&a, &b, None, 10).await.unwrap().len(), 2);
}

/// On a first catch-up, what the user answered or marked displayed is read:
/// only incoming messages after both count as unread.
#[tokio::test]
async fn settling_unread_follows_answers_and_markers() {
    use tern_store::{Change, Direction};
    let (_dir, store) = store_with_account("a@example.org").await;
    let (a, b) = ("a@example.org".to_string(), "b@example.net".to_string());
    let insert = |uid: &str, dir: Direction, ts: i64| Change::Insert {
        message: msg(uid, dir, ts, uid),
        count_unread: true,
    };
    let settle = Change::SettleUnread {
        account: a.clone(),
        peer: b.clone(),
    };
    let unread = |store: &Store| {
        let store = store.clone();
        let (a, b) = (a.clone(), b.clone());
        async move { store.conversation(&a, &b).await.unwrap().unwrap().unread }
    };
    // Newest page first: the contact's last three came after the user's reply.
    store
        .commit(&[
            insert("in3", Direction::Incoming, 4000),
            insert("in4", Direction::Incoming, 5000),
            insert("in5", Direction::Incoming, 6000),
            settle.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(unread(&store).await, 3, "no answer known yet");
    // An older page brings the user's answer and what it answered.
    store
        .commit(&[
            insert("in1", Direction::Incoming, 1000),
            insert("in2", Direction::Incoming, 2000),
            insert("out1", Direction::Outgoing, 3000),
            settle.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(
        unread(&store).await,
        3,
        "answered ones are read, later ones not"
    );
    // The user's displayed marker from another device, for in4.
    let done = store
        .commit(&[
            Change::ReadMarker {
                account: a.clone(),
                peer: b.clone(),
                reference: "id-in4".into(),
                at_ms: 7000,
            },
            settle.clone(),
        ])
        .await
        .unwrap();
    assert_eq!(unread(&store).await, 1, "only in5 came after both");
    assert_eq!(done.conversations, vec![(a.clone(), b.clone())]);
    // An older marker changes nothing.
    store
        .commit(&[
            Change::ReadMarker {
                account: a.clone(),
                peer: b.clone(),
                reference: "id-in1".into(),
                at_ms: 1500,
            },
            settle,
        ])
        .await
        .unwrap();
    assert_eq!(unread(&store).await, 1);
    let rows = store.timeline(&a, &b, None, 10).await.unwrap();
    let unread_ids: Vec<_> = rows
        .iter()
        .filter(|m| {
            m.direction == Direction::Incoming && m.state == tern_store::MessageState::Received
        })
        .map(|m| m.uid.as_str())
        .collect();
    assert_eq!(unread_ids, vec!["in5"]);
}

#[tokio::test]
async fn newer_schema_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    store.close().await;
    // Pretend a future Tern wrote this file.
    {
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        sqlx_set_version(&store, SCHEMA_VERSION + 5).await;
        store.close().await;
    }
    match Store::open_in_dir(dir.path()).await {
        Err(StoreError::NewerSchema {
            found, supported, ..
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 5);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}

/// Writes `user_version` through a separate raw connection.
async fn sqlx_set_version(store: &Store, v: i64) {
    let path = store.path();
    use std::str::FromStr;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(path);
    let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
    sqlx::raw_sql(&format!("PRAGMA user_version = {v}"))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn garbage_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
    match Store::open(&path).await {
        Err(StoreError::Corrupt { detail, .. }) => assert!(!detail.is_empty()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[tokio::test]
async fn truncated_database_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tern.sqlite3");
    {
        let store = Store::open(&path).await.unwrap();
        for i in 0..500 {
            store
                .upsert_account(&account(&format!("user{i}@example.org")))
                .await
                .unwrap();
        }
        store.close().await;
    }
    // Damage the middle of the file (after the header page).
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192, "database should span several pages");
    for b in &mut bytes[4096..8192] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("tern.sqlite3-wal"));
    let _ = std::fs::remove_file(dir.path().join("tern.sqlite3-shm"));
    let err = Store::open(&path)
        .await
        .expect_err("damaged database must not open");
    assert!(matches!(err, StoreError::Corrupt { .. }), "got {err:?}");
}

#[tokio::test]
async fn accounts_crud_and_pins() {
    let (_dir, store) = store_with_account("a@example.org").await;
    store
        .upsert_account(&account("b@example.net"))
        .await
        .unwrap();
    assert!(store
        .set_account_enabled("b@example.net", false)
        .await
        .unwrap());
    assert!(!store
        .set_account_enabled("nobody@example.net", false)
        .await
        .unwrap());
    let fp = [7u8; 32];
    store.pin_certificate("a@example.org", &fp).await.unwrap();
    store.pin_certificate("a@example.org", &fp).await.unwrap();
    assert_eq!(
        store.pinned_certificates("a@example.org").await.unwrap(),
        vec![fp]
    );
    let accounts = store.accounts().await.unwrap();
    assert_eq!(accounts.len(), 2);
    assert_eq!(accounts[0].jid, "a@example.org");
    assert!(!accounts[1].enabled);
    assert!(store.remove_account("a@example.org").await.unwrap());
    // Pins go with the account.
    assert!(store
        .pinned_certificates("a@example.org")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.accounts().await.unwrap().len(), 1);
}

fn msg(uid: &str, dir: tern_store::Direction, ts: i64, body: &str) -> tern_store::NewMessage {
    tern_store::NewMessage {
        account: "a@example.org".into(),
        peer: "b@example.net".into(),
        direction: dir,
        sender: "b@example.net/phone".into(),
        uid: uid.into(),
        msg_id: Some(format!("id-{uid}")),
        archive_id: None,
        archive_by: None,
        kind: Default::default(),
        body: body.into(),
        timestamp_ms: ts,
        state: tern_store::MessageState::Received,
        reply_to: None,
        coarse_time: false,
        mention: false,
        occupant_id: None,
        file: None,
        encrypted: false,
        decrypt_error: None,
        omemo_retry: None,
        omemo_sender: None,
        call: None,
    }
}

#[tokio::test]
async fn messages_dedupe_by_uid_and_archive_id() {
    use tern_store::{Direction, Stored};
    let (_dir, store) = store_with_account("a@example.org").await;
    let live = msg("u1", Direction::Incoming, 1000, "hello");
    assert!(matches!(
        store.insert_message(&live, None, true).await.unwrap(),
        Stored::Inserted(_)
    ));
    // The same message from the archive, now with its archive id.
    let mut archived = live.clone();
    archived.archive_id = Some("mam-1".into());
    match store.insert_message(&archived, None, true).await.unwrap() {
        Stored::Duplicate(m) => assert_eq!(m.archive_id.as_deref(), Some("mam-1")),
        other => panic!("{other:?}"),
    }
    // Another copy known only by archive id.
    let mut by_archive = msg("other-uid", Direction::Incoming, 1000, "hello");
    by_archive.archive_id = Some("mam-1".into());
    assert!(matches!(
        store.insert_message(&by_archive, None, true).await.unwrap(),
        Stored::Duplicate(_)
    ));
    // Same uid in the other direction is a different message.
    assert!(matches!(
        store
            .insert_message(&msg("u1", Direction::Outgoing, 1001, "hi"), None, true)
            .await
            .unwrap(),
        Stored::Inserted(_)
    ));
    assert_eq!(
        store
            .message_count("a@example.org", "b@example.net")
            .await
            .unwrap(),
        2
    );
    let conv = store
        .conversation("a@example.org", "b@example.net")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.unread, 1);
    assert_eq!(conv.last.unwrap().body, "hi");
    store
        .mark_read("a@example.org", "b@example.net")
        .await
        .unwrap();
    let conv = store
        .conversation("a@example.org", "b@example.net")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.unread, 0);
}

#[tokio::test]
async fn timeline_pages_outbox_and_search() {
    use tern_store::{Direction, MessageState, Stored};
    let (_dir, store) = store_with_account("a@example.org").await;
    for i in 0..25 {
        let body = if i == 7 {
            "Ünïcode café meeting".to_string()
        } else {
            format!("message {i}")
        };
        store
            .insert_message(
                &msg(&format!("u{i}"), Direction::Incoming, 1000 + i, &body),
                None,
                true,
            )
            .await
            .unwrap();
    }
    let newest = store
        .timeline("a@example.org", "b@example.net", None, 10)
        .await
        .unwrap();
    assert_eq!(newest.len(), 10);
    assert_eq!(newest.last().unwrap().uid, "u24");
    assert_eq!(newest.first().unwrap().uid, "u15");
    let first = newest.first().unwrap();
    let older = store
        .timeline(
            "a@example.org",
            "b@example.net",
            Some((first.timestamp_ms, first.id)),
            10,
        )
        .await
        .unwrap();
    assert_eq!(older.last().unwrap().uid, "u14");
    assert_eq!(older.first().unwrap().uid, "u5");
    let oldest = older.first().unwrap();
    let newer = store
        .timeline_after(
            "a@example.org",
            "b@example.net",
            (oldest.timestamp_ms, oldest.id),
            3,
        )
        .await
        .unwrap();
    let uids: Vec<_> = newer.iter().map(|m| m.uid.as_str()).collect();
    assert_eq!(uids, ["u6", "u7", "u8"], "the next ones, oldest first");
    let last = newest.last().unwrap();
    assert!(store
        .timeline_after(
            "a@example.org",
            "b@example.net",
            (last.timestamp_ms, last.id),
            10
        )
        .await
        .unwrap()
        .is_empty());

    let hits = store.search("cafe", None, 10).await.unwrap();
    assert_eq!(hits.len(), 1, "diacritics are folded");
    assert!(hits[0].snippet.contains('['));
    assert!(store
        .search("\"); DROP TABLE messages; --", None, 10)
        .await
        .is_ok());
    assert!(store.search("   ", None, 10).await.unwrap().is_empty());

    let mut out = msg("o1", Direction::Outgoing, 5000, "queued text");
    out.state = MessageState::Queued;
    let Stored::Inserted(row) = store
        .insert_message(&out, Some("<message/>"), true)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(store.outbox("a@example.org").await.unwrap().len(), 1);
    assert!(store
        .advance_state(row.id, MessageState::Acked)
        .await
        .unwrap()
        .is_some());
    assert!(
        store
            .advance_state(row.id, MessageState::Sent)
            .await
            .unwrap()
            .is_none(),
        "never backwards"
    );
    assert!(
        store
            .requeue_message(row.id, "<message id='again'/>")
            .await
            .unwrap()
            .is_none(),
        "only a failed message goes back in the outbox"
    );
    let failed = store
        .fail_message(row.id, Some("service-unavailable"), Some("No such user"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, MessageState::Failed);
    assert_eq!(failed.failure.as_deref(), Some("service-unavailable"));
    assert_eq!(failed.failure_text.as_deref(), Some("No such user"));
    assert!(
        store
            .advance_state(row.id, MessageState::Acked)
            .await
            .unwrap()
            .is_none(),
        "the server's ack arriving after the bounce does not hide it"
    );
    let again = store
        .requeue_message(row.id, "<message id='again'/>")
        .await
        .unwrap()
        .expect("a failed message is queued again");
    assert_eq!(again.state, MessageState::Queued);
    assert_eq!(again.body, "queued text");
    assert_eq!(
        (again.failure, again.failure_text),
        (None, None),
        "the reason goes with the retry"
    );
    let outbox = store.outbox("a@example.org").await.unwrap();
    assert_eq!(outbox.len(), 1, "replaced, not doubled");
    assert_eq!(outbox[0].intent, "<message id='again'/>");
    assert!(store
        .advance_state(row.id, MessageState::Acked)
        .await
        .unwrap()
        .is_some());
    store.outbox_done(row.id).await.unwrap();
    assert!(store.outbox("a@example.org").await.unwrap().is_empty());
    let edited = store
        .correct_message(row.id, "fixed text")
        .await
        .unwrap()
        .unwrap();
    assert!(edited.edited);
    assert_eq!(store.search("fixed", None, 5).await.unwrap().len(), 1);
    let gone = store.retract_message(row.id).await.unwrap().unwrap();
    assert!(gone.retracted && gone.body.is_empty());
    assert!(store.search("fixed", None, 5).await.unwrap().is_empty());
    store
        .advance_state(row.id, MessageState::Failed)
        .await
        .unwrap();
    assert!(
        store
            .requeue_message(row.id, "<message/>")
            .await
            .unwrap()
            .is_none(),
        "a retracted message is not sent again"
    );
    assert!(store.outbox("a@example.org").await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deleted_conversation_stays_deleted_until_someone_writes_again() {
    use tern_store::{Direction, MessageState, Stored};
    let (_dir, store) = store_with_account("a@example.org").await;
    for i in 0..5 {
        store
            .insert_message(
                &msg(
                    &format!("u{i}"),
                    Direction::Incoming,
                    1000 + i,
                    "findable words",
                ),
                None,
                true,
            )
            .await
            .unwrap();
    }
    let mut out = msg("o1", Direction::Outgoing, 2000, "waiting");
    out.state = MessageState::Queued;
    store
        .insert_message(&out, Some("<message/>"), false)
        .await
        .unwrap();
    // Another conversation is left alone.
    let mut other = msg("x1", Direction::Incoming, 1500, "findable elsewhere");
    other.peer = "c@example.net".into();
    store.insert_message(&other, None, true).await.unwrap();

    assert_eq!(
        store
            .delete_conversation("a@example.org", "b@example.net", 3000)
            .await
            .unwrap(),
        6
    );
    assert!(store
        .timeline("a@example.org", "b@example.net", None, 10)
        .await
        .unwrap()
        .is_empty());
    let convs = store.conversations(Some("a@example.org")).await.unwrap();
    assert_eq!(
        convs.iter().map(|c| c.peer.as_str()).collect::<Vec<_>>(),
        ["c@example.net"]
    );
    assert!(
        store.outbox("a@example.org").await.unwrap().is_empty(),
        "nothing left to send"
    );
    let hits = store.search("findable", None, 10).await.unwrap();
    assert_eq!(hits.len(), 1, "the search index forgot them too");
    assert_eq!(hits[0].message.peer, "c@example.net");
    assert_eq!(
        store
            .cleared_at("a@example.org", "b@example.net")
            .await
            .unwrap(),
        Some(3000)
    );

    // The archive brings an old one again: not stored.
    let mut again = msg("u2", Direction::Incoming, 1002, "findable words");
    again.archive_id = Some("arch-2".into());
    assert_eq!(
        store.insert_message(&again, None, true).await.unwrap(),
        Stored::Deleted
    );
    assert!(store
        .conversation("a@example.org", "b@example.net")
        .await
        .unwrap()
        .is_none());
    // An archive copy stamped with the second of the deletion (archives
    // keep whole seconds) may be from before it: not stored. A live
    // message in that second after the deletion is.
    let mut same_second = msg("u3", Direction::Incoming, 3_999, "findable words");
    same_second.coarse_time = true;
    assert_eq!(
        store
            .delete_conversation("a@example.org", "b@example.net", 3_500)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        store
            .insert_message(&same_second, None, true)
            .await
            .unwrap(),
        Stored::Deleted
    );
    let live = msg("live", Direction::Incoming, 3_600, "just after");
    let Stored::Inserted(_) = store.insert_message(&live, None, true).await.unwrap() else {
        panic!("a live message just after the deletion is kept")
    };
    // What the user writes in the deletion's very millisecond (or after the
    // clock went back) is theirs to send, not an old copy.
    let mut written = msg("written", Direction::Outgoing, 3_500, "typed right away");
    written.state = MessageState::Queued;
    let Stored::Inserted(_) = store
        .insert_message(&written, Some("<message/>"), false)
        .await
        .unwrap()
    else {
        panic!("a message the user writes is never refused as deleted")
    };
    assert_eq!(store.outbox("a@example.org").await.unwrap().len(), 1);
    // A new message starts the conversation again.
    let Stored::Inserted(_) = store
        .insert_message(
            &msg("new", Direction::Incoming, 4001, "hello again"),
            None,
            true,
        )
        .await
        .unwrap()
    else {
        panic!("a new message is stored")
    };
    let c = store
        .conversation("a@example.org", "b@example.net")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (c.unread, c.last.unwrap().body.as_str()),
        (2, "hello again")
    );
    // Deleting again never moves the mark back.
    store
        .delete_conversation("a@example.org", "b@example.net", 2500)
        .await
        .unwrap();
    assert_eq!(
        store
            .cleared_at("a@example.org", "b@example.net")
            .await
            .unwrap(),
        Some(3500)
    );
}

#[tokio::test]
async fn the_caps_cache_keeps_the_most_recently_used_entries() {
    let (_d, store) = store_with_account("a@example.org").await;
    store
        .store_disco_info("jid:a@example.org example.org", "<server/>", 0)
        .await
        .unwrap();
    for i in 0..20 {
        store
            .store_disco_info(&format!("caps:sha-1:{i}"), "<q/>", 100 + i)
            .await
            .unwrap();
    }
    // The oldest entry was used again: it stays.
    assert!(store
        .use_disco_info("caps:sha-1:0", 1_000)
        .await
        .unwrap()
        .is_some());
    assert!(store
        .use_disco_info("caps:nothing", 1_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.prune_disco_cache("caps:", 5).await.unwrap(), 15);
    assert_eq!(store.disco_cache_len("caps:").await.unwrap(), 5);
    for kept in ["caps:sha-1:0", "caps:sha-1:19", "caps:sha-1:16"] {
        assert!(store.disco_info(kept).await.unwrap().is_some(), "{kept}");
    }
    assert!(store.disco_info("caps:sha-1:15").await.unwrap().is_none());
    // Other entries (the server's) are not counted or dropped.
    assert_eq!(store.disco_cache_len("jid:").await.unwrap(), 1);
    assert_eq!(store.prune_disco_cache("caps:", 5).await.unwrap(), 0);
}

#[tokio::test]
async fn one_roster_item_is_read_by_its_jid() {
    let (_d, store) = store_with_account("a@example.org").await;
    store
        .upsert_roster_item(
            "a@example.org",
            &RosterRow {
                jid: "b@example.net".into(),
                name: Some("B".into()),
                subscription: "to".into(),
                ask: false,
                groups: vec!["G".into()],
            },
        )
        .await
        .unwrap();
    let row = store
        .roster_item("a@example.org", "b@example.net")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.subscription.as_str(), row.groups),
        ("to", vec!["G".to_string()])
    );
    assert!(store
        .roster_item("a@example.org", "c@example.net")
        .await
        .unwrap()
        .is_none());
}

/// Messages waiting to be decrypted again come back oldest first with
/// their element, the message's own sender untouched, and (in a group
/// chat) the real sender kept beside it.
#[tokio::test]
async fn messages_waiting_to_be_decrypted_keep_their_senders() {
    use tern_store::Direction;
    let (_dir, store) = store_with_account("a@example.org").await;
    let mut one = msg("w1", Direction::Incoming, 2000, "fallback");
    one.encrypted = true;
    one.decrypt_error = Some("waiting".into());
    one.omemo_retry = Some("<encrypted xmlns='eu.siacs.conversations.axolotl'/>".into());
    let mut group = msg("w2", Direction::Incoming, 1000, "fallback");
    group.peer = "room@muc.example.org".into();
    group.sender = "room@muc.example.org/carol".into();
    group.encrypted = true;
    group.decrypt_error = Some("waiting".into());
    group.omemo_retry = Some("<encrypted xmlns='eu.siacs.conversations.axolotl'/>".into());
    group.omemo_sender = Some("carol@example.org".into());
    store.insert_message(&one, None, true).await.unwrap();
    store.insert_message(&group, None, true).await.unwrap();
    let pending = store.omemo_pending("a@example.org").await.unwrap();
    let got: Vec<_> = pending
        .iter()
        .map(|(m, _, s)| (m.uid.as_str(), m.sender.as_str(), s.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "w2",
                "room@muc.example.org/carol",
                Some("carol@example.org")
            ),
            ("w1", "b@example.net/phone", None),
        ]
    );
}

#[tokio::test]
async fn waiting_messages_come_in_pages_and_are_settled_together() {
    use tern_store::Direction;
    let (_dir, store) = store_with_account("a@example.org").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut m = msg(
            &format!("p{i}"),
            Direction::Incoming,
            1000 * (5 - i),
            "fallback",
        );
        m.encrypted = true;
        m.decrypt_error = Some("waiting".into());
        m.omemo_retry = Some(format!("<encrypted n='{i}'/>"));
        match store.insert_message(&m, None, true).await.unwrap() {
            tern_store::Stored::Inserted(row) => ids.push(row.id),
            other => panic!("not inserted: {other:?}"),
        }
    }
    // Oldest first, two at a time.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .omemo_pending_page("a@example.org", after, 2)
            .await
            .unwrap();
        let Some((last, _, _)) = page.last() else {
            break;
        };
        after = Some((last.timestamp_ms, last.id));
        seen.extend(page.iter().map(|(m, xml, _)| (m.uid.clone(), xml.clone())));
    }
    let want: Vec<_> = (0..5)
        .rev()
        .map(|i| (format!("p{i}"), format!("<encrypted n='{i}'/>")))
        .collect();
    assert_eq!(seen, want);

    // p4 decrypted, p3 failed for good, p2 still waits (with a new reason);
    // all in one go.
    let rows = store
        .omemo_retried_many(&[
            (ids[4], Ok("the text"), false),
            (ids[3], Err("broken"), false),
            (ids[2], Err("still waiting"), true),
        ])
        .await
        .unwrap();
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|m| (m.body.as_str(), m.decrypt_error.as_deref()))
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            Some(("the text", None)),
            Some(("fallback", Some("broken"))),
            Some(("fallback", Some("still waiting"))),
        ]
    );
    let left: Vec<_> = store
        .omemo_pending("a@example.org")
        .await
        .unwrap()
        .into_iter()
        .map(|(m, _, _)| m.uid)
        .collect();
    assert_eq!(left, vec!["p2", "p1", "p0"]);
}
