//! XEP-0461: Message Replies. A reply names the message it answers (its
//! origin-id in a 1:1 chat). Other clients quote that message at the start
//! of the body, marked as a XEP-0428 fallback; Tern sends no quote.

use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::reply::Reply;

use super::{bounded_id, fallback, xml_text};

/// `<reply/>`: this message answers message `id` written by `to` (left out
/// when it is not a JID; it is optional).
pub(crate) fn reply(to: &str, id: &str) -> Reply {
    Reply {
        to: Jid::new(to).ok(),
        id: xml_text(id),
    }
}

/// The id of the message a reply answers, if usable.
pub(crate) fn read(el: &Element) -> Option<String> {
    let r = Reply::try_from(el.clone()).ok()?;
    bounded_id(&r.id)
}

/// The body of `msg` without the quote a sender added for clients without
/// replies (XEP-0461 §3.1); `None` when it has no body.
pub(crate) fn body_without_fallback(msg: &Message) -> Option<String> {
    let body = msg
        .get_best_body_cloned(vec!["en", ""])
        .map(|(_, b)| b)
        .or_else(|| msg.bodies.values().next().cloned())?;
    let fallbacks: Vec<_> = msg.payloads.iter().filter_map(fallback::read).collect();
    Some(fallback::strip(&body, &fallbacks, xmpp_parsers::ns::REPLY))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::xep::{el, wire, MAX_ID_LEN};

    const NS: &str = "urn:xmpp:reply:0";

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0461 §3, Example 3: Max replies to Anna's message.
        let m = el(
            "<message xmlns='jabber:client' to='anna@example.com' id='message-id2' type='chat'>
  <body>Great idea!</body>
  <reply to='anna@example.com/tablet' id='message-id1' xmlns='urn:xmpp:reply:0' />
</message>",
        );
        assert_eq!(
            read(m.get_child("reply", NS).unwrap()).as_deref(),
            Some("message-id1")
        );
        let m = Message::try_from(m).unwrap();
        assert_eq!(body_without_fallback(&m).as_deref(), Some("Great idea!"));

        // XEP-0461 §3.1, Example 4: Anna replies to a message and includes
        // a fallback (the body without the example's indentation).
        let m = Message::try_from(el(
            "<message xmlns='jabber:client' to='anna@example.com' id='message-id3' type='chat'>
  <body>&gt; Anna wrote:
&gt; We should bake a cake
Great idea!</body>
  <reply to='anna@example.com/laptop' id='message-id1' xmlns='urn:xmpp:reply:0' />
  <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
    <body start=\"0\" end=\"38\" />
  </fallback>
</message>",
        ))
        .unwrap();
        assert_eq!(body_without_fallback(&m).as_deref(), Some("Great idea!"));
    }

    #[test]
    fn hostile_replies_are_refused() {
        let long = "x".repeat(MAX_ID_LEN + 1);
        for bad in [
            format!("<reply xmlns='urn:xmpp:reply:0' to='a@b' id='{long}'/>"),
            "<reply xmlns='urn:xmpp:reply:0' to='a@b'/>".to_string(),
            "<reply xmlns='urn:xmpp:reply:1' to='a@b' id='x'/>".to_string(),
        ] {
            assert_eq!(read(&el(&bad)), None, "{bad}");
        }
        // No 'to' is fine: it is only a SHOULD.
        assert_eq!(
            read(&el("<reply xmlns='urn:xmpp:reply:0' id='x'/>")).as_deref(),
            Some("x")
        );
    }

    #[test]
    fn reply_round_trips() {
        let r = wire(reply("romeo@montague.lit", "x1"));
        assert!(r.is("reply", NS));
        assert_eq!(r.attr("to"), Some("romeo@montague.lit"));
        assert_eq!(read(&r).as_deref(), Some("x1"));
        let r = wire(reply("not a jid@@", "x1"));
        assert_eq!(r.attr("to"), None);
        assert_eq!(read(&r).as_deref(), Some("x1"));
    }
}
