//! Protocol codecs: pure, synchronous reading and building of stanzas, one
//! file per XEP. Nothing here touches the store or the event hub.

pub(crate) mod message;
pub(crate) mod xml;
