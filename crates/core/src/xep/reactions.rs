//! XEP-0444: Message Reactions. A reactions element carries the whole set
//! of one sender's reactions to one message; an empty one removes them.

use xmpp_parsers::minidom::Element;
use xmpp_parsers::reactions::{Reaction, Reactions};

use super::{bounded_id, xml_text};

/// Most reactions accepted on one message from one sender.
pub(crate) const MAX_REACTIONS: usize = 32;
/// Longest reaction accepted, in bytes (one emoji, however composed).
pub(crate) const MAX_REACTION_BYTES: usize = 64;

/// The reactions `emojis` to message `id`.
pub(crate) fn reactions(id: &str, emojis: &[String]) -> Reactions {
    Reactions {
        id: xml_text(id),
        reactions: emojis
            .iter()
            .map(|e| Reaction { emoji: xml_text(e) })
            .collect(),
    }
}

/// The message reacted to and the reactions (sorted, without duplicates,
/// at most [`MAX_REACTIONS`]); an empty list removes the sender's reactions.
pub(crate) fn read(el: &Element) -> Option<(String, Vec<String>)> {
    let r = Reactions::try_from(el.clone()).ok()?;
    let id = bounded_id(&r.id)?;
    let mut emojis: Vec<String> = r
        .reactions
        .into_iter()
        .map(|r| r.emoji)
        .filter(|t| !t.is_empty() && t.len() <= MAX_REACTION_BYTES)
        .take(MAX_REACTIONS)
        .collect();
    emojis.sort();
    emojis.dedup();
    Some((id, emojis))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire, MAX_ID_LEN};

    const NS: &str = "urn:xmpp:reactions:0";

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0444 §3.2, Example 6: Juliet adds a 🐢 reaction to the message.
        let m = el("<message xmlns='jabber:client' to='romeo@capulet.net/orchard' id='96d73204-a57a-11e9-88b8-4889e7820c76' type='chat'>
  <reactions id='744f6e18-a57a-11e9-a656-4889e7820c76' xmlns='urn:xmpp:reactions:0'>
    <reaction>👋</reaction>
    <reaction>🐢</reaction>
  </reactions>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>");
        assert_eq!(
            read(m.get_child("reactions", NS).unwrap()),
            Some((
                "744f6e18-a57a-11e9-a656-4889e7820c76".into(),
                vec!["🐢".into(), "👋".into()]
            ))
        );
        // XEP-0444 §3.2, Example 7: Juliet removes all reactions.
        let m = el("<message xmlns='jabber:client' to='romeo@capulet.net/orchard' id='973c9d2e-a57a-11e9-af82-4889e7820c76' type='chat'>
  <reactions id='744f6e18-a57a-11e9-a656-4889e7820c76' xmlns='urn:xmpp:reactions:0'/>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>");
        assert_eq!(
            read(m.get_child("reactions", NS).unwrap()),
            Some(("744f6e18-a57a-11e9-a656-4889e7820c76".into(), Vec::new()))
        );
    }

    #[test]
    fn hostile_reactions_are_bounded() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            read(&el(&format!("<reactions xmlns='{NS}' id='{long}'/>"))),
            None
        );
        assert_eq!(read(&el(&format!("<reactions xmlns='{NS}'/>"))), None);
        assert_eq!(
            read(&el("<reactions xmlns='urn:xmpp:reactions:1' id='a'/>")),
            None
        );
        let many: String = (0..1000)
            .map(|i| format!("<reaction>{i}</reaction>"))
            .collect();
        let (_, emojis) = read(&el(&format!(
            "<reactions xmlns='{NS}' id='a'><reaction></reaction><reaction>{}</reaction>{many}</reactions>",
            "🐢".repeat(17)
        )))
        .unwrap();
        assert_eq!(
            emojis.len(),
            MAX_REACTIONS,
            "empty and oversized ones dropped"
        );
    }

    #[test]
    fn reactions_round_trip() {
        let emojis = vec!["👍".to_string(), "🐢".to_string()];
        let r = wire(reactions("x2", &emojis));
        assert!(r.is("reactions", NS));
        assert_eq!(
            read(&r),
            Some(("x2".into(), vec!["🐢".into(), "👍".into()])),
            "read back sorted"
        );
        assert_eq!(
            read(&wire(reactions("x2", &[]))),
            Some(("x2".into(), Vec::new()))
        );
    }
}
