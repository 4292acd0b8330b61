//! The stanza router: a table keyed by stanza kind and payload (element
//! name and namespace). Services register their handlers in one place
//! (`services::register`); the account task hands every stanza it does not
//! keep for itself (answers to its requests, archive results) to
//! [`Router::route`]. An IQ request nobody registered for is answered
//! `service-unavailable` by the table itself; a message whose payloads
//! match no entry goes to the default message handler (the inbound
//! pipeline).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::jid::Jid;
use xmpp_parsers::message::Message;
use xmpp_parsers::minidom::Element;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::AccountHandle;

/// An IQ request (get or set) as a handler sees it.
#[derive(Debug, Clone)]
pub(crate) struct IqRequest {
    pub from: Option<Jid>,
    pub payload: Element,
}

/// A handler's answer to an IQ request: a result (with an optional
/// payload) or an error condition. The router sends it.
pub(crate) type IqAnswer = Result<Option<Element>, DefinedCondition>;

type Fut<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type IqHandler<H> = Arc<dyn Fn(H, IqRequest) -> Fut<IqAnswer> + Send + Sync>;
type MessageHandler<H> = Arc<dyn Fn(H, Message) -> Fut<Vec<Stanza>> + Send + Sync>;
type PresenceHandler<H> = Arc<dyn Fn(H, Presence) -> Fut<Vec<Stanza>> + Send + Sync>;

/// Which IQ requests a handler takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum IqKind {
    Get,
    Set,
}

/// A payload: element name and namespace.
pub(crate) type Payload = (&'static str, &'static str);

/// See the module documentation. Handlers get a clone of the account's
/// handle `H` (an [`AccountHandle`]; tests use their own).
pub(crate) struct Router<H = AccountHandle> {
    iq: HashMap<(IqKind, &'static str, &'static str), IqHandler<H>>,
    /// Checked in registration order; the first matching payload wins.
    message: Vec<(Payload, MessageHandler<H>)>,
    default_message: Option<MessageHandler<H>>,
    presence: Option<PresenceHandler<H>>,
}

impl<H> Default for Router<H> {
    fn default() -> Self {
        Router {
            iq: HashMap::new(),
            message: Vec::new(),
            default_message: None,
            presence: None,
        }
    }
}

