//! XEP-0085: Chat State Notifications: typing (`composing`), `paused`,
//! `active`, `inactive`, `gone`. Tern names them by their element names.

use xmpp_parsers::chatstates::ChatState;
use xmpp_parsers::minidom::Element;

/// The state called `name` (its element name).
pub(crate) fn from_name(name: &str) -> Option<ChatState> {
    Some(match name {
        "active" => ChatState::Active,
        "composing" => ChatState::Composing,
        "paused" => ChatState::Paused,
        "inactive" => ChatState::Inactive,
        "gone" => ChatState::Gone,
        _ => return None,
    })
}

/// The element name of `state`.
pub(crate) fn name(state: &ChatState) -> &'static str {
    match state {
        ChatState::Active => "active",
        ChatState::Composing => "composing",
        ChatState::Paused => "paused",
        ChatState::Inactive => "inactive",
        ChatState::Gone => "gone",
    }
}

/// The state `el` notifies, by name.
pub(crate) fn read(el: &Element) -> Option<&'static str> {
    ChatState::try_from(el.clone()).ok().as_ref().map(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    const NS: &str = "http://jabber.org/protocol/chatstates";

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0085 §6, Example 3: initial content message with <active/>.
        let m = el("<message xmlns='jabber:client'
    from='bernardo@shakespeare.lit/pda'
    to='francisco@shakespeare.lit'
    type='chat'>
  <body>Who's there?</body>
  <active xmlns='http://jabber.org/protocol/chatstates'/>
</message>");
        assert_eq!(read(m.get_child("active", NS).unwrap()), Some("active"));
        // XEP-0085 §6, Example 5: standalone <composing/> notification.
        let m = el("<message xmlns='jabber:client'
    from='bernardo@shakespeare.lit/pda'
    to='francisco@shakespeare.lit/elsinore'
    type='chat'>
  <composing xmlns='http://jabber.org/protocol/chatstates'/>
</message>");
        assert_eq!(
            read(m.get_child("composing", NS).unwrap()),
            Some("composing")
        );
    }

    #[test]
    fn unknown_states_are_nothing() {
        assert_eq!(
            read(&el(
                "<typing xmlns='http://jabber.org/protocol/chatstates'/>"
            )),
            None
        );
        assert_eq!(read(&el("<active xmlns='urn:example:chatstates'/>")), None);
        assert_eq!(from_name("typing"), None);
        assert_eq!(from_name("Active"), None);
    }

    #[test]
    fn every_state_round_trips() {
        for n in ["active", "composing", "paused", "inactive", "gone"] {
            let state = from_name(n).unwrap();
            let e = wire(state);
            assert!(e.is(n, NS));
            assert_eq!(read(&e), Some(n));
        }
    }
}
