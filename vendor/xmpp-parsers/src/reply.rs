// Copyright (c) 2026 The Tern authors
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

use xso::{AsXml, FromXml};

use crate::message::MessagePayload;
use crate::ns;
use jid::Jid;

/// Marks a message as a reply to an earlier one.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::REPLY, name = "reply")]
pub struct Reply {
    /// The author of the referenced message: a full JID, or a bare one in
    /// a 1:1 chat.
    #[xml(attribute(default))]
    pub to: Option<Jid>,

    /// The id of the referenced message: its XEP-0359 origin-id (or 'id'
    /// attribute) in a 1:1 chat, the stanza-id the room gave it in a group
    /// chat.
    #[xml(attribute)]
    pub id: String,
}

impl MessagePayload for Reply {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fallback::Fallback;
    use crate::message::Message;
    use minidom::Element;
    use xso::error::{Error, FromElementError};

    #[cfg(target_pointer_width = "32")]
    #[test]
    fn test_size() {
        assert_size!(Reply, 28);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn test_size() {
        assert_size!(Reply, 56);
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_example() {
        // XEP-0461 §3, Example 3: Max replies to Anna's message.
        let elem: Element =
            "<message xmlns='jabber:client' to='anna@example.com' id='message-id2' type='chat'>
  <body>Great idea!</body>
  <reply to='anna@example.com/tablet' id='message-id1' xmlns='urn:xmpp:reply:0' />
</message>"
                .parse()
                .unwrap();
        let message = Message::try_from(elem).unwrap();
        let reply = Reply::try_from(message.payloads[0].clone()).unwrap();
        assert_eq!(reply.to, Some(Jid::new("anna@example.com/tablet").unwrap()));
        assert_eq!(reply.id, "message-id1");
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_example_with_fallback() {
        // XEP-0461 §3.1, Example 4: Anna replies to a message and includes
        // a fallback (without the example's indentation, as the XEP says).
        let elem: Element =
            "<message xmlns='jabber:client' to='anna@example.com' id='message-id3' type='chat'>
  <body>&gt; Anna wrote:
&gt; We should bake a cake
Great idea!</body>
  <reply to='anna@example.com/laptop' id='message-id1' xmlns='urn:xmpp:reply:0' />
  <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
    <body start=\"0\" end=\"38\" />
  </fallback>
</message>"
                .parse()
                .unwrap();
        let message = Message::try_from(elem).unwrap();
        let reply = Reply::try_from(message.payloads[0].clone()).unwrap();
        assert_eq!(reply.id, "message-id1");
        let fallback = Fallback::try_from(message.payloads[1].clone()).unwrap();
        assert_eq!(fallback.for_.as_deref(), Some(ns::REPLY));
        let body = message.bodies.values().next().unwrap();
        let quote: String = body
            .chars()
            .skip(fallback.bodies[0].start.unwrap())
            .take(fallback.bodies[0].end.unwrap() - fallback.bodies[0].start.unwrap())
            .collect();
        assert_eq!(quote, "> Anna wrote:\n> We should bake a cake\n");
    }

    #[test]
    fn test_bare_to_and_no_to() {
        // A bare JID is allowed in a 1:1 chat, and 'to' is only a SHOULD.
        let elem: Element = "<reply xmlns='urn:xmpp:reply:0' to='anna@example.com' id='m1'/>"
            .parse()
            .unwrap();
        let reply = Reply::try_from(elem).unwrap();
        assert_eq!(reply.to, Some(Jid::new("anna@example.com").unwrap()));
        let elem: Element = "<reply xmlns='urn:xmpp:reply:0' id='m1'/>".parse().unwrap();
        let reply = Reply::try_from(elem).unwrap();
        assert_eq!(reply.to, None);
    }

    #[test]
    fn test_missing_id() {
        let elem: Element = "<reply xmlns='urn:xmpp:reply:0' to='anna@example.com'/>"
            .parse()
            .unwrap();
        let error = Reply::try_from(elem).unwrap_err();
        let message = match error {
            FromElementError::Invalid(Error::Other(string)) => string,
            _ => panic!(),
        };
        assert_eq!(
            message,
            "Required attribute field 'id' on Reply element missing."
        );
    }

    #[test]
    fn test_serialise() {
        let elem: Element = Reply {
            to: Some(Jid::new("anna@example.com/tablet").unwrap()),
            id: String::from("message-id1"),
        }
        .into();
        let expected: Element =
            "<reply xmlns='urn:xmpp:reply:0' to='anna@example.com/tablet' id='message-id1'/>"
                .parse()
                .unwrap();
        assert_eq!(elem, expected);
        let elem: Element = Reply {
            to: None,
            id: String::from("message-id1"),
        }
        .into();
        assert_eq!(elem.attr("to"), None);
    }
}
