//! Accounts, their pinned certificates, and what Tern remembers about
//! their servers' security.

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

/// The certificate the user trusts for an account although it failed
/// verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedCertificate {
    /// SHA-256 of the end-entity certificate (DER).
    pub sha256: [u8; 32],
    /// What the user accepted about it when it was refused, comma separated
    /// (`untrusted`, `name`, `expired`, ...).
    pub accepts: String,
}

/// What Tern remembers about an account's server between connections.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerSecurity {
    /// SHA-256 of the certificate of the last sign-in.
    pub known_certificate: Option<[u8; 32]>,
    /// The certificate refused last: the only one the user can pin.
    pub refused_certificate: Option<[u8; 32]>,
    /// What was wrong with it, comma separated.
    pub refused_problems: Option<String>,
    /// The strongest SASL mechanism a sign-in used.
    pub sasl_mechanism: Option<String>,
    /// Whether that sign-in used tls-exporter channel binding.
    pub channel_binding: bool,
    /// Whether the server signed its mechanism list (XEP-0474).
    pub sasl_ssdp: bool,
    /// The weaker sign-in refused last: the one the user can accept.
    pub refused_sasl_mechanism: Option<String>,
    /// Whether that weaker sign-in had channel binding.
    pub refused_channel_binding: bool,
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

    /// Records that the user trusts this certificate for this account, for
    /// an untrusted issuer only. See [`Store::pin_certificate_accepting`].
    pub async fn pin_certificate(&self, jid: &str, sha256: &[u8; 32]) -> Result<()> {
        self.pin_certificate_accepting(jid, sha256, "untrusted")
            .await
    }

    /// Records that the user trusts this certificate for this account
    /// despite the problems listed in `accepts` (comma separated). It
    /// replaces any earlier pin: an account has at most one.
    pub async fn pin_certificate_accepting(
        &self,
        jid: &str,
        sha256: &[u8; 32],
        accepts: &str,
    ) -> Result<()> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM pinned_certificates WHERE account_jid = ?1")
            .bind(jid)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO pinned_certificates (account_jid, sha256, pinned_at, accepts) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(jid)
        .bind(&sha256[..])
        .bind(now_unix())
        .bind(accepts)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The certificate pinned for this account, if any.
    pub async fn pinned_certificate(&self, jid: &str) -> Result<Option<PinnedCertificate>> {
        let row =
            sqlx::query("SELECT sha256, accepts FROM pinned_certificates WHERE account_jid = ?1")
                .bind(jid)
                .fetch_optional(self.pool())
                .await?;
        let Some(r) = row else { return Ok(None) };
        let blob: Vec<u8> = r.try_get("sha256")?;
        Ok(fingerprint(&blob).map(|sha256| PinnedCertificate {
            sha256,
            accepts: r.try_get("accepts").unwrap_or_default(),
        }))
    }

    /// What Tern remembers about this account's server (all empty for an
    /// account that never connected).
    pub async fn server_security(&self, jid: &str) -> Result<ServerSecurity> {
        let row = sqlx::query(
            "SELECT known_certificate, refused_certificate, refused_problems, sasl_mechanism,
                    channel_binding, sasl_ssdp, refused_sasl_mechanism, refused_channel_binding
             FROM server_security WHERE account_jid = ?1",
        )
        .bind(jid)
        .fetch_optional(self.pool())
        .await?;
        let Some(r) = row else {
            return Ok(ServerSecurity::default());
        };
        let known: Option<Vec<u8>> = r.try_get("known_certificate")?;
        let refused: Option<Vec<u8>> = r.try_get("refused_certificate")?;
        Ok(ServerSecurity {
            known_certificate: known.as_deref().and_then(fingerprint),
            refused_certificate: refused.as_deref().and_then(fingerprint),
            refused_problems: r.try_get("refused_problems")?,
            sasl_mechanism: r.try_get("sasl_mechanism")?,
            channel_binding: r.try_get("channel_binding")?,
            sasl_ssdp: r.try_get("sasl_ssdp")?,
            refused_sasl_mechanism: r.try_get("refused_sasl_mechanism")?,
            refused_channel_binding: r.try_get("refused_channel_binding")?,
        })
    }

    /// Changes what Tern remembers about this account's server, in one
    /// transaction (read, change, write), and returns the new record. Fails
    /// for an account that does not exist.
    pub async fn update_server_security(
        &self,
        jid: &str,
        change: impl FnOnce(&mut ServerSecurity),
    ) -> Result<ServerSecurity> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query(
            "SELECT known_certificate, refused_certificate, refused_problems, sasl_mechanism,
                    channel_binding, sasl_ssdp, refused_sasl_mechanism, refused_channel_binding
             FROM server_security WHERE account_jid = ?1",
        )
        .bind(jid)
        .fetch_optional(&mut *tx)
        .await?;
        let mut s = match row {
            None => ServerSecurity::default(),
            Some(r) => {
                let known: Option<Vec<u8>> = r.try_get("known_certificate")?;
                let refused: Option<Vec<u8>> = r.try_get("refused_certificate")?;
                ServerSecurity {
                    known_certificate: known.as_deref().and_then(fingerprint),
                    refused_certificate: refused.as_deref().and_then(fingerprint),
                    refused_problems: r.try_get("refused_problems")?,
                    sasl_mechanism: r.try_get("sasl_mechanism")?,
                    channel_binding: r.try_get("channel_binding")?,
                    sasl_ssdp: r.try_get("sasl_ssdp")?,
                    refused_sasl_mechanism: r.try_get("refused_sasl_mechanism")?,
                    refused_channel_binding: r.try_get("refused_channel_binding")?,
                }
            }
        };
        change(&mut s);
        sqlx::query(
            "INSERT INTO server_security (account_jid, known_certificate, refused_certificate,
                 refused_problems, sasl_mechanism, channel_binding, sasl_ssdp,
                 refused_sasl_mechanism, refused_channel_binding, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(account_jid) DO UPDATE SET known_certificate = ?2,
                 refused_certificate = ?3, refused_problems = ?4, sasl_mechanism = ?5,
                 channel_binding = ?6, sasl_ssdp = ?7, refused_sasl_mechanism = ?8,
                 refused_channel_binding = ?9, updated_at = ?10",
        )
        .bind(jid)
        .bind(s.known_certificate.map(|f| f.to_vec()))
        .bind(s.refused_certificate.map(|f| f.to_vec()))
        .bind(&s.refused_problems)
        .bind(&s.sasl_mechanism)
        .bind(s.channel_binding)
        .bind(s.sasl_ssdp)
        .bind(&s.refused_sasl_mechanism)
        .bind(s.refused_channel_binding)
        .bind(now_unix())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(s)
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
            out.extend(fingerprint(&blob));
        }
        Ok(out)
    }
}

