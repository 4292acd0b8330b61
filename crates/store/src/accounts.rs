//! Accounts and their pinned certificates.

use sqlx::Row;

use crate::{now_unix, Result, Store};

/// An account as stored on disk (no password: that lives in the keychain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredAccount {
    /// Bare JID, the account's identity.
    pub jid: String,
    /// Whether Tern should connect this account.
    pub enabled: bool,
    /// Preferred resource, if the user set one.
    pub resource: Option<String>,
    /// Manual server host (skips DNS SRV).
    pub host_override: Option<String>,
    /// Manual server port.
    pub port_override: Option<u16>,
    /// Use direct TLS (XEP-0368) on the manual host/port instead of STARTTLS.
    pub direct_tls: bool,
}

impl Store {
    /// Inserts or replaces an account's settings.
    pub async fn upsert_account(&self, a: &StoredAccount) -> Result<()> {
        sqlx::query(
            "INSERT INTO accounts (jid, enabled, resource, host_override, port_override, direct_tls, position, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, (SELECT COALESCE(MAX(position), 0) + 1 FROM accounts), ?7)
             ON CONFLICT(jid) DO UPDATE SET enabled = ?2, resource = ?3, host_override = ?4,
                 port_override = ?5, direct_tls = ?6",
        )
        .bind(&a.jid)
        .bind(a.enabled)
        .bind(&a.resource)
        .bind(&a.host_override)
        .bind(a.port_override.map(i64::from))
        .bind(a.direct_tls)
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// All accounts, in the order they were added.
    pub async fn accounts(&self) -> Result<Vec<StoredAccount>> {
        let rows = sqlx::query(
            "SELECT jid, enabled, resource, host_override, port_override, direct_tls
             FROM accounts ORDER BY position, jid",
        )
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|r| {
                let port: Option<i64> = r.try_get("port_override")?;
                Ok(StoredAccount {
                    jid: r.try_get("jid")?,
                    enabled: r.try_get("enabled")?,
                    resource: r.try_get("resource")?,
                    host_override: r.try_get("host_override")?,
                    port_override: port.and_then(|p| u16::try_from(p).ok()),
                    direct_tls: r.try_get("direct_tls")?,
                })
            })
            .collect()
    }

    /// Enables or disables an account. Returns false if it does not exist.
    pub async fn set_account_enabled(&self, jid: &str, enabled: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE accounts SET enabled = ?2 WHERE jid = ?1")
            .bind(jid)
            .bind(enabled)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes an account and everything stored for it.
    pub async fn remove_account(&self, jid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM accounts WHERE jid = ?1")
            .bind(jid)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Records that the user trusts this certificate for this account.
    pub async fn pin_certificate(&self, jid: &str, sha256: &[u8; 32]) -> Result<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO pinned_certificates (account_jid, sha256, pinned_at) VALUES (?1, ?2, ?3)",
        )
        .bind(jid)
        .bind(&sha256[..])
        .bind(now_unix())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Certificates pinned for this account.
    pub async fn pinned_certificates(&self, jid: &str) -> Result<Vec<[u8; 32]>> {
        let rows = sqlx::query("SELECT sha256 FROM pinned_certificates WHERE account_jid = ?1")
            .bind(jid)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let blob: Vec<u8> = r.try_get(0)?;
            if let Ok(arr) = <[u8; 32]>::try_from(blob.as_slice()) {
                out.push(arr);
            }
        }
        Ok(out)
    }
}
