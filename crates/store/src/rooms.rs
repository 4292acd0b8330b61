//! Group chats (XEP-0045 rooms) the user is in, and invitations to rooms.

use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::{Result, Store};

/// A room of an account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomRow {
    /// The room's bare JID.
    pub jid: String,
    /// Its name (from the bookmark or the room).
    pub name: Option<String>,
    /// The nickname the user chose here (`None`: the account's).
    pub nick: Option<String>,
    /// The room's password, if it has one.
    pub password: Option<String>,
    /// Join it after each new session.
    pub autojoin: bool,
    /// A bookmark exists for it on the server (XEP-0402).
    pub bookmarked: bool,
    /// 0 unknown, 1 private group, 2 public channel.
    pub kind: i64,
    /// The room's subject.
    pub subject: Option<String>,
    /// 0 the kind's default, 1 all messages, 2 mentions only, 3 nothing.
    pub notify: i64,
    /// The newest id of the room's archive seen.
    pub mam_newest_id: Option<String>,
    /// The oldest id of the room's archive fetched.
    pub mam_oldest_id: Option<String>,
    /// The room's archive was read back to its beginning.
    pub mam_complete: bool,
    /// What the room's disco#info said (JSON).
    pub features: String,
}

const COLUMNS: &str = "jid, name, nick, password, autojoin, bookmarked, kind, subject, notify, mam_newest_id, mam_oldest_id, mam_complete, features";

fn room(r: &SqliteRow) -> Result<RoomRow> {
    Ok(RoomRow {
        jid: r.try_get("jid")?,
        name: r.try_get("name")?,
        nick: r.try_get("nick")?,
        password: r.try_get("password")?,
        autojoin: r.try_get("autojoin")?,
        bookmarked: r.try_get("bookmarked")?,
        kind: r.try_get("kind")?,
        subject: r.try_get("subject")?,
        notify: r.try_get("notify")?,
        mam_newest_id: r.try_get("mam_newest_id")?,
        mam_oldest_id: r.try_get("mam_oldest_id")?,
        mam_complete: r.try_get("mam_complete")?,
        features: r.try_get("features")?,
    })
}

/// An invitation to a room, not answered yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvitationRow {
    /// The room's bare JID.
    pub room: String,
    /// Who invites (bare JID).
    pub inviter: String,
    /// Their words.
    pub reason: Option<String>,
    /// The room's password, when the invitation carries it.
    pub password: Option<String>,
    /// When it arrived, ms.
    pub received_ms: i64,
}

