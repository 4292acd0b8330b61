//! Contacts (RFC 6121 roster items).

use sqlx::Row;

use crate::{Result, Store};

/// A stored roster item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RosterRow {
    /// Contact's bare JID.
    pub jid: String,
    /// Name the user gave it.
    pub name: Option<String>,
    /// `none`, `to`, `from` or `both`.
    pub subscription: String,
    /// A subscription request of ours is pending.
    pub ask: bool,
    /// Groups.
    pub groups: Vec<String>,
}

impl Store {
    /// The roster of an account, sorted by JID.
    pub async fn roster(&self, account: &str) -> Result<Vec<RosterRow>> {
        let rows = sqlx::query(
            "SELECT jid, name, subscription, ask, groups FROM roster_items WHERE account_jid = ?1 ORDER BY jid",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let groups: String = r.try_get("groups")?;
                Ok(RosterRow {
                    jid: r.try_get("jid")?,
                    name: r.try_get("name")?,
                    subscription: r.try_get("subscription")?,
                    ask: r.try_get("ask")?,
                    groups: decode_groups(&groups),
                })
            })
            .collect()
    }

    /// One roster item of an account, if `jid` is in its roster.
    pub async fn roster_item(&self, account: &str, jid: &str) -> Result<Option<RosterRow>> {
        let row = sqlx::query(
            "SELECT jid, name, subscription, ask, groups FROM roster_items WHERE account_jid = ?1 AND jid = ?2",
        )
        .bind(account)
        .bind(jid)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            let groups: String = r.try_get("groups")?;
            Ok(RosterRow {
                jid: r.try_get("jid")?,
                name: r.try_get("name")?,
                subscription: r.try_get("subscription")?,
                ask: r.try_get("ask")?,
                groups: decode_groups(&groups),
            })
        })
        .transpose()
    }

    /// Inserts or replaces a roster item.
    pub async fn upsert_roster_item(&self, account: &str, item: &RosterRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO roster_items (account_jid, jid, name, subscription, ask, groups) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(account_jid, jid) DO UPDATE SET name = ?3, subscription = ?4, ask = ?5, groups = ?6",
        )
        .bind(account)
        .bind(&item.jid)
        .bind(&item.name)
        .bind(&item.subscription)
        .bind(item.ask)
        .bind(encode_groups(&item.groups))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Removes a roster item.
    pub async fn remove_roster_item(&self, account: &str, jid: &str) -> Result<()> {
        sqlx::query("DELETE FROM roster_items WHERE account_jid = ?1 AND jid = ?2")
            .bind(account)
            .bind(jid)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Replaces the whole roster (a full roster result) and its version.
    pub async fn replace_roster(
        &self,
        account: &str,
        items: &[RosterRow],
        version: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM roster_items WHERE account_jid = ?1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        for item in items {
            sqlx::query(
                "INSERT OR REPLACE INTO roster_items (account_jid, jid, name, subscription, ask, groups) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(account)
            .bind(&item.jid)
            .bind(&item.name)
            .bind(&item.subscription)
            .bind(item.ask)
            .bind(encode_groups(&item.groups))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO account_state (account_jid, roster_version) VALUES (?1, ?2)
             ON CONFLICT(account_jid) DO UPDATE SET roster_version = ?2",
        )
        .bind(account)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

fn encode_groups(groups: &[String]) -> String {
    // A tiny JSON array encoder: the store does not depend on serde.
    let items: Vec<String> = groups
        .iter()
        .map(|g| {
            let mut s = String::from("\"");
            for c in g.chars() {
                match c {
                    '"' => s.push_str("\\\""),
                    '\\' => s.push_str("\\\\"),
                    c if (c as u32) < 0x20 => s.push_str(&format!("\\u{:04x}", c as u32)),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn decode_groups(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    let mut cur: Option<String> = None;
    while let Some(c) = chars.next() {
        match (&mut cur, c) {
            (None, '"') => cur = Some(String::new()),
            (Some(buf), '\\') => match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        buf.push(ch);
                    }
                }
                Some(other) => buf.push(other),
                None => {}
            },
            (Some(_), '"') => {
                if let Some(done) = cur.take() {
                    out.push(done);
                }
            }
            (Some(buf), c) => buf.push(c),
            (None, _) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip() {
        for g in [
            vec![],
            vec!["Friends".to_string()],
            vec!["a\"b".into(), "c\\d".into(), "é\n".into()],
        ] {
            assert_eq!(decode_groups(&encode_groups(&g)), g);
        }
    }
}
