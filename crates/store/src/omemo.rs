//! OMEMO state of one account: [`OmemoStore`], the SQLite implementation of
//! [`tern_omemo::Store`].
//!
//! Every row carries the account's bare JID, so the accounts of a profile share
//! the tables, and removing an account removes its OMEMO state with it. Rows
//! are decoded defensively: a damaged blob or an out-of-range number gives
//! [`OmemoStoreError::Corrupt`], never a panic.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use tern_omemo::keys::{KeyPair, PrivateKey, PublicKey};
use tern_omemo::session::SessionRecord;
use tern_omemo::store::{OwnIdentity, PreKeyRecord, SignedPreKeyRecord};
use tern_omemo::{BareJid, DeviceAddress, DeviceRecord, Trust};

use crate::Store;

/// Errors of [`OmemoStore`].
#[derive(Debug, thiserror::Error)]
pub enum OmemoStoreError {
    /// The database failed (including writing for an account that is not stored).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored row could not be decoded.
    #[error("stored OMEMO {what} of {account} is damaged: {detail}")]
    Corrupt {
        /// The account the row belongs to.
        account: String,
        /// What the row holds (session, pre-key, ...).
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A value does not fit the database's 64-bit signed integers.
    #[error("OMEMO {what} out of range for the database: {value}")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

type Result<T, E = OmemoStoreError> = std::result::Result<T, E>;

/// The OMEMO state of one account in Tern's database. Cheap to clone.
///
/// The account must be stored ([`Store::upsert_account`]) before anything is
/// written for it.
#[derive(Clone, Debug)]
pub struct OmemoStore {
    store: Store,
    account: String,
}

impl Store {
    /// The OMEMO state of `account` (its bare JID).
    pub fn omemo(&self, account: &BareJid) -> OmemoStore {
        OmemoStore {
            store: self.clone(),
            account: account.to_string(),
        }
    }
}

fn to_i64(what: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| OmemoStoreError::OutOfRange { what, value })
}

/// A JSON array, bound as one parameter and read back with `json_each`: a
/// statement for many items stays one prepared statement, whatever their
/// number, with no placeholder per item (nor SQLite's limit on those).
fn json_array(items: impl IntoIterator<Item = serde_json::Value>) -> String {
    serde_json::Value::Array(items.into_iter().collect()).to_string()
}

impl OmemoStore {
    /// The account this store is scoped to.
    pub fn account(&self) -> &str {
        &self.account
    }

    fn corrupt(&self, what: &'static str, detail: impl Into<String>) -> OmemoStoreError {
        OmemoStoreError::Corrupt {
            account: self.account.clone(),
            what,
            detail: detail.into(),
        }
    }

    fn u32_col(&self, row: &SqliteRow, col: &str, what: &'static str) -> Result<u32> {
        let v: i64 = row.try_get(col)?;
        u32::try_from(v).map_err(|_| self.corrupt(what, format!("{col} {v} out of range")))
    }

    fn bytes_col<const N: usize>(
        &self,
        row: &SqliteRow,
        col: &str,
        what: &'static str,
    ) -> Result<[u8; N]> {
        let v: Vec<u8> = row.try_get(col)?;
        <[u8; N]>::try_from(v.as_slice())
            .map_err(|_| self.corrupt(what, format!("{col} is {} bytes, not {N}", v.len())))
    }

    fn key_pair(&self, row: &SqliteRow, what: &'static str) -> Result<KeyPair> {
        Ok(KeyPair {
            public: PublicKey::from_bytes(self.bytes_col(row, "public_key", what)?),
            private: PrivateKey::from_bytes(self.bytes_col(row, "private_key", what)?),
        })
    }

    fn pre_key(&self, row: &SqliteRow) -> Result<PreKeyRecord> {
        Ok(PreKeyRecord {
            id: self.u32_col(row, "id", "pre-key")?,
            key_pair: self.key_pair(row, "pre-key")?,
        })
    }

