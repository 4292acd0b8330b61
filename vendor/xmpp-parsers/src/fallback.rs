// Copyright (c) 2026 The Tern authors
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

use xso::{AsXml, FromXml};

use crate::message::MessagePayload;
use crate::ns;

/// Marks (part of) the body or subject of a message as a fallback for
/// clients that do not support another specification.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::FALLBACK, name = "fallback")]
pub struct Fallback {
    /// The specification the fallback stands in for, usually its
    /// namespace. Early versions of the protocol had no such attribute.
    #[xml(attribute(name = "for", default))]
    pub for_: Option<String>,

    /// The parts of the body that are fallback text.
    #[xml(child(n = ..))]
    pub bodies: Vec<Body>,

    /// The parts of the subject that are fallback text.
    #[xml(child(n = ..))]
    pub subjects: Vec<Subject>,
}

impl Fallback {
    /// A fallback for the whole message, standing in for `for_`.
    pub fn new(for_: &str) -> Fallback {
        Fallback {
            for_: Some(String::from(for_)),
            bodies: Vec::new(),
            subjects: Vec::new(),
        }
    }

    /// Whether the whole of every body and subject is fallback text (no
    /// `<body/>` or `<subject/>` child).
    pub fn is_whole_message(&self) -> bool {
        self.bodies.is_empty() && self.subjects.is_empty()
    }
}

impl MessagePayload for Fallback {}

/// A part of the body that is fallback text. Positions count characters
/// (Unicode code points) as XEP-0426 defines; without them the whole body
/// is fallback text.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::FALLBACK, name = "body")]
pub struct Body {
    /// Where the fallback text starts.
    #[xml(attribute(default))]
    pub start: Option<usize>,

    /// Where the fallback text ends (exclusive).
    #[xml(attribute(default))]
    pub end: Option<usize>,
}

/// A part of the subject that is fallback text, as for [`Body`].
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::FALLBACK, name = "subject")]
pub struct Subject {
    /// Where the fallback text starts.
    #[xml(attribute(default))]
    pub start: Option<usize>,

    /// Where the fallback text ends (exclusive).
    #[xml(attribute(default))]
    pub end: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use minidom::Element;
    use xso::error::FromElementError;

    #[cfg(target_pointer_width = "32")]
    #[test]
    fn test_size() {
        assert_size!(Fallback, 36);
        assert_size!(Body, 16);
        assert_size!(Subject, 16);
    }

    #[cfg(target_pointer_width = "64")]
    #[test]
    fn test_size() {
        assert_size!(Fallback, 72);
        assert_size!(Body, 32);
        assert_size!(Subject, 32);
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_example() {
        // XEP-0428 §2.2, Example 1.
        let elem: Element = "<message xmlns='jabber:client' to='anna@example.com' id='message-id2' type='groupchat'>
  <body>
    &gt; Anna wrote:
    &gt; Hi, how are you?
    Great
  </body>
  <reply to='anna@example.com' id='message-id1' xmlns='urn:xmpp:reply:0' />
  <fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'>
    <body start='0' end='33' />
  </fallback>
</message>"
            .parse()
            .unwrap();
        let message = Message::try_from(elem).unwrap();
        let fallback = message
            .payloads
            .iter()
            .find(|p| p.is("fallback", ns::FALLBACK))
            .cloned()
            .map(Fallback::try_from)
            .unwrap()
            .unwrap();
        assert_eq!(fallback.for_.as_deref(), Some(ns::REPLY));
        assert_eq!(
            fallback.bodies,
            vec![Body {
                start: Some(0),
                end: Some(33)
            }]
        );
        assert!(fallback.subjects.is_empty());
        assert!(!fallback.is_whole_message());
    }

    #[test]
    fn test_whole_message() {
        // As XEP-0424 §3 uses it: the whole body stands in for a retraction.
        let elem: Element =
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
                .parse()
                .unwrap();
        let fallback = Fallback::try_from(elem).unwrap();
        assert_eq!(fallback, Fallback::new(ns::MESSAGE_RETRACT));
        assert!(fallback.is_whole_message());
    }

    #[test]
    fn test_without_for() {
        // Version 0.1 of the protocol had no attributes.
        let elem: Element = "<fallback xmlns='urn:xmpp:fallback:0'/>".parse().unwrap();
        let fallback = Fallback::try_from(elem).unwrap();
        assert_eq!(fallback.for_, None);
    }

    #[test]
    fn test_ranges() {
        let elem: Element = "<fallback xmlns='urn:xmpp:fallback:0' for='urn:example'>
  <subject/>
  <body start='0' end='4'/>
  <body start='10' end='12'/>
</fallback>"
            .parse()
            .unwrap();
        let fallback = Fallback::try_from(elem).unwrap();
        assert_eq!(fallback.bodies.len(), 2);
        assert_eq!(fallback.bodies[1].start, Some(10));
        assert_eq!(
            fallback.subjects,
            vec![Subject {
                start: None,
                end: None
            }]
        );
    }

    #[test]
    fn test_invalid_range() {
        let elem: Element =
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:example'><body start='-1' end='4'/></fallback>"
                .parse()
                .unwrap();
        match Fallback::try_from(elem) {
            Err(FromElementError::Invalid(_)) => (),
            other => panic!("unexpected result: {:?}", other),
        }
    }

    #[test]
    fn test_serialise() {
        let elem: Element = Fallback::new(ns::MESSAGE_RETRACT).into();
        let expected: Element =
            "<fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/>"
                .parse()
                .unwrap();
        assert_eq!(elem, expected);

        let fallback = Fallback {
            for_: Some(String::from(ns::REPLY)),
            bodies: vec![Body {
                start: Some(0),
                end: Some(38),
            }],
            subjects: Vec::new(),
        };
        let elem: Element = fallback.clone().into();
        assert_eq!(Fallback::try_from(elem).unwrap(), fallback);
    }
}
