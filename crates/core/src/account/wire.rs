//! An account without a network, for service tests: stanzas written out
//! are routed through the real handler table (`services::register`) as the
//! account task would route them, and everything the services send (the
//! router's answers, stanzas, IQ requests) is kept, in order, for the test
//! to read. IQ requests are answered with an empty result.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;

use super::ctx::Ctx;
use super::router::Router;
use super::{AccountHandle, Command, Settings, Shared};
use crate::net::reconnect::Link;
use crate::passwords::{PasswordError, PasswordStore};
use crate::services::roster::Presences;

/// No passwords: nothing here signs in.
#[derive(Debug)]
struct NoPasswords;

impl PasswordStore for NoPasswords {
    fn get(&self, _: &str) -> Result<Option<String>, PasswordError> {
        Ok(None)
    }
    fn set(&self, _: &str, _: &str) -> Result<(), PasswordError> {
        Ok(())
    }
    fn delete(&self, _: &str) -> Result<(), PasswordError> {
        Ok(())
    }
}

/// One account's side of the wire (see the module documentation).
pub(crate) struct Wire {
    pub(crate) handle: AccountHandle,
    router: Router,
    rx: mpsc::Receiver<Command>,
    sent: VecDeque<Stanza>,
}

/// The empty result of an IQ request.
pub(crate) fn empty_result(iq: &Iq) -> Option<Iq> {
    let (id, to) = match iq {
        Iq::Get { id, to, .. } | Iq::Set { id, to, .. } => (id.clone(), to.clone()),
        _ => return None,
    };
    Some(Iq::Result {
        from: to,
        to: None,
        id,
        payload: None,
    })
}

/// A stanza written out as XML.
pub(crate) fn stanza(xml: &str) -> Stanza {
    let el: Element = xml.trim().parse().expect("the stanza parses");
    match el.name() {
        "iq" => Stanza::Iq(Iq::try_from(el).expect("an IQ")),
        "message" => Stanza::Message(Message::try_from(el).expect("a message")),
        _ => Stanza::Presence(Presence::try_from(el).expect("a presence")),
    }
}

impl Wire {
    /// The account of `ctx`, offline, with every service's handlers.
    pub(crate) fn new(ctx: Ctx) -> Wire {
        let settings = Settings {
            jid: ctx.own.clone(),
            resource: Some("tern".into()),
            over: Default::default(),
            trust: Default::default(),
            timeouts: Default::default(),
            store: ctx.store.clone(),
        };
        let link = Arc::new(Link::new(settings, Arc::new(NoPasswords), ctx.hub.clone()));
        let shared = Arc::new(Shared {
            link,
            ctx,
            presences: Presences::default(),
            own_presence: Mutex::new(Presence::available()),
        });
        let (cmd_tx, rx) = mpsc::channel(256);
        let mut router = Router::default();
        crate::services::register(&mut router);
        Wire {
            handle: AccountHandle { shared, cmd_tx },
            router,
            rx,
            sent: VecDeque::new(),
        }
    }

    /// The account's context.
    pub(crate) fn ctx(&self) -> &Ctx {
        self.handle.ctx()
    }

    /// Routes `stanza` as the account task would; what the handler returns
    /// is sent.
    pub(crate) async fn deliver(&mut self, stanza: Stanza) {
        let out = self.router.route(&self.handle, stanza).await;
        for s in out {
            self.push(s);
        }
    }

    /// Routes a stanza written out as XML.
    pub(crate) async fn deliver_xml(&mut self, xml: &str) {
        self.deliver(stanza(xml)).await;
    }

    fn push(&mut self, s: Stanza) {
        self.sent.push_back(s);
    }

    fn take(&mut self, cmd: Command) {
        match cmd {
            Command::Send(s) => self.push(*s),
            Command::Iq { iq, reply } => {
                if let Some(answer) = empty_result(&iq) {
                    let _ = reply.send(Ok(answer));
                }
                self.push(Stanza::Iq(*iq));
            }
            // Nothing else is asked of an account in these tests.
            _ => {}
        }
    }

    /// The next stanza sent, waiting up to `within` for it.
    pub(crate) async fn next_within(&mut self, within: Duration) -> Option<Stanza> {
        if let Some(s) = self.sent.pop_front() {
            return Some(s);
        }
        match tokio::time::timeout(within, self.rx.recv()).await {
            Ok(Some(cmd)) => {
                self.take(cmd);
                self.sent.pop_front()
            }
            _ => None,
        }
    }

    /// Everything sent until nothing more comes for `quiet`.
    pub(crate) async fn settle(&mut self, quiet: Duration) -> Vec<Stanza> {
        let mut out = Vec::new();
        while let Some(s) = self.next_within(quiet).await {
            out.push(s);
        }
        out
    }
}
