//! The state the UI starts from, and how each event changes it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{AccountView, ClientEvent, Subscription};

/// Most subscription requests kept per account (a flood of requests from
/// strangers must not grow without bound; the oldest go first).
const MAX_REQUESTS: usize = 500;

/// Everything the UI needs to draw, at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Snapshot {
    /// Accounts, in the order they were added.
    pub accounts: Vec<AccountView>,
    /// Presence subscription requests not answered yet, oldest first.
    pub requests: Vec<SubscriptionRequest>,
    /// Blocked addresses per account, as the server last told (XEP-0191).
    pub blocked: BTreeMap<String, BTreeSet<String>>,
    /// Group chats of every account.
    pub rooms: Vec<crate::RoomView>,
    /// Invitations to rooms not answered yet, oldest first.
    pub invitations: Vec<crate::InvitationView>,
}

/// Someone asks to see an account's presence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SubscriptionRequest {
    /// Account asked.
    pub account: String,
    /// Who asks (bare JID).
    pub from: String,
    /// The nickname they gave (XEP-0172).
    pub nick: Option<String>,
}

impl Snapshot {
    /// Applies one event (the same logic the UI uses).
    pub fn apply(&mut self, ev: &ClientEvent) {
        match ev {
            ClientEvent::AccountAdded { account } => {
                self.accounts.retain(|a| a.jid != account.jid);
                self.accounts.push(account.clone());
            }
            ClientEvent::AccountRemoved { jid } => {
                self.accounts.retain(|a| &a.jid != jid);
                self.requests.retain(|r| &r.account != jid);
                self.blocked.remove(jid);
                self.rooms.retain(|r| &r.account != jid);
                self.invitations.retain(|i| &i.account != jid);
            }
            ClientEvent::Room { room } => {
                match self
                    .rooms
                    .iter_mut()
                    .find(|r| r.account == room.account && r.jid == room.jid)
                {
                    Some(r) => *r = room.clone(),
                    None => self.rooms.push(room.clone()),
                }
            }
            ClientEvent::RoomRemoved { account, jid } => {
                self.rooms
                    .retain(|r| !(&r.account == account && &r.jid == jid));
            }
            ClientEvent::Occupants {
                account,
                room,
                count,
                ..
            } => {
                if let Some(r) = self
                    .rooms
                    .iter_mut()
                    .find(|r| &r.account == account && &r.jid == room)
                {
                    r.occupants = *count;
                }
            }
            ClientEvent::Invitation { invitation } => {
                self.invitations
                    .retain(|i| !(i.account == invitation.account && i.room == invitation.room));
                self.invitations.push(invitation.clone());
            }
            ClientEvent::InvitationRemoved { account, room } => {
                self.invitations
                    .retain(|i| !(&i.account == account && &i.room == room));
            }
            ClientEvent::AccountEnabled { jid, enabled } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| &a.jid == jid) {
                    a.enabled = *enabled;
                }
            }
            ClientEvent::AccountState { jid, state } => {
                if let Some(a) = self.accounts.iter_mut().find(|a| &a.jid == jid) {
                    a.state = state.clone();
                }
            }
            ClientEvent::SubscriptionRequest {
                account,
                from,
                nick,
            } => {
                self.answered(account, from);
                if self
                    .requests
                    .iter()
                    .filter(|r| &r.account == account)
                    .count()
                    >= MAX_REQUESTS
                {
                    if let Some(i) = self.requests.iter().position(|r| &r.account == account) {
                        self.requests.remove(i);
                    }
                }
                self.requests.push(SubscriptionRequest {
                    account: account.clone(),
                    from: from.clone(),
                    nick: nick.clone(),
                });
            }
            ClientEvent::SubscriptionRequestRemoved { account, from } => {
                self.answered(account, from);
            }
            ClientEvent::Contact { contact } => {
                if matches!(
                    contact.subscription,
                    Subscription::From | Subscription::Both
                ) {
                    self.answered(&contact.account, &contact.jid);
                }
            }
            ClientEvent::Blocklist {
                account,
                blocked,
                unblocked,
                unblocked_all,
            } => {
                let list = self.blocked.entry(account.clone()).or_default();
                if *unblocked_all {
                    list.clear();
                }
                for jid in unblocked {
                    list.remove(jid);
                }
                list.extend(blocked.iter().cloned());
            }
            _ => {}
        }
    }

    fn answered(&mut self, account: &str, from: &str) {
        self.requests
            .retain(|r| !(r.account == account && r.from == from));
    }

    /// The view of one account.
    pub fn account(&self, jid: &str) -> Option<&AccountView> {
        self.accounts.iter().find(|a| a.jid == jid)
    }

    /// Whether `from` has an unanswered request to `account`.
    pub fn has_request(&self, account: &str, from: &str) -> bool {
        self.requests
            .iter()
            .any(|r| r.account == account && r.from == from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::ContactView;

    fn request(account: &str, from: &str, nick: Option<&str>) -> ClientEvent {
        ClientEvent::SubscriptionRequest {
            account: account.into(),
            from: from.into(),
            nick: nick.map(str::to_string),
        }
    }

    fn contact(account: &str, jid: &str, subscription: &str) -> ClientEvent {
        ClientEvent::Contact {
            contact: ContactView {
                account: account.into(),
                jid: jid.into(),
                name: None,
                subscription: Subscription::from_name(subscription).unwrap_or(Subscription::None),
                ask: false,
                groups: Vec::new(),
                presence: Vec::new(),
                avatar: None,
                nickname: None,
            },
        }
    }

    #[test]
    fn requests_stay_until_answered_or_subscribed() {
        let mut s = Snapshot::default();
        s.apply(&request("a@x", "b@y", None));
        s.apply(&request("a@x", "c@y", Some("Cee")));
        s.apply(&request("a@x", "b@y", Some("Bee")));
        assert_eq!(
            s.requests
                .iter()
                .map(|r| (r.from.as_str(), r.nick.as_deref()))
                .collect::<Vec<_>>(),
            vec![("c@y", Some("Cee")), ("b@y", Some("Bee"))],
            "once per address, the newest last"
        );
        s.apply(&contact("a@x", "c@y", "to"));
        assert!(s.has_request("a@x", "c@y"), "not yet allowed");
        s.apply(&contact("a@x", "c@y", "from"));
        assert!(!s.has_request("a@x", "c@y"));
        s.apply(&ClientEvent::SubscriptionRequestRemoved {
            account: "a@x".into(),
            from: "b@y".into(),
        });
        assert!(s.requests.is_empty());
    }

    #[test]
    fn requests_are_bounded_per_account() {
        let mut s = Snapshot::default();
        for i in 0..(MAX_REQUESTS + 10) {
            s.apply(&request("a@x", &format!("s{i}@spam"), None));
        }
        s.apply(&request("other@x", "friend@y", None));
        assert_eq!(s.requests.len(), MAX_REQUESTS + 1);
        assert!(!s.has_request("a@x", "s0@spam"), "the oldest go first");
        assert!(s.has_request("a@x", &format!("s{}@spam", MAX_REQUESTS + 9)));
        assert!(s.has_request("other@x", "friend@y"));
    }

    #[test]
    fn blocklist_changes_apply_in_the_documented_order() {
        let mut s = Snapshot::default();
        let change = |blocked: &[&str], unblocked: &[&str], all: bool| ClientEvent::Blocklist {
            account: "a@x".into(),
            blocked: blocked.iter().map(|j| j.to_string()).collect(),
            unblocked: unblocked.iter().map(|j| j.to_string()).collect(),
            unblocked_all: all,
        };
        s.apply(&change(&["b@y", "c@y"], &[], true));
        s.apply(&change(&["d@y"], &["b@y"], false));
        assert_eq!(
            s.blocked["a@x"]
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            vec!["c@y", "d@y"]
        );
        s.apply(&change(&["e@y"], &[], true));
        assert_eq!(s.blocked["a@x"].len(), 1);
        s.apply(&request("a@x", "f@y", None));
        s.apply(&ClientEvent::AccountRemoved { jid: "a@x".into() });
        assert!(s.blocked.is_empty() && s.requests.is_empty());
    }
}
