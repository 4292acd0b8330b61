//! Stage 4: end-to-end decryption. No conversation is encrypted yet, so
//! every message passes as it is; OMEMO (XEP-0384) plugs in here, after
//! the known stage (a ratchet must see each message once) and before
//! validation (which checks the plaintext).

use super::flow::{Flow, Step};

pub(crate) fn run(_flow: &mut Flow) -> Step {
    Step::Next
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::classify::tests::classified;

    #[test]
    fn plain_messages_pass_unchanged() {
        let mut f = classified(
            "<message xmlns='jabber:client' from='romeo@montague.lit/orchard' type='chat'><body>hi</body></message>",
            None,
        );
        let before = f.classified.clone().map(|c| c.parsed);
        assert_eq!(run(&mut f), Step::Next);
        assert_eq!(f.classified.map(|c| c.parsed), before);
    }
}