fn fingerprint(blob: &[u8]) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(blob).ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    async fn store_with(jid: &str) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_dir(dir.path()).await.unwrap();
        store
            .upsert_account(&StoredAccount {
                jid: jid.into(),
                enabled: true,
                resource: None,
                host_override: None,
                port_override: None,
                direct_tls: false,
            })
            .await
            .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn one_pin_per_account_and_what_it_accepts() {
        let (_dir, store) = store_with("a@example.org").await;
        assert_eq!(
            store.pinned_certificate("a@example.org").await.unwrap(),
            None
        );
        store
            .pin_certificate_accepting("a@example.org", &[1; 32], "untrusted,name")
            .await
            .unwrap();
        store
            .pin_certificate_accepting("a@example.org", &[2; 32], "untrusted")
            .await
            .unwrap();
        assert_eq!(
            store.pinned_certificates("a@example.org").await.unwrap(),
            vec![[2; 32]]
        );
        assert_eq!(
            store.pinned_certificate("a@example.org").await.unwrap(),
            Some(PinnedCertificate {
                sha256: [2; 32],
                accepts: "untrusted".into()
            })
        );
    }

    #[tokio::test]
    async fn server_security_is_remembered_and_goes_with_the_account() {
        let (_dir, store) = store_with("a@example.org").await;
        assert_eq!(
            store.server_security("a@example.org").await.unwrap(),
            ServerSecurity::default()
        );
        let s = store
            .update_server_security("a@example.org", |s| {
                s.known_certificate = Some([3; 32]);
                s.sasl_mechanism = Some("SCRAM-SHA-1".into());
                s.channel_binding = true;
            })
            .await
            .unwrap();
        assert_eq!(s.sasl_mechanism.as_deref(), Some("SCRAM-SHA-1"));
        store
            .update_server_security("a@example.org", |s| {
                s.refused_certificate = Some([4; 32]);
                s.refused_problems = Some("untrusted".into());
            })
            .await
            .unwrap();
        let s = store.server_security("a@example.org").await.unwrap();
        assert_eq!(s.known_certificate, Some([3; 32]));
        assert_eq!(s.refused_certificate, Some([4; 32]));
        assert!(s.channel_binding);
        assert!(store
            .update_server_security("nobody@example.org", |_| {})
            .await
            .is_err());
        store.remove_account("a@example.org").await.unwrap();
        assert_eq!(
            store.server_security("a@example.org").await.unwrap(),
            ServerSecurity::default()
        );
    }
}
