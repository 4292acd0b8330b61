//! XEP-0203: Delayed Delivery. The time a server stored a message for
//! later delivery (offline storage, archives).

use xmpp_parsers::delay::Delay;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::minidom::Element;

/// The stamp of a `<delay/>`, in milliseconds since 1970.
pub(crate) fn read_stamp_ms(el: &Element) -> Option<i64> {
    read(el).map(|(ms, _)| ms)
}

/// The stamp of a `<delay/>` (ms since 1970) and who says so (`from`).
pub(crate) fn read(el: &Element) -> Option<(i64, Option<Jid>)> {
    let d = Delay::try_from(el.clone()).ok()?;
    Some((d.stamp.0.timestamp_millis(), d.from))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::el;

    #[test]
    fn reads_the_xep_example() {
        // XEP-0203 §3, Example 1: receiving a message sent while offline.
        let m = el("<message xmlns='jabber:client'
    from='romeo@montague.net/orchard'
    to='juliet@capulet.com'
    type='chat'>
  <body>
    O blessed, blessed night! I am afeard.
    Being in night, all this is but a dream,
    Too flattering-sweet to be substantial.
  </body>
  <delay xmlns='urn:xmpp:delay'
     from='capulet.com'
     stamp='2002-09-10T23:08:25Z'>
    Offline Storage
  </delay>
</message>");
        let d = m.get_child("delay", "urn:xmpp:delay").unwrap();
        assert_eq!(read_stamp_ms(d), Some(1_031_699_305_000));
    }

    #[test]
    fn fractions_and_offsets_are_read() {
        let d = el("<delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25.123+02:00'/>");
        assert_eq!(read_stamp_ms(&d), Some(1_031_699_305_123 - 2 * 3_600_000));
    }

    #[test]
    fn unreadable_stamps_are_nothing() {
        for bad in [
            "<delay xmlns='urn:xmpp:delay'/>",
            "<delay xmlns='urn:xmpp:delay' stamp='yesterday'/>",
            "<delay xmlns='urn:xmpp:delay' stamp=''/>",
            "<delay xmlns='jabber:x:delay' stamp='2002-09-10T23:08:25Z'/>",
        ] {
            assert_eq!(read_stamp_ms(&el(bad)), None, "{bad}");
        }
    }
}
