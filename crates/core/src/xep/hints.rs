//! XEP-0334: Message Processing Hints. Tern asks servers to archive its
//! reactions and retractions (`<store/>`) and notes messages the sender
//! wants kept nowhere (`<no-store/>`).

use xmpp_parsers::hints::{NoStore, Store};
use xmpp_parsers::minidom::Element;

/// `<store/>`: archive this message although it has no body to show.
pub(crate) fn store() -> Store {
    Store
}

/// Whether `el` asks that its message be stored nowhere.
pub(crate) fn is_no_store(el: &Element) -> bool {
    NoStore::try_from(el.clone()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, wire};

    #[test]
    fn reads_the_xep_example() {
        // XEP-0334 §3.1, Example 1: a message with no-copy and no-store
        // hints.
        let m = el("<message xmlns='jabber:client'
    from='romeo@montague.lit/laptop'
    to='juliet@capulet.lit/laptop'>
  <body>V unir avtug'f pybnx gb uvqr zr sebz gurve fvtug</body>
  <no-copy xmlns=\"urn:xmpp:hints\"/>
  <no-store xmlns=\"urn:xmpp:hints\"/>
</message>");
        let hints: Vec<&Element> = m
            .children()
            .filter(|c| c.ns() == "urn:xmpp:hints")
            .collect();
        assert_eq!(hints.iter().filter(|h| is_no_store(h)).count(), 1);
    }

    #[test]
    fn other_hints_are_not_no_store() {
        assert!(!is_no_store(&el(
            "<no-permanent-store xmlns='urn:xmpp:hints'/>"
        )));
        assert!(!is_no_store(&el("<no-store xmlns='urn:xmpp:hint'/>")));
        assert!(!is_no_store(&wire(store())));
        assert!(wire(store()).is("store", "urn:xmpp:hints"));
    }
}