    fn session(&self, address: &DeviceAddress, bytes: &[u8]) -> Result<SessionRecord> {
        SessionRecord::from_bytes(bytes)
            .map_err(|e| self.corrupt("session", format!("with {address}: {e}")))
    }

    /// A device of `jid` from a row that also has its `device_id`.
    fn device_of(&self, jid: &BareJid, row: &SqliteRow) -> Result<DeviceRecord> {
        let id = self.u32_col(row, "device_id", "device")?;
        self.device(row, DeviceAddress::new(jid.clone(), id))
    }

    fn device(&self, row: &SqliteRow, address: DeviceAddress) -> Result<DeviceRecord> {
        let key: Option<Vec<u8>> = row.try_get("identity_key")?;
        let identity_key = match key {
            None => None,
            Some(k) => Some(PublicKey::from_bytes(
                <[u8; 32]>::try_from(k.as_slice()).map_err(|_| {
                    self.corrupt("device", format!("identity key is {} bytes", k.len()))
                })?,
            )),
        };
        let trust: String = row.try_get("trust")?;
        Ok(DeviceRecord {
            address,
            identity_key,
            trust: Trust::parse(&trust)
                .ok_or_else(|| self.corrupt("device", format!("unknown trust {trust:?}")))?,
            active: row.try_get("active")?,
        })
    }
}

impl tern_omemo::Store for OmemoStore {
    type Error = OmemoStoreError;

    async fn load_own_identity(&self) -> Result<Option<OwnIdentity>> {
        let row = sqlx::query(
            "SELECT device_id, registration_id, public_key, private_key, next_pre_key_id,
                    next_signed_pre_key_id
             FROM omemo_identity WHERE account_jid = ?1",
        )
        .bind(&self.account)
        .fetch_optional(self.store.pool())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let what = "identity";
        Ok(Some(OwnIdentity {
            device_id: self.u32_col(&row, "device_id", what)?,
            registration_id: self.u32_col(&row, "registration_id", what)?,
            identity: self.key_pair(&row, what)?,
            next_pre_key_id: self.u32_col(&row, "next_pre_key_id", what)?,
            next_signed_pre_key_id: self.u32_col(&row, "next_signed_pre_key_id", what)?,
        }))
    }

    async fn store_own_identity(&self, identity: &OwnIdentity) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO omemo_identity (account_jid, device_id, registration_id,
                 public_key, private_key, next_pre_key_id, next_signed_pre_key_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(&self.account)
        .bind(i64::from(identity.device_id))
        .bind(i64::from(identity.registration_id))
        .bind(&identity.identity.public.as_bytes()[..])
        .bind(&identity.identity.private.to_bytes()[..])
        .bind(i64::from(identity.next_pre_key_id))
        .bind(i64::from(identity.next_signed_pre_key_id))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn load_signed_pre_keys(&self) -> Result<Vec<SignedPreKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, public_key, private_key, signature, created_at
             FROM omemo_signed_pre_keys WHERE account_jid = ?1 ORDER BY id",
        )
        .bind(&self.account)
        .fetch_all(self.store.pool())
        .await?;
        let what = "signed pre-key";
        rows.iter()
            .map(|row| {
                let created_at: i64 = row.try_get("created_at")?;
                Ok(SignedPreKeyRecord {
                    id: self.u32_col(row, "id", what)?,
                    key_pair: self.key_pair(row, what)?,
                    signature: self.bytes_col(row, "signature", what)?,
                    created_at: u64::try_from(created_at).map_err(|_| {
                        self.corrupt(what, format!("created_at {created_at} out of range"))
                    })?,
                })
            })
            .collect()
    }

