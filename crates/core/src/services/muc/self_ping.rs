//! XEP-0410 MUC Self-Ping: a room that stayed silent for a while is asked
//! whether the user is still in it (a server restart or a lost s2s link
//! can drop the membership without a word). Not in: joined again.

use std::time::Duration;

use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::{BareJid, FullJid};
use xmpp_parsers::stanza_error::DefinedCondition;

use super::join::{join, JoinRequest};
use crate::account::AccountHandle;
use crate::events::RoomStatus;
use crate::xep::muc::{self, SelfPing};

/// Checks the silent rooms now and then, for as long as the session lasts.
pub(crate) async fn run(h: AccountHandle) {
    let after = h.ctx().room_ping_after;
    let tick = (after / 4).clamp(Duration::from_millis(200), Duration::from_secs(60));
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        check(&h, after).await;
    }
}

/// Pings each joined room silent for longer than `after`; rejoins those
/// that say the user is not in.
pub(crate) async fn check(h: &AccountHandle, after: Duration) {
    let ctx = h.ctx();
    let now = crate::account::ctx::now_ms();
    let due: Vec<(BareJid, String)> = ctx.rooms.with(|rooms| {
        rooms
            .values_mut()
            .filter(|r| {
                r.status == RoomStatus::Joined && now - r.last_heard_ms >= after.as_millis() as i64
            })
            .map(|r| {
                // Not again before the next period, whatever the answer.
                r.last_heard_ms = now;
                (r.jid.clone(), r.nick.clone())
            })
            .collect()
    });
    for (room, nick) in due {
        let Ok(occupant) = FullJid::new(&format!("{room}/{nick}")) else {
            continue;
        };
        let answer = h.request(muc::self_ping(&occupant)).await;
        let verdict = match &answer {
            Ok(Iq::Result { .. }) => muc::read_self_ping(None, false),
            Err(crate::Error::Stanza { condition, .. }) => {
                let c = condition_of(condition);
                muc::read_self_ping(c.as_ref(), false)
            }
            Err(crate::Error::Timeout) => muc::read_self_ping(None, true),
            _ => SelfPing::Unknown,
        };
        if verdict == SelfPing::NotJoined {
            tracing::info!(%room, "self-ping: no longer in the room; joining again");
            ctx.rooms.with_room(&room, |r| {
                r.status = RoomStatus::Left;
                r.clear_occupants();
            });
            let req = JoinRequest {
                wait: false,
                ..Default::default()
            };
            if let Err(e) = join(h, &room, req).await {
                tracing::info!(%room, "rejoin after self-ping failed: {e}");
            }
        }
    }
}

/// The condition named `name` (`not-acceptable`, …).
fn condition_of(name: &str) -> Option<DefinedCondition> {
    Some(match name {
        "not-acceptable" => DefinedCondition::NotAcceptable,
        "service-unavailable" => DefinedCondition::ServiceUnavailable,
        "feature-not-implemented" => DefinedCondition::FeatureNotImplemented,
        "item-not-found" => DefinedCondition::ItemNotFound,
        "remote-server-not-found" => DefinedCondition::RemoteServerNotFound,
        "remote-server-timeout" => DefinedCondition::RemoteServerTimeout,
        _ => return None,
    })
}
