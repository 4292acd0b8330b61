// Copyright (c) 2026 The Tern authors
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

use xso::{AsXml, FromXml};

use crate::date::DateTime;
use crate::message::MessagePayload;
use crate::ns;

/// Asks the recipients to retract (remove) a message sent earlier.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::MESSAGE_RETRACT, name = "retract")]
pub struct Retract {
    /// The id of the message to retract: its XEP-0359 origin-id (or 'id'
    /// attribute) in a 1:1 chat, the stanza-id the room gave it in a group
    /// chat.
    #[xml(attribute)]
    pub id: String,
}

impl MessagePayload for Retract {}

/// The tombstone an archive keeps in place of a retracted message.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::MESSAGE_RETRACT, name = "retracted")]
pub struct Retracted {
    /// The 'id' attribute of the retraction's `<message/>`.
    #[xml(attribute)]
    pub id: String,

    /// When the retraction took place.
    #[xml(attribute(default))]
    pub stamp: Option<DateTime>,
}

impl MessagePayload for Retracted {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::ns;
    use core::str::FromStr;
    use minidom::Element;
    use xso::error::{Error, FromElementError};

    #[cfg(target_pointer_width = "32")]
    #[test]
    fn test_size() {
        assert_size!(Retract, 12);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn test_size() {
        assert_size!(Retract, 24);
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_example() {
        // XEP-0424 §3, Example 4: the client sends out a retraction.
        let elem: Element = "<message xmlns='jabber:client' type='chat' to='lord@capulet.example' id='retract-message-1'>
  <retract id=\"wrong-recipient-1\" xmlns='urn:xmpp:message-retract:1'/>
  <fallback xmlns=\"urn:xmpp:fallback:0\" for='urn:xmpp:message-retract:1'/>
  <body>/me retracted a previous message, but it's unsupported by your client.</body>
  <store xmlns=\"urn:xmpp:hints\"/>
</message>"
            .parse()
            .unwrap();
        let message = Message::try_from(elem).unwrap();
        let retract = message
            .payloads
            .iter()
            .find(|p| p.is("retract", ns::MESSAGE_RETRACT))
            .cloned()
            .map(Retract::try_from)
            .unwrap()
            .unwrap();
        assert_eq!(retract.id, "wrong-recipient-1");
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_tombstone() {
        // XEP-0424 §4, Example 7: a retracted message tombstone in a MAM
        // result.
        let elem: Element = "<message xmlns='jabber:client' type='groupchat' from='romeo@montague.example' to='lord@capulet.example' id='wrong-recipient-1'>
        <retracted stamp='2019-09-20T23:09:32Z' xmlns='urn:xmpp:message-retract:1' id='retract-message-1'/>
      </message>"
            .parse()
            .unwrap();
        let message = Message::try_from(elem).unwrap();
        let retracted = Retracted::try_from(message.payloads[0].clone()).unwrap();
        assert_eq!(retracted.id, "retract-message-1");
        assert_eq!(
            retracted.stamp,
            Some(DateTime::from_str("2019-09-20T23:09:32Z").unwrap())
        );
    }

    #[test]
    fn test_missing_id() {
        let elem: Element = "<retract xmlns='urn:xmpp:message-retract:1'/>"
            .parse()
            .unwrap();
        let error = Retract::try_from(elem).unwrap_err();
        let message = match error {
            FromElementError::Invalid(Error::Other(string)) => string,
            _ => panic!(),
        };
        assert_eq!(
            message,
            "Required attribute field 'id' on Retract element missing."
        );
    }

    #[test]
    fn test_older_namespace() {
        // Version 0 of the protocol wrapped <retract/> in an <apply-to/>;
        // it is not this element.
        let elem: Element = "<retract xmlns='urn:xmpp:message-retract:0'/>"
            .parse()
            .unwrap();
        match Retract::try_from(elem) {
            Err(FromElementError::Mismatch(_)) => (),
            other => panic!("unexpected result: {:?}", other),
        }
    }

    #[test]
    fn test_serialise() {
        let elem: Element = Retract {
            id: String::from("wrong-recipient-1"),
        }
        .into();
        let expected: Element =
            "<retract xmlns='urn:xmpp:message-retract:1' id='wrong-recipient-1'/>"
                .parse()
                .unwrap();
        assert_eq!(elem, expected);
    }
}