impl Store {
    /// The rooms of an account, by JID.
    pub async fn rooms(&self, account: &str) -> Result<Vec<RoomRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rooms WHERE account_jid = ?1 ORDER BY jid"
        ))
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(room).collect()
    }

    /// One room of an account.
    pub async fn room(&self, account: &str, jid: &str) -> Result<Option<RoomRow>> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM rooms WHERE account_jid = ?1 AND jid = ?2"
        ))
        .bind(account)
        .bind(jid)
        .fetch_optional(self.pool())
        .await?;
        r.as_ref().map(room).transpose()
    }

    /// Adds or replaces a room's settings (name, nick, password, autojoin,
    /// bookmarked, kind, notify, features). The archive position and the
    /// subject of a known room are kept.
    pub async fn upsert_room(&self, account: &str, r: &RoomRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO rooms (account_jid, jid, name, nick, password, autojoin, bookmarked, kind, subject, notify, features)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT(account_jid, jid) DO UPDATE SET name = ?3, nick = ?4, password = ?5,
                autojoin = ?6, bookmarked = ?7, kind = ?8, subject = COALESCE(?9, subject),
                notify = ?10, features = ?11",
        )
        .bind(account)
        .bind(&r.jid)
        .bind(&r.name)
        .bind(&r.nick)
        .bind(&r.password)
        .bind(r.autojoin)
        .bind(r.bookmarked)
        .bind(r.kind)
        .bind(&r.subject)
        .bind(r.notify)
        .bind(&r.features)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Records how far the room's archive was read: the newest id seen
    /// (kept when `newest` is `None`), the oldest fetched (likewise), and
    /// whether its beginning was reached.
    pub async fn set_room_archive_state(
        &self,
        account: &str,
        jid: &str,
        newest: Option<&str>,
        oldest: Option<&str>,
        complete: Option<bool>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE rooms SET mam_newest_id = COALESCE(?3, mam_newest_id),
                mam_oldest_id = COALESCE(?4, mam_oldest_id),
                mam_complete = COALESCE(?5, mam_complete)
             WHERE account_jid = ?1 AND jid = ?2",
        )
        .bind(account)
        .bind(jid)
        .bind(newest)
        .bind(oldest)
        .bind(complete)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Forgets a room (its messages stay until the conversation is deleted).
    pub async fn remove_room(&self, account: &str, jid: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM rooms WHERE account_jid = ?1 AND jid = ?2")
            .bind(account)
            .bind(jid)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Invitations of an account not answered yet, oldest first.
    pub async fn invitations(&self, account: &str) -> Result<Vec<InvitationRow>> {
        let rows = sqlx::query(
            "SELECT room, inviter, reason, password, received_ms FROM room_invitations
             WHERE account_jid = ?1 ORDER BY received_ms",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(InvitationRow {
                    room: r.try_get("room")?,
                    inviter: r.try_get("inviter")?,
                    reason: r.try_get("reason")?,
                    password: r.try_get("password")?,
                    received_ms: r.try_get("received_ms")?,
                })
            })
            .collect()
    }

    /// Keeps an invitation (a newer one to the same room replaces it).
    /// At most `limit` are kept per account: the oldest go first.
    pub async fn add_invitation(
        &self,
        account: &str,
        inv: &InvitationRow,
        limit: i64,
    ) -> Result<()> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO room_invitations (account_jid, room, inviter, reason, password, received_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(account_jid, room) DO UPDATE SET inviter = ?3, reason = ?4,
                password = ?5, received_ms = ?6",
        )
        .bind(account)
        .bind(&inv.room)
        .bind(&inv.inviter)
        .bind(&inv.reason)
        .bind(&inv.password)
        .bind(inv.received_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM room_invitations WHERE account_jid = ?1 AND room NOT IN
               (SELECT room FROM room_invitations WHERE account_jid = ?1
                ORDER BY received_ms DESC LIMIT ?2)",
        )
        .bind(account)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes an invitation; returns it if there was one.
    pub async fn take_invitation(
        &self,
        account: &str,
        room: &str,
    ) -> Result<Option<InvitationRow>> {
        let r = sqlx::query(
            "DELETE FROM room_invitations WHERE account_jid = ?1 AND room = ?2
             RETURNING room, inviter, reason, password, received_ms",
        )
        .bind(account)
        .bind(room)
        .fetch_optional(self.pool())
        .await?;
        r.map(|r| {
            Ok(InvitationRow {
                room: r.try_get("room")?,
                inviter: r.try_get("inviter")?,
                reason: r.try_get("reason")?,
                password: r.try_get("password")?,
                received_ms: r.try_get("received_ms")?,
            })
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoredAccount;

    async fn store() -> Store {
        let s = Store::open_in_memory().await.unwrap();
        s.upsert_account(&StoredAccount {
            jid: "juliet@capulet.lit".into(),
            enabled: false,
            resource: None,
            host_override: None,
            port_override: None,
            direct_tls: false,
        })
        .await
        .unwrap();
        s
    }

    #[tokio::test]
    async fn rooms_keep_their_archive_position_across_updates() {
        let s = store().await;
        let a = "juliet@capulet.lit";
        let mut r = RoomRow {
            jid: "coven@chat.shakespeare.lit".into(),
            nick: Some("thirdwitch".into()),
            autojoin: true,
            features: "{}".into(),
            ..RoomRow::default()
        };
        s.upsert_room(a, &r).await.unwrap();
        s.set_room_archive_state(a, &r.jid, Some("n1"), Some("o1"), None)
            .await
            .unwrap();
        s.commit(&[crate::Change::RoomSubject {
            account: a.into(),
            room: r.jid.clone(),
            subject: "Fire burn".into(),
        }])
        .await
        .unwrap();
        r.name = Some("The Coven".into());
        s.upsert_room(a, &r).await.unwrap();
        let got = s.room(a, &r.jid).await.unwrap().unwrap();
        assert_eq!(got.name.as_deref(), Some("The Coven"));
        assert_eq!(got.mam_newest_id.as_deref(), Some("n1"));
        assert_eq!(got.mam_oldest_id.as_deref(), Some("o1"));
        assert_eq!(got.subject.as_deref(), Some("Fire burn"));
        s.set_room_archive_state(a, &r.jid, Some("n2"), None, Some(true))
            .await
            .unwrap();
        let got = s.room(a, &r.jid).await.unwrap().unwrap();
        assert_eq!(
            (
                got.mam_newest_id.as_deref(),
                got.mam_oldest_id.as_deref(),
                got.mam_complete
            ),
            (Some("n2"), Some("o1"), true)
        );
        assert_eq!(s.rooms(a).await.unwrap().len(), 1);
        assert!(s.remove_room(a, &r.jid).await.unwrap());
        assert!(s.rooms(a).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn invitations_are_bounded_and_taken_once() {
        let s = store().await;
        let a = "juliet@capulet.lit";
        for i in 0..10 {
            s.add_invitation(
                a,
                &InvitationRow {
                    room: format!("r{i}@chat.example"),
                    inviter: "mallory@evil.example".into(),
                    reason: None,
                    password: None,
                    received_ms: i,
                },
                4,
            )
            .await
            .unwrap();
        }
        let kept: Vec<String> = s
            .invitations(a)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.room)
            .collect();
        assert_eq!(
            kept,
            [
                "r6@chat.example",
                "r7@chat.example",
                "r8@chat.example",
                "r9@chat.example"
            ]
        );
        assert!(s
            .take_invitation(a, "r9@chat.example")
            .await
            .unwrap()
            .is_some());
        assert!(s
            .take_invitation(a, "r9@chat.example")
            .await
            .unwrap()
            .is_none());
    }
}