    async fn store_signed_pre_key(&self, key: &SignedPreKeyRecord) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO omemo_signed_pre_keys (account_jid, id, public_key,
                 private_key, signature, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&self.account)
        .bind(i64::from(key.id))
        .bind(&key.key_pair.public.as_bytes()[..])
        .bind(&key.key_pair.private.to_bytes()[..])
        .bind(&key.signature[..])
        .bind(to_i64("signed pre-key creation time", key.created_at)?)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn remove_signed_pre_key(&self, id: u32) -> Result<()> {
        sqlx::query("DELETE FROM omemo_signed_pre_keys WHERE account_jid = ?1 AND id = ?2")
            .bind(&self.account)
            .bind(i64::from(id))
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    async fn load_pre_key(&self, id: u32) -> Result<Option<PreKeyRecord>> {
        let row = sqlx::query(
            "SELECT id, public_key, private_key FROM omemo_pre_keys
             WHERE account_jid = ?1 AND id = ?2",
        )
        .bind(&self.account)
        .bind(i64::from(id))
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| self.pre_key(&r)).transpose()
    }

    async fn load_pre_keys(&self) -> Result<Vec<PreKeyRecord>> {
        let rows = sqlx::query(
            "SELECT id, public_key, private_key FROM omemo_pre_keys
             WHERE account_jid = ?1 ORDER BY id",
        )
        .bind(&self.account)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(|r| self.pre_key(r)).collect()
    }

