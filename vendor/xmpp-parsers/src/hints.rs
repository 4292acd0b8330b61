// Copyright (c) 2026 The Tern authors
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

use xso::{AsXml, FromXml};

use crate::message::MessagePayload;
use crate::ns;

/// Asks entities not to keep this message in a permanent archive (they may
/// still keep it for delivery to offline clients).
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::HINTS, name = "no-permanent-store")]
pub struct NoPermanentStore;

impl MessagePayload for NoPermanentStore {}

/// Asks entities not to store this message at all, neither in an archive
/// nor for offline delivery.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::HINTS, name = "no-store")]
pub struct NoStore;

impl MessagePayload for NoStore {}

/// Asks entities not to copy this message to other resources (for instance
/// as a XEP-0280 carbon).
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::HINTS, name = "no-copy")]
pub struct NoCopy;

impl MessagePayload for NoCopy {}

/// Asks entities to store this message even if it has no body, for
/// instance because it carries a reaction or a retraction.
#[derive(FromXml, AsXml, PartialEq, Debug, Clone)]
#[xml(namespace = ns::HINTS, name = "store")]
pub struct Store;

impl MessagePayload for Store {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use minidom::Element;
    use xso::error::{Error, FromElementError};

    #[test]
    fn test_size() {
        assert_size!(NoPermanentStore, 0);
        assert_size!(NoStore, 0);
        assert_size!(NoCopy, 0);
        assert_size!(Store, 0);
    }

    #[test]
    #[cfg(not(feature = "component"))] // feature = "component" changes <message/> namespace
    fn test_example() {
        // XEP-0334 §3.1, Example 1: sending a message with no-copy and
        // no-store hints.
        let elem: Element = "<message xmlns='jabber:client'
    from='romeo@montague.lit/laptop'
    to='juliet@capulet.lit/laptop'>
  <body>V unir avtug'f pybnx gb uvqr zr sebz gurve fvtug</body>
  <no-copy xmlns=\"urn:xmpp:hints\"/>
  <no-store xmlns=\"urn:xmpp:hints\"/>
</message>"
            .parse()
            .unwrap();
        let message = Message::try_from(elem).unwrap();
        assert_eq!(message.payloads.len(), 2);
        NoCopy::try_from(message.payloads[0].clone()).unwrap();
        NoStore::try_from(message.payloads[1].clone()).unwrap();
    }

    #[test]
    fn test_simple() {
        let elem: Element = "<no-permanent-store xmlns='urn:xmpp:hints'/>"
            .parse()
            .unwrap();
        NoPermanentStore::try_from(elem).unwrap();
        let elem: Element = "<store xmlns='urn:xmpp:hints'/>".parse().unwrap();
        Store::try_from(elem).unwrap();
    }

    #[test]
    fn test_wrong_namespace() {
        let elem: Element = "<store xmlns='urn:xmpp:hint'/>".parse().unwrap();
        match Store::try_from(elem) {
            Err(FromElementError::Mismatch(_)) => (),
            other => panic!("unexpected result: {:?}", other),
        }
    }

    #[test]
    #[cfg_attr(not(feature = "pedantic"), should_panic = "Result::unwrap_err")]
    fn test_invalid_child() {
        let elem: Element = "<no-store xmlns='urn:xmpp:hints'><coucou/></no-store>"
            .parse()
            .unwrap();
        let error = NoStore::try_from(elem).unwrap_err();
        let message = match error {
            FromElementError::Invalid(Error::Other(string)) => string,
            _ => panic!(),
        };
        assert_eq!(message, "Unknown child in NoStore element.");
    }

    #[test]
    fn test_serialise() {
        let elem: Element = Store.into();
        assert!(elem.is("store", ns::HINTS));
        assert_eq!(elem.attrs().into_iter().count(), 0);
        assert_eq!(elem.children().count(), 0);
        let elem: Element = NoPermanentStore.into();
        assert!(elem.is("no-permanent-store", ns::HINTS));
        let elem: Element = NoStore.into();
        assert!(elem.is("no-store", ns::HINTS));
        let elem: Element = NoCopy.into();
        assert!(elem.is("no-copy", ns::HINTS));
    }
}
