//! Store integration tests: migrations, error cases, accounts.

#![allow(clippy::unwrap_used)]

use tern_store::{Store, StoreError, StoredAccount, SCHEMA_VERSION};

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
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).await.unwrap();
    store
        .upsert_account(&account("a@example.org"))
        .await
        .unwrap();
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