impl<H: Clone + Send + 'static> Router<H> {
    /// Registers the handler of IQ `kind` requests whose payload is
    /// `(name, ns)`. One handler per key: a second registration is a bug.
    pub(crate) fn on_iq<F, R>(&mut self, kind: IqKind, (name, ns): Payload, f: F)
    where
        F: Fn(H, IqRequest) -> R + Send + Sync + 'static,
        R: Future<Output = IqAnswer> + Send + 'static,
    {
        let previous = self
            .iq
            .insert((kind, name, ns), Arc::new(move |h, r| Box::pin(f(h, r))));
        debug_assert!(previous.is_none(), "two handlers for {kind:?} {name} {ns}");
    }

    /// Registers the handler of messages carrying a payload `(name, ns)`.
    pub(crate) fn on_message<F, R>(&mut self, payload: Payload, f: F)
    where
        F: Fn(H, Message) -> R + Send + Sync + 'static,
        R: Future<Output = Vec<Stanza>> + Send + 'static,
    {
        self.message
            .push((payload, Arc::new(move |h, m| Box::pin(f(h, m)))));
    }

    /// Registers the handler of every other message.
    pub(crate) fn on_other_messages<F, R>(&mut self, f: F)
    where
        F: Fn(H, Message) -> R + Send + Sync + 'static,
        R: Future<Output = Vec<Stanza>> + Send + 'static,
    {
        self.default_message = Some(Arc::new(move |h, m| Box::pin(f(h, m))));
    }

    /// Registers the handler of presences.
    pub(crate) fn on_presence<F, R>(&mut self, f: F)
    where
        F: Fn(H, Presence) -> R + Send + Sync + 'static,
        R: Future<Output = Vec<Stanza>> + Send + 'static,
    {
        self.presence = Some(Arc::new(move |h, p| Box::pin(f(h, p))));
    }

    /// Whether `m` goes to the handler of other messages (no registered
    /// payload of it has a handler of its own).
    pub(crate) fn takes_as_other(&self, m: &Message) -> bool {
        self.default_message.is_some()
            && !self
                .message
                .iter()
                .any(|((name, ns), _)| m.payloads.iter().any(|p| p.is(*name, *ns)))
    }

    /// The keys of the IQ table (for tests and the supported-XEP check).
    #[cfg(test)]
    pub(crate) fn iq_keys(&self) -> Vec<(IqKind, &'static str, &'static str)> {
        let mut keys: Vec<_> = self.iq.keys().copied().collect();
        keys.sort();
        keys
    }

    /// Hands an inbound stanza to its handler; returns what to send back.
    /// IQ results and errors are not requests: they belong to whoever sent
    /// the request, and the account task keeps them.
    pub(crate) async fn route(&self, handle: &H, stanza: Stanza) -> Vec<Stanza> {
        match stanza {
            Stanza::Iq(Iq::Get {
                from, id, payload, ..
            }) => {
                self.iq_request(handle, IqKind::Get, from, id, payload)
                    .await
            }
            Stanza::Iq(Iq::Set {
                from, id, payload, ..
            }) => {
                self.iq_request(handle, IqKind::Set, from, id, payload)
                    .await
            }
            Stanza::Iq(Iq::Result { .. } | Iq::Error { .. }) => Vec::new(),
            Stanza::Message(m) => {
                let handler = self
                    .message
                    .iter()
                    .find(|((name, ns), _)| m.payloads.iter().any(|p| p.is(*name, *ns)))
                    .map(|(_, h)| h)
                    .or(self.default_message.as_ref());
                match handler {
                    Some(h) => h(handle.clone(), m).await,
                    None => Vec::new(),
                }
            }
            Stanza::Presence(p) => match &self.presence {
                Some(h) => h(handle.clone(), p).await,
                None => Vec::new(),
            },
        }
    }

    async fn iq_request(
        &self,
        handle: &H,
        kind: IqKind,
        from: Option<Jid>,
        id: String,
        payload: Element,
    ) -> Vec<Stanza> {
        let key = (kind, payload.name(), payload.ns());
        let handler = self
            .iq
            .iter()
            .find(|((k, name, ns), _)| *k == key.0 && *name == key.1 && *ns == key.2)
            .map(|(_, h)| h.clone());
        let answer = match handler {
            Some(h) => {
                h(
                    handle.clone(),
                    IqRequest {
                        from: from.clone(),
                        payload,
                    },
                )
                .await
            }
            None => {
                tracing::debug!(?kind, name = key.1, ns = key.2, "unsupported IQ request");
                Err(DefinedCondition::ServiceUnavailable)
            }
        };
        vec![answer_iq(from, id, answer)]
    }
}