    async fn store_pre_keys(&self, keys: &[PreKeyRecord]) -> Result<()> {
        let mut tx = self.store.pool().begin_with("BEGIN IMMEDIATE").await?;
        for key in keys {
            sqlx::query(
                "INSERT OR REPLACE INTO omemo_pre_keys (account_jid, id, public_key, private_key)
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .bind(&self.account)
            .bind(i64::from(key.id))
            .bind(&key.key_pair.public.as_bytes()[..])
            .bind(&key.key_pair.private.to_bytes()[..])
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_pre_key(&self, id: u32) -> Result<()> {
        sqlx::query("DELETE FROM omemo_pre_keys WHERE account_jid = ?1 AND id = ?2")
            .bind(&self.account)
            .bind(i64::from(id))
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    async fn load_session(&self, address: &DeviceAddress) -> Result<Option<SessionRecord>> {
        let record: Option<Vec<u8>> = sqlx::query_scalar(
            "SELECT record FROM omemo_sessions
             WHERE account_jid = ?1 AND jid = ?2 AND device_id = ?3",
        )
        .bind(&self.account)
        .bind(address.jid.as_str())
        .bind(i64::from(address.device_id))
        .fetch_optional(self.store.pool())
        .await?;
        record
            .map(|bytes| self.session(address, &bytes))
            .transpose()
    }

    async fn store_session(&self, address: &DeviceAddress, session: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO omemo_sessions (account_jid, jid, device_id, record)
             VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&self.account)
        .bind(address.jid.as_str())
        .bind(i64::from(address.device_id))
        .bind(session.to_bytes())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    /// One query: the addresses go in as a JSON array of `[jid, device_id]`,
    /// and a `LEFT JOIN` from it looks each up by primary key, one row per
    /// address in order (`NULL` where there is no session).
    async fn load_sessions(
        &self,
        addresses: &[DeviceAddress],
    ) -> Result<Vec<Option<SessionRecord>>> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let records: Vec<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT s.record FROM json_each(?2) a
             LEFT JOIN omemo_sessions s ON s.account_jid = ?1
                 AND s.jid = a.value ->> 0 AND s.device_id = a.value ->> 1
             ORDER BY a.key",
        )
        .bind(&self.account)
        .bind(json_array(
            addresses
                .iter()
                .map(|a| serde_json::json!([a.jid.as_str(), a.device_id])),
        ))
        .fetch_all(self.store.pool())
        .await?;
        addresses
            .iter()
            .zip(records)
            .map(|(address, record)| {
                record
                    .map(|bytes| self.session(address, &bytes))
                    .transpose()
            })
            .collect()
    }

    /// One statement for all of them (atomic on its own, so none is saved if
    /// it fails): the sessions go in as a JSON array of `[jid, device_id,
    /// record]` as the reads take their addresses, the record in hex since
    /// JSON has no bytes (`unhex` is SQLite 3.41; sqlx bundles a newer one).
    async fn store_sessions(&self, sessions: &[(DeviceAddress, SessionRecord)]) -> Result<()> {
        if sessions.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT OR REPLACE INTO omemo_sessions (account_jid, jid, device_id, record)
             SELECT ?1, value ->> 0, value ->> 1, unhex(value ->> 2) FROM json_each(?2)",
        )
        .bind(&self.account)
        .bind(json_array(sessions.iter().map(|(address, session)| {
            serde_json::json!([
                address.jid.as_str(),
                address.device_id,
                hex::encode(session.to_bytes())
            ])
        })))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn remove_session(&self, address: &DeviceAddress) -> Result<()> {
        sqlx::query(
            "DELETE FROM omemo_sessions WHERE account_jid = ?1 AND jid = ?2 AND device_id = ?3",
        )
        .bind(&self.account)
        .bind(address.jid.as_str())
        .bind(i64::from(address.device_id))
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn load_device(&self, address: &DeviceAddress) -> Result<Option<DeviceRecord>> {
        let row = sqlx::query(
            "SELECT identity_key, trust, active FROM omemo_devices
             WHERE account_jid = ?1 AND jid = ?2 AND device_id = ?3",
        )
        .bind(&self.account)
        .bind(address.jid.as_str())
        .bind(i64::from(address.device_id))
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|r| self.device(&r, address.clone())).transpose()
    }

    async fn load_devices(&self, jid: &BareJid) -> Result<Vec<DeviceRecord>> {
        let rows = sqlx::query(
            "SELECT device_id, identity_key, trust, active FROM omemo_devices
             WHERE account_jid = ?1 AND jid = ?2 ORDER BY device_id",
        )
        .bind(&self.account)
        .bind(jid.as_str())
        .fetch_all(self.store.pool())
        .await?;
        rows.iter().map(|r| self.device_of(jid, r)).collect()
    }

    /// One query for all accounts (the JIDs go in as a JSON array); rows are
    /// decoded account by account in the order asked, as one
    /// [`tern_omemo::Store::load_devices`] after another would.
    async fn load_devices_of(&self, jids: &[BareJid]) -> Result<Vec<Vec<DeviceRecord>>> {
        if jids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT jid, device_id, identity_key, trust, active FROM omemo_devices
             WHERE account_jid = ?1 AND jid IN (SELECT value FROM json_each(?2))
             ORDER BY jid, device_id",
        )
        .bind(&self.account)
        .bind(json_array(jids.iter().map(|j| j.as_str().into())))
        .fetch_all(self.store.pool())
        .await?;
        let mut by_jid: HashMap<String, Vec<SqliteRow>> = HashMap::new();
        for row in rows {
            by_jid.entry(row.try_get("jid")?).or_default().push(row);
        }
        jids.iter()
            .map(|jid| {
                by_jid
                    .get(jid.as_str())
                    .map_or(&[][..], Vec::as_slice)
                    .iter()
                    .map(|r| self.device_of(jid, r))
                    .collect()
            })
            .collect()
    }

    async fn store_device(&self, device: &DeviceRecord) -> Result<()> {
        sqlx::query(
            "INSERT OR REPLACE INTO omemo_devices (account_jid, jid, device_id, identity_key,
                 trust, active)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&self.account)
        .bind(device.address.jid.as_str())
        .bind(i64::from(device.address.device_id))
        .bind(device.identity_key.as_ref().map(|k| k.as_bytes().to_vec()))
        .bind(device.trust.as_str())
        .bind(device.active)
        .execute(self.store.pool())
        .await?;
        Ok(())
    }
}
