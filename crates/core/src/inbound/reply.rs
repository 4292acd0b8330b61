//! Stage 9: what goes back: a delivery receipt (XEP-0184) for each live
//! message that asked for one, stored now or before, when its sender is
//! someone the user knows (`Ctx::knows`) or the user chose to answer
//! strangers ([`crate::Privacy::receipts_to_strangers`]): a receipt tells
//! that the user's client is online and got the message, which is no
//! stranger's business.

use std::collections::HashSet;

use tokio_xmpp::Stanza;

use super::flow::Batch;
use crate::account::ctx::Ctx;
use crate::xep::message::{new_id, Outgoing};

/// The bare JID of an address as text.
fn bare(jid: &str) -> &str {
    jid.split_once('/').map_or(jid, |(b, _)| b)
}

/// Which of the batch's receipt recipients (bare JIDs) may be told.
pub(crate) async fn known_peers(ctx: &Ctx, batch: &Batch) -> HashSet<String> {
    let mut asked: Vec<&str> = batch
        .flows
        .iter()
        .flat_map(|f| f.receipts.iter().map(|(to, _)| bare(to)))
        .collect();
    asked.sort_unstable();
    asked.dedup();
    let mut known = HashSet::new();
    for jid in asked {
        if ctx.may_tell(jid, |p| p.receipts_to_strangers).await {
            known.insert(jid.to_string());
        }
    }
    known
}

/// Builds the receipts of the batch for the senders in `known`.
pub(crate) fn run(batch: &mut Batch, known: &HashSet<String>) {
    for flow in &batch.flows {
        for (to, id) in &flow.receipts {
            if !known.contains(bare(to)) {
                tracing::debug!(to, "no receipt for a stranger");
                continue;
            }
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
        flow.receipts
            .push(("mallory@evil.example/x".into(), "m2".into()));
        let mut batch = Batch {
            flows: vec![flow],
            ..Batch::default()
        };
        run(
            &mut batch,
            &HashSet::from(["romeo@montague.lit".to_string()]),
        );
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
