//! Services, one per concern, each owning its state. [`register`] is the
//! one list of what each service handles on the wire.

pub(crate) mod archive;
pub(crate) mod blocking;
pub(crate) mod calls;
pub(crate) mod caps;
pub(crate) mod chat;
pub(crate) mod contacts;
pub(crate) mod files;
pub(crate) mod muc;
pub(crate) mod omemo;
pub(crate) mod profile;
pub(crate) mod registration;
pub(crate) mod roster;

use xmpp_parsers::stanza_error::DefinedCondition;

use crate::account::router::{IqKind, Router};

const NS_PING: &str = "urn:xmpp:ping";
const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
const NS_ROSTER: &str = "jabber:iq:roster";
const NS_BLOCKING: &str = "urn:xmpp:blocking";
const NS_PUBSUB_EVENT: &str = "http://jabber.org/protocol/pubsub#event";
const NS_CONFERENCE: &str = "jabber:x:conference";
const NS_RECEIPTS: &str = "urn:xmpp:receipts";

/// Registers every service's stanza handlers.
pub(crate) fn register(r: &mut Router) {
    // XEP-0199: the server (or a contact) checks the user is there. A
    // stranger gets `service-unavailable`, what the server answers for a
    // resource that is not online (RFC 6121 §8.5.3.1), unless the user
    // chose to answer strangers.
    r.on_iq(IqKind::Get, ("ping", NS_PING), |h, req| async move {
        if !caps::tells(h.ctx(), req.from.as_ref()).await {
            return Err(DefinedCondition::ServiceUnavailable);
        }
        Ok(None)
    });
    // XEP-0030 and XEP-0115: what Tern supports, for the user's server, the
    // user's other clients and people the user knows; a stranger gets
    // `service-unavailable` likewise (XEP-0030 §8: what software runs here
    // is no stranger's business). Software version (XEP-0092) is not
    // answered at all (the router's `service-unavailable`).
    r.on_iq(IqKind::Get, ("query", NS_DISCO_INFO), |h, req| async move {
        if !caps::tells(h.ctx(), req.from.as_ref()).await {
            return Err(DefinedCondition::ServiceUnavailable);
        }
        caps::answer_info(&req.payload, h.ctx().calls.available())
            .map(|info| Some(info.into()))
            .ok_or(DefinedCondition::ItemNotFound)
    });
    // RFC 6121: the server changes a contact.
    r.on_iq(IqKind::Set, ("query", NS_ROSTER), |h, req| async move {
        roster::on_roster_push(h.ctx(), h.presences(), req.from, req.payload).await
    });
    // XEP-0191: another client (or the server) changed the blocklist.
    for name in ["block", "unblock"] {
        r.on_iq(IqKind::Set, (name, NS_BLOCKING), |h, req| async move {
            let ctx = h.ctx();
            match blocking::on_push(&ctx.own, req.from.as_ref(), &req.payload) {
                Some(ev) => {
                    ctx.hub.emit(ev);
                    Ok(None)
                }
                _ => Err(DefinedCondition::BadRequest),
            }
        });
    }
    // XEP-0163: contacts' avatar and nickname changes, and OMEMO device
    // lists (XEP-0384), contacts' and the user's own.
    r.on_message(("event", NS_PUBSUB_EVENT), |h, m| async move {
        let event = m.payloads.iter().find(|p| p.is("event", NS_PUBSUB_EVENT));
        if let (Some(from), Some(event)) = (m.from.as_ref(), event) {
            if let Some(list) = crate::xep::omemo::read_devicelist_event(event) {
                omemo::pep::on_device_list(&h, from, list).await;
                return Vec::new();
            }
            // XEP-0402: the user's bookmarks changed on another client
            // (only the user's own account speaks for them).
            if crate::xep::bookmarks::read_event(event).is_some() {
                if crate::xep::from_own_account(Some(from), &h.ctx().own) {
                    muc::bookmarks::on_event(&h, event).await;
                }
                return Vec::new();
            }
            profile::on_pep_event(&h, from, event).await;
        }
        Vec::new()
    });
    // XEP-0249: a direct invitation to a room.
    r.on_message(("x", NS_CONFERENCE), |h, m| async move {
        muc::invites::on_message(&h, &m).await;
        Vec::new()
    });
    // XEP-0045: a mediated invitation (from the room), else a private
    // message through a room or a room's status message: the pipeline.
    r.on_message(("x", crate::xep::muc::NS_MUC_USER), |h, m| async move {
        if muc::invites::is_invitation(&m) {
            muc::invites::on_message(&h, &m).await;
            return Vec::new();
        }
        if m.from
            .as_ref()
            .is_some_and(|f| h.ctx().rooms.has(&f.to_bare()))
        {
            muc::members::on_notice(&h, &m);
        }
        crate::inbound::on_message(h.ctx(), m).await
    });
    // RFC 6121: presence and subscription requests.
    // XEP-0045: presences from the account's rooms are occupants.
    r.on_presence(|h, p| async move {
        if muc::presence::from_room(&h, &p) {
            return muc::presence::on_presence(&h, p).await;
        }
        roster::on_presence(&h, p).await;
        Vec::new()
    });
    // XEP-0353: calls proposed, answered, declined, withdrawn, ended
    // (`calls`). XEP-0166: the Jingle session of a call.
    for name in [
        "propose", "ringing", "proceed", "accept", "reject", "retract", "finish",
    ] {
        r.on_message(
            (name, crate::xep::jingle_message::NS_JMI),
            |h, m| async move {
                let calls = h.ctx().calls.clone();
                calls.on_jmi(&h, &m).await
            },
        );
    }
    r.on_iq(
        IqKind::Set,
        ("jingle", crate::xep::jingle::NS_JINGLE),
        |h, req| async move {
            let calls = h.ctx().calls.clone();
            calls.on_jingle(&h, req)
        },
    );
    // XEP-0280: a carbon of a call's JMI message (a proposal to the user's
    // other device rings here too; an answer from the other device stops
    // it); any other carbon is the pipeline's.
    for name in ["received", "sent"] {
        r.on_message((name, "urn:xmpp:carbons:2"), |h, m| async move {
            let own = h.ctx().own.clone();
            let inner = crate::xep::message::unwrap_forwarded(&m, &own)
                .filter(|u| u.source == crate::xep::message::Source::Carbon)
                .map(|u| u.message)
                .filter(|inner| {
                    inner
                        .payloads
                        .iter()
                        .any(|p| p.ns() == crate::xep::jingle_message::NS_JMI)
                });
            if let Some(inner) = inner {
                let calls = h.ctx().calls.clone();
                return calls.on_jmi(&h, &inner).await;
            }
            crate::inbound::on_message(h.ctx(), m).await
        });
    }
    // XEP-0184: a receipt for a call's proposal says a device of the
    // contact rings (Conversations); any other receipt is the pipeline's.
    r.on_message(("received", NS_RECEIPTS), |h, m| async move {
        if let Some(sid) = crate::xep::jingle_message::receipt_proposal_sid(&m) {
            if let Some(from) = m.from.as_ref() {
                h.ctx().calls.on_propose_receipt(&sid, from);
            }
            return Vec::new();
        }
        crate::inbound::on_message(h.ctx(), m).await
    });
    // Every other message: the inbound pipeline.
    r.on_other_messages(|h, m| async move { crate::inbound::on_message(h.ctx(), m).await });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_iq_table_holds_what_tern_answers() {
        let mut r = Router::default();
        register(&mut r);
        assert_eq!(
            r.iq_keys(),
            vec![
                (IqKind::Get, "ping", NS_PING),
                (IqKind::Get, "query", NS_DISCO_INFO),
                (IqKind::Set, "block", NS_BLOCKING),
                (IqKind::Set, "jingle", crate::xep::jingle::NS_JINGLE),
                (IqKind::Set, "query", NS_ROSTER),
                (IqKind::Set, "unblock", NS_BLOCKING),
            ]
        );
    }
}
