//! Stage 5: what Tern files. Bodies above [`MAX_BODY_BYTES`] are refused.
//! (Group-chat messages from rooms the user is not in stopped at
//! classify.)

use super::flow::{Flow, Step};
use crate::xep::message::MAX_BODY_BYTES;

pub(crate) fn run(flow: &mut Flow) -> Step {
    let Some(c) = &flow.classified else {
        return Step::Drop("not classified");
    };
    if c.parsed
        .body
        .as_ref()
        .is_some_and(|b| b.len() > MAX_BODY_BYTES)
    {
        tracing::warn!(peer = %c.peer, "dropping a message with an oversized body");
        return Step::Drop("an oversized body");
    }
    Step::Next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::classify::tests::classified;

    #[test]
    fn bodies_are_bounded() {
        let ok = "x".repeat(MAX_BODY_BYTES);
        let mut f = classified(&format!("<message xmlns='jabber:client' from='romeo@montague.lit/o' type='chat'><body>{ok}</body></message>"), None);
        assert_eq!(run(&mut f), Step::Next);
        let big = "x".repeat(MAX_BODY_BYTES + 1);
        let mut f = classified(&format!("<message xmlns='jabber:client' from='romeo@montague.lit/o' type='chat'><body>{big}</body></message>"), None);
        assert!(matches!(run(&mut f), Step::Drop(_)));
    }
}
