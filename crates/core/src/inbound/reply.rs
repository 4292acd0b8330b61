//! Stage 9: what goes back: a delivery receipt (XEP-0184) for each live
//! message that asked for one, stored now or before.

use tokio_xmpp::Stanza;

use super::flow::Batch;
use crate::xep::message::{new_id, Outgoing};

pub(crate) fn run(batch: &mut Batch) {
    for flow in &batch.flows {
        for (to, id) in &flow.receipts {
            let reply_id = new_id();
            let receipt = Outgoing {
                to,
                id: &reply_id,
                receipt_for: Some(id),
                ..Default::default()
            }
            .message();
            batch.replies.extend(receipt.map(Stanza::Message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::flow::Flow;

    #[test]
    fn one_receipt_per_request_to_the_sender() {
        let mut flow = Flow::new(xmpp_parsers::message::Message::new(None), None);
        flow.receipts
            .push(("romeo@montague.lit/orchard".into(), "m1".into()));
        let mut batch = Batch {
            flows: vec![flow],
            ..Batch::default()
        };
        run(&mut batch);
        let [Stanza::Message(m)] = &batch.replies[..] else {
            panic!("{:?}", batch.replies)
        };
        assert_eq!(
            m.to.as_ref().unwrap().to_string(),
            "romeo@montague.lit/orchard"
        );
        let received = m
            .payloads
            .iter()
            .find(|p| p.is("received", "urn:xmpp:receipts"))
            .expect("a receipt");
        assert_eq!(received.attr("id"), Some("m1"));
        assert!(m.bodies.is_empty());
    }
}