/// The IQ answering a request.
pub(crate) fn answer_iq(to: Option<Jid>, id: String, answer: IqAnswer) -> Stanza {
    match answer {
        Ok(payload) => Iq::Result {
            from: None,
            to,
            id,
            payload,
        }
        .into(),
        Err(condition) => Iq::Error {
            from: None,
            to,
            id,
            error: StanzaError::new(ErrorType::Cancel, condition, "en", ""),
            payload: None,
        }
        .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A handle that records which handler ran.
    #[derive(Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);

    impl Log {
        fn note(&self, s: &str) {
            self.0.lock().unwrap().push(s.to_string());
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut self.0.lock().unwrap())
        }
    }

    fn stanza(xml: &str) -> Stanza {
        let el: Element = xml.parse().unwrap();
        match el.name() {
            "iq" => Stanza::Iq(Iq::try_from(el).unwrap()),
            "message" => Stanza::Message(Message::try_from(el).unwrap()),
            _ => Stanza::Presence(Presence::try_from(el).unwrap()),
        }
    }

    fn router() -> Router<Log> {
        let mut r = Router::default();
        r.on_iq(
            IqKind::Get,
            ("ping", "urn:xmpp:ping"),
            |log: Log, _| async move {
                log.note("ping");
                Ok(None)
            },
        );
        r.on_iq(
            IqKind::Set,
            ("block", "urn:xmpp:blocking"),
            |log: Log, req: IqRequest| async move {
                log.note(&format!("block from {:?}", req.from.map(|f| f.to_string())));
                Err(DefinedCondition::BadRequest)
            },
        );
        r.on_message(
            ("event", "http://jabber.org/protocol/pubsub#event"),
            |log: Log, _| async move {
                log.note("pep");
                Vec::new()
            },
        );
        r.on_other_messages(|log: Log, m: Message| async move {
            log.note("pipeline");
            let to = m.from.clone();
            vec![Stanza::Message(Message::new(to))]
        });
        r.on_presence(|log: Log, _| async move {
            log.note("presence");
            Vec::new()
        });
        r
    }

    #[tokio::test]
    async fn each_stanza_goes_to_its_handler() {
        let r = router();
        let log = Log::default();
        let replies = r
            .route(&log, stanza("<iq xmlns='jabber:client' type='get' id='p' from='capulet.lit'><ping xmlns='urn:xmpp:ping'/></iq>"))
            .await;
        assert!(matches!(&replies[..], [Stanza::Iq(Iq::Result { id, .. })] if id == "p"));
        let replies = r
            .route(&log, stanza("<iq xmlns='jabber:client' type='set' id='b' from='juliet@capulet.lit'><block xmlns='urn:xmpp:blocking'><item jid='x@y'/></block></iq>"))
            .await;
        assert!(
            matches!(&replies[..], [Stanza::Iq(Iq::Error { error, .. })] if error.defined_condition == DefinedCondition::BadRequest)
        );
        r.route(&log, stanza("<message xmlns='jabber:client' from='romeo@montague.lit'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>")).await;
        let replies = r
            .route(&log, stanza("<message xmlns='jabber:client' from='romeo@montague.lit/o'><body>hi</body></message>"))
            .await;
        assert_eq!(replies.len(), 1, "the default handler's replies come back");
        r.route(
            &log,
            stanza("<presence xmlns='jabber:client' from='romeo@montague.lit/o'/>"),
        )
        .await;
        assert_eq!(
            log.take(),
            vec![
                "ping",
                "block from Some(\"juliet@capulet.lit\")",
                "pep",
                "pipeline",
                "presence"
            ]
        );
    }

    #[test]
    fn messages_without_a_payload_handler_go_to_the_other_messages_handler() {
        let r = router();
        let msg = |xml: &str| Message::try_from(xml.parse::<Element>().unwrap()).unwrap();
        assert!(r.takes_as_other(&msg(
            "<message xmlns='jabber:client'><body>hi</body></message>"
        )));
        assert!(!r.takes_as_other(&msg(
            "<message xmlns='jabber:client'><event xmlns='http://jabber.org/protocol/pubsub#event'/></message>"
        )));
        assert!(!Router::<Log>::default().takes_as_other(&msg("<message xmlns='jabber:client'/>")));
    }

    #[tokio::test]
    async fn the_table_answers_requests_nobody_registered_for() {
        let r = router();
        let log = Log::default();
        for xml in [
            "<iq xmlns='jabber:client' type='get' id='q1' from='romeo@montague.lit/o'><query xmlns='jabber:iq:version'/></iq>",
            "<iq xmlns='jabber:client' type='set' id='q2' from='romeo@montague.lit/o'><jingle xmlns='urn:xmpp:jingle:1'/></iq>",
            // A registered name in another namespace is another payload.
            "<iq xmlns='jabber:client' type='get' id='q3' from='romeo@montague.lit/o'><ping xmlns='urn:xmpp:other'/></iq>",
        ] {
            let replies = r.route(&log, stanza(xml)).await;
            let [Stanza::Iq(Iq::Error { error, to, .. })] = &replies[..] else {
                panic!("{replies:?}")
            };
            assert_eq!(error.defined_condition, DefinedCondition::ServiceUnavailable);
            assert_eq!(to.as_ref().map(|t| t.to_string()).as_deref(), Some("romeo@montague.lit/o"));
        }
        assert!(log.take().is_empty());
        // Answers to requests are not requests.
        let replies = r
            .route(
                &log,
                stanza("<iq xmlns='jabber:client' type='result' id='x'/>"),
            )
            .await;
        assert!(replies.is_empty());
    }

    #[test]
    fn answers_go_back_to_the_asker_with_the_id() {
        let to = Jid::new("romeo@montague.lit/orchard").ok();
        let Stanza::Iq(Iq::Result {
            to: t, id, payload, ..
        }) = answer_iq(to.clone(), "p1".into(), Ok(None))
        else {
            panic!()
        };
        assert_eq!((t, id.as_str(), payload), (to.clone(), "p1", None));
        let Stanza::Iq(Iq::Error {
            to: t, id, error, ..
        }) = answer_iq(
            to.clone(),
            "p2".into(),
            Err(DefinedCondition::ServiceUnavailable),
        )
        else {
            panic!()
        };
        assert_eq!((t, id.as_str()), (to, "p2"));
        assert_eq!(
            error.defined_condition,
            DefinedCondition::ServiceUnavailable
        );
        assert_eq!(error.type_, ErrorType::Cancel);
    }
}
