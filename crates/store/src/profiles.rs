//! Service discovery cache (XEP-0030 / XEP-0115) and contacts' profiles
//! (avatar, nickname).

use sqlx::Row;

use crate::{Result, Store};

/// What is known of how someone presents themselves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileRow {
    /// SHA-1 (hex) of the avatar image.
    pub avatar: Option<String>,
    /// Where the avatar came from: `pep` or `vcard`.
    pub avatar_source: Option<String>,
    /// Nickname the contact chose (XEP-0172).
    pub nickname: Option<String>,
}

impl Store {
    /// A cached disco#info result (XML), by key.
    pub async fn disco_info(&self, key: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT info FROM disco_cache WHERE key = ?1")
            .bind(key)
            .fetch_optional(self.pool())
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("info")?),
            None => None,
        })
    }

    /// A cached disco#info result (XML), by key, marked as used at `now_ms`
    /// (`fetched_at` is when it was last stored or used: the least recently
    /// used entries are the first [`Store::prune_disco_cache`] drops).
    pub async fn use_disco_info(&self, key: &str, now_ms: i64) -> Result<Option<String>> {
        // A miss (the usual case for a key never seen) only reads.
        let Some(info) = self.disco_info(key).await? else {
            return Ok(None);
        };
        sqlx::query("UPDATE disco_cache SET fetched_at = max(fetched_at, ?2) WHERE key = ?1")
            .bind(key)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(Some(info))
    }

    /// Keeps at most `max` cached entries whose key starts with `prefix`
    /// (e.g. `caps:`), dropping the least recently used; returns how many
    /// were dropped.
    pub async fn prune_disco_cache(&self, prefix: &str, max: usize) -> Result<u64> {
        let done = sqlx::query(
            "DELETE FROM disco_cache WHERE key IN (
                 SELECT key FROM disco_cache WHERE substr(key, 1, length(?1)) = ?1
                 ORDER BY fetched_at DESC, key LIMIT -1 OFFSET ?2)",
        )
        .bind(prefix)
        .bind(i64::try_from(max).unwrap_or(i64::MAX))
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected())
    }

    /// How many disco#info results are cached under keys starting with
    /// `prefix`.
    pub async fn disco_cache_len(&self, prefix: &str) -> Result<u64> {
        let row = sqlx::query(
            "SELECT count(*) AS n FROM disco_cache WHERE substr(key, 1, length(?1)) = ?1",
        )
        .bind(prefix)
        .fetch_one(self.pool())
        .await?;
        let n: i64 = row.try_get("n")?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Caches a disco#info result (XML) under `key`, replacing an older one.
    pub async fn store_disco_info(&self, key: &str, info: &str, now_ms: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO disco_cache (key, info, fetched_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(key) DO UPDATE SET info = ?2, fetched_at = ?3",
        )
        .bind(key)
        .bind(info)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The profile of `jid` as seen by `account` (empty if unknown).
    pub async fn profile(&self, account: &str, jid: &str) -> Result<ProfileRow> {
        let row = sqlx::query(
            "SELECT avatar, avatar_source, nickname FROM profiles WHERE account_jid = ?1 AND jid = ?2",
        )
        .bind(account)
        .bind(jid)
        .fetch_optional(self.pool())
        .await?;
        match row {
            Some(r) => profile_from(&r),
            None => Ok(ProfileRow::default()),
        }
    }

    /// Every known profile of an account, with its JID.
    pub async fn profiles(&self, account: &str) -> Result<Vec<(String, ProfileRow)>> {
        let rows = sqlx::query(
            "SELECT jid, avatar, avatar_source, nickname FROM profiles WHERE account_jid = ?1",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("jid")?, profile_from(r)?)))
            .collect()
    }

    /// Sets (or clears) the avatar of `jid` and where it came from.
    pub async fn set_avatar(
        &self,
        account: &str,
        jid: &str,
        hash: Option<&str>,
        source: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO profiles (account_jid, jid, avatar, avatar_source) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(account_jid, jid) DO UPDATE SET avatar = ?3, avatar_source = ?4",
        )
        .bind(account)
        .bind(jid)
        .bind(hash)
        .bind(source)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Sets (or clears) the nickname of `jid`.
    pub async fn set_nickname(
        &self,
        account: &str,
        jid: &str,
        nickname: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO profiles (account_jid, jid, nickname) VALUES (?1, ?2, ?3)
             ON CONFLICT(account_jid, jid) DO UPDATE SET nickname = ?3",
        )
        .bind(account)
        .bind(jid)
        .bind(nickname)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether any profile still refers to this avatar (any account).
    pub async fn avatar_in_use(&self, hash: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM profiles WHERE avatar = ?1 LIMIT 1")
            .bind(hash)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}

fn profile_from(r: &sqlx::sqlite::SqliteRow) -> Result<ProfileRow> {
    Ok(ProfileRow {
        avatar: r.try_get("avatar")?,
        avatar_source: r.try_get("avatar_source")?,
        nickname: r.try_get("nickname")?,
    })
}
