//! The Tern side of the slixmpp-omemo interop tests: a tokio-xmpp stanza stream (direct TLS to
//! the test Prosody, trusting only the test CA) driving [`Omemo`] by hand, the way the engine
//! will: publish the device list and bundle over PEP, fetch the peer's, send and receive
//! `<encrypted/>` messages.
//!
//! It uses `StanzaStream` from one task, like the engine, not tokio-xmpp's `Client`: in
//! tokio-xmpp 6.0.0 the `Client`'s background worker polls its receive half with `try_lock`
//! and returns `Pending` without a wake-up while a send holds the lock, so a stanza that
//! arrives during a send can sit unread until the next one arrives.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures::StreamExt;
use sasl::common::ChannelBinding;
use serde_json::Value;
use tern_omemo::legacy_omemo::{Bundle, DeviceList, Encrypted, Key};
use tern_omemo::message::{CiphertextMessage, SignalMessage};
use tern_omemo::{parse_key, BareJid, Config, Decrypted, MemoryStore, Omemo};
use tern_testkit::{Prosody, SlixmppPeer, TestCa};
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::minidom::Element;
use tokio_xmpp::parsers::data_forms::{DataForm, DataFormType, Field};
use tokio_xmpp::parsers::eme::ExplicitMessageEncryption;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::jid::Jid;
use tokio_xmpp::parsers::message::{Id, Lang, Message, MessageType};
use tokio_xmpp::parsers::ns;
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::parsers::pubsub::pubsub::{Item, Items, Publish, PublishOptions};
use tokio_xmpp::parsers::pubsub::{ItemId, NodeName, PubSub};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::stanzastream::{Event, StanzaStage, StanzaState, StanzaStream, StreamEvent};
use tokio_xmpp::xmlstream::{initiate_stream, PendingFeaturesRecv, StreamHeader, Timeouts};
use tokio_xmpp::Stanza;

/// How long any single network step may take.
pub const WAIT: Duration = Duration::from_secs(30);

/// The fallback body of an encrypted message, for clients without OMEMO.
const FALLBACK: &str = "This message is OMEMO encrypted.";

/// Connects straight to a loopback port with TLS from the first byte (XEP-0368), trusting only
/// the test CA. No channel binding: Prosody 0.12 has no -PLUS mechanisms.
#[derive(Clone, Debug)]
struct LoopbackTls {
    addr: SocketAddr,
    domain: String,
    tls: Arc<rustls::ClientConfig>,
}

impl LoopbackTls {
    fn new(addr: SocketAddr, domain: &str) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(rustls::pki_types::CertificateDer::from(
            TestCa::global().ca_cert_der(),
        ))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(LoopbackTls {
            addr,
            domain: domain.to_owned(),
            tls: Arc::new(tls),
        })
    }
}

impl ServerConnector for LoopbackTls {
    type Stream = BufStream<TlsStream<TcpStream>>;

    async fn connect(
        &self,
        _jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, ChannelBinding), tokio_xmpp::Error> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = rustls::pki_types::ServerName::try_from(self.domain.clone())
            .map_err(std::io::Error::other)?;
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await?;
        let header = StreamHeader {
            to: Some(Cow::Owned(self.domain.clone())),
            from: None,
            id: None,
        };
        let pending = initiate_stream(BufStream::new(tls), ns, header, timeouts).await?;
        Ok((pending, ChannelBinding::None))
    }
}

/// An `<encrypted/>` message as it arrived.
#[derive(Debug)]
pub struct Incoming {
    /// The sender's bare JID.
    pub from: BareJid,
    /// The stanza id, if any.
    pub id: Option<String>,
    /// The OMEMO element.
    pub encrypted: Encrypted,
}

impl Incoming {
    /// The `<key/>` addressed to `device`.
    pub fn key_for(&self, device: u32) -> Result<&Key> {
        self.encrypted
            .header
            .keys
            .iter()
            .find(|k| k.rid == device)
            .ok_or_else(|| anyhow!("no <key/> for device {device} in {:?}", self.id))
    }
}

/// The double-ratchet message inside a `<key/>` (unwrapping a pre-key message).
pub fn ratchet_message(key: &Key) -> Result<SignalMessage> {
    Ok(match parse_key(key)? {
        CiphertextMessage::PreKey(m) => m.message,
        CiphertextMessage::Signal(m) => m,
    })
}

/// One Tern device: an XMPP session plus OMEMO state in memory.
pub struct Tern {
    stream: StanzaStream,
    next_iq: u32,
    /// IQ answers received but not yet taken, by id.
    answers: HashMap<String, Iq>,
    /// This account.
    pub jid: BareJid,
    /// OMEMO for this device.
    pub omemo: Omemo<MemoryStore>,
    /// Encrypted messages received but not yet taken.
    inbox: VecDeque<Incoming>,
}

impl Tern {
    /// Signs in as a fresh user of `server`, sends initial presence (so that messages to the
    /// bare JID reach this session), creates an OMEMO identity and publishes the device list
    /// and bundle with open access, as OMEMO clients do.
    pub async fn start(server: &Prosody) -> Result<Tern> {
        init_logging();
        let (user, password) = server.create_user()?;
        let jid: BareJid = format!("{user}@{}", server.domain()).parse()?;
        let connector = LoopbackTls::new(
            SocketAddr::from(([127, 0, 0, 1], server.direct_tls_port())),
            server.domain(),
        )?;
        let mut stream = StanzaStream::new_c2s(
            connector,
            jid.clone().into(),
            password,
            Timeouts::default(),
            64,
        );
        let deadline = Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, stream.next()).await {
                Ok(Some(Event::Stream(StreamEvent::Reset { .. }))) => break,
                Ok(Some(_)) => {}
                Ok(None) => bail!("{jid}: the stream stopped before signing in"),
                Err(_) => bail!("{jid}: not signed in within {WAIT:?}"),
            }
        }
        let omemo = Omemo::load_or_create(MemoryStore::new(), jid.clone(), Config::default(), 0)
            .await
            .context("creating the OMEMO identity")?;
        let mut tern = Tern {
            stream,
            next_iq: 0,
            answers: HashMap::new(),
            jid,
            omemo,
            inbox: VecDeque::new(),
        };
        tern.send_stanza(Presence::available().into())
            .await
            .context("sending presence")?;
        let list = tern.omemo.own_device_list(None);
        tern.publish(ns::LEGACY_OMEMO_DEVICELIST, list.into())
            .await
            .context("publishing the device list")?;
        tern.publish_bundle().await?;
        Ok(tern)
    }

    /// This device's id.
    pub fn device_id(&self) -> u32 {
        self.omemo.own_device_id()
    }

    /// Publishes this device's current bundle.
    pub async fn publish_bundle(&mut self) -> Result<()> {
        let bundle = self.omemo.own_bundle().await?;
        let node = format!("{}:{}", ns::LEGACY_OMEMO_BUNDLES, self.device_id());
        self.publish(&node, bundle.into())
            .await
            .context("publishing the bundle")
    }

    /// Publishes `payload` as item `current` of our PEP node `node`, open to everyone.
    async fn publish(&mut self, node: &str, payload: Element) -> Result<()> {
        let options = DataForm::new(
            DataFormType::Submit,
            "http://jabber.org/protocol/pubsub#publish-options",
            vec![Field::text_single("pubsub#access_model", "open")],
        );
        let pubsub = PubSub::Publish {
            publish: Publish {
                node: NodeName(node.to_owned()),
                items: vec![Item {
                    id: Some(ItemId("current".to_owned())),
                    publisher: None,
                    payload: Some(payload),
                }],
            },
            publish_options: Some(PublishOptions {
                form: Some(options),
            }),
        };
        self.iq(|id| Iq::from_set(id, pubsub)).await?;
        Ok(())
    }

    /// The payload of the first item of `node` on `jid`'s PEP service.
    async fn fetch_item(&mut self, jid: &BareJid, node: &str) -> Result<Element> {
        let request = PubSub::Items(Items::new(node));
        let to = Jid::from(jid.clone());
        let answer = self
            .iq(|id| Iq::from_get(id, request).with_to(to))
            .await?
            .ok_or_else(|| anyhow!("empty answer for {node} of {jid}"))?;
        let PubSub::Items(items) = PubSub::try_from(answer)? else {
            bail!("not an <items/> answer for {node} of {jid}");
        };
        items
            .items
            .into_iter()
            .next()
            .and_then(|item| item.payload)
            .ok_or_else(|| anyhow!("{node} of {jid} has no item"))
    }

    /// Fetches `jid`'s device list and feeds it to OMEMO; returns the device ids.
    pub async fn fetch_device_list(&mut self, jid: &BareJid) -> Result<Vec<u32>> {
        let item = self.fetch_item(jid, ns::LEGACY_OMEMO_DEVICELIST).await?;
        let list = DeviceList::try_from(item)?;
        self.omemo.receive_device_list(jid, &list).await?;
        Ok(list.devices.iter().map(|d| d.id).collect())
    }

    /// Fetches the bundle of `jid`'s `device` and builds a session from it.
    pub async fn fetch_bundle(&mut self, jid: &BareJid, device: u32) -> Result<()> {
        let node = format!("{}:{device}", ns::LEGACY_OMEMO_BUNDLES);
        let bundle = Bundle::try_from(self.fetch_item(jid, &node).await?)?;
        self.omemo.receive_bundle(jid, device, &bundle).await?;
        Ok(())
    }

    /// Sends a stanza and waits until it is written to the stream.
    async fn send_stanza(&mut self, stanza: Stanza) -> Result<()> {
        let mut token = self.stream.send(Box::new(stanza)).await;
        match token.wait_for(StanzaStage::Sent).await {
            Some(StanzaState::Sent { .. } | StanzaState::Acked { .. }) => Ok(()),
            other => bail!("stanza not sent: {other:?}"),
        }
    }

    /// Sends the IQ `make(id)` and waits for its answer, buffering messages that arrive
    /// meanwhile. An error answer is an error.
    async fn iq(&mut self, make: impl FnOnce(String) -> Iq) -> Result<Option<Element>> {
        self.next_iq += 1;
        let id = format!("tern-iq-{}", self.next_iq);
        self.send_stanza(make(id.clone()).into()).await?;
        let deadline = Instant::now() + WAIT;
        loop {
            match self.answers.remove(&id) {
                Some(Iq::Result { payload, .. }) => return Ok(payload),
                Some(Iq::Error { error, .. }) => bail!("IQ error: {error:?}"),
                Some(other) => bail!("unexpected IQ answer: {other:?}"),
                None => {}
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(event) => self.take_event(event).await?,
                Err(_) => bail!("no answer to IQ {id} within {WAIT:?}"),
            }
        }
    }

    async fn take_event(&mut self, event: Option<Event>) -> Result<()> {
        if std::env::var_os("TERN_TEST_DEBUG").is_some() {
            eprintln!("{} <- {event:?}", self.jid);
        }
        match event {
            None => bail!("the stanza stream stopped"),
            // A fresh session would have lost messages in flight.
            Some(Event::Stream(StreamEvent::Reset { .. })) => {
                bail!("the stream was re-established mid-test")
            }
            Some(Event::Stream(_)) => Ok(()),
            Some(Event::Stanza(Stanza::Message(message))) => self.take_message(message),
            Some(Event::Stanza(Stanza::Iq(iq))) => match iq {
                Iq::Result { .. } | Iq::Error { .. } => {
                    self.answers.insert(iq.id().to_owned(), iq);
                    Ok(())
                }
                Iq::Get { from, id, .. } | Iq::Set { from, id, .. } => {
                    let error = StanzaError::new(
                        ErrorType::Cancel,
                        DefinedCondition::ServiceUnavailable,
                        "en",
                        "",
                    );
                    let mut answer = Iq::from_error(id, error);
                    if let Some(from) = from {
                        answer = answer.with_to(from);
                    }
                    self.send_stanza(answer.into()).await
                }
            },
            Some(Event::Stanza(Stanza::Presence(_))) => Ok(()),
        }
    }

    fn take_message(&mut self, message: Message) -> Result<()> {
        if message.type_ == MessageType::Error {
            bail!("error message: {message:?}");
        }
        let Some(element) = message
            .payloads
            .iter()
            .find(|p| p.is("encrypted", ns::LEGACY_OMEMO))
        else {
            return Ok(());
        };
        let from = message
            .from
            .as_ref()
            .ok_or_else(|| anyhow!("encrypted message without a sender"))?
            .to_bare();
        let encrypted = Encrypted::try_from(element.clone())
            .with_context(|| format!("malformed <encrypted/> from {from}"))?;
        self.inbox.push_back(Incoming {
            from,
            id: message.id.map(|id| id.0),
            encrypted,
        });
        Ok(())
    }

    /// The next encrypted message from `from` (others are kept), not yet decrypted.
    pub async fn next_encrypted(&mut self, from: &BareJid) -> Result<Incoming> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.inbox.iter().position(|m| &m.from == from) {
                return self.inbox.remove(i).ok_or_else(|| anyhow!("inbox changed"));
            }
            match tokio::time::timeout_at(deadline, self.stream.next()).await {
                Ok(event) => self.take_event(event).await?,
                Err(_) => bail!("no encrypted message from {from} within {WAIT:?}"),
            }
        }
    }

    /// Decrypts `incoming`; fails if OMEMO does.
    pub async fn decrypt(&mut self, incoming: &Incoming) -> Result<Decrypted> {
        self.omemo
            .decrypt(&incoming.from, &incoming.encrypted)
            .await
            .with_context(|| {
                format!(
                    "decrypting {:?} from {} (device {})",
                    incoming.id, incoming.from, incoming.encrypted.header.sid
                )
            })
    }

    /// Receives and decrypts messages from `from` until one has a body; empty (key-transport)
    /// messages before it must decrypt too. Returns the text and the message it came in.
    pub async fn receive_text(&mut self, from: &BareJid) -> Result<(String, Incoming)> {
        loop {
            let incoming = self.next_encrypted(from).await?;
            let decrypted = self.decrypt(&incoming).await?;
            if let Some(plaintext) = decrypted.plaintext {
                return Ok((String::from_utf8(plaintext)?, incoming));
            }
        }
    }

    /// Waits for the first event of `peer` that `pred` accepts, reading this side's stream
    /// meanwhile (as a client always does: messages are kept, IQs answered). Any error the peer
    /// reports (a decryption failure, a failed command) fails the wait at once.
    pub async fn wait_for_peer(
        &mut self,
        peer: &Arc<SlixmppPeer>,
        what: &str,
        pred: impl Fn(&Value) -> bool + Send + 'static,
    ) -> Result<Value> {
        let watched = Arc::clone(peer);
        let mut waiter = tokio::task::spawn_blocking(move || {
            watched.wait_for(WAIT, |e| pred(e) || is(e, "error"))
        });
        loop {
            tokio::select! {
                done = &mut waiter => {
                    let event = done.context("the peer waiter died")??;
                    if is(&event, "error") {
                        bail!("the peer reported an error while {what}: {}", event["message"]);
                    }
                    return Ok(event);
                }
                event = self.stream.next() => self.take_event(event).await?,
            }
        }
    }

    /// Waits until `peer` reports that it decrypted message `id`; returns that report.
    pub async fn peer_decrypted(&mut self, peer: &Arc<SlixmppPeer>, id: &str) -> Result<Value> {
        let wanted = id.to_owned();
        self.wait_for_peer(peer, &format!("waiting for it to decrypt {id}"), move |e| {
            is(e, "omemo_message") && e["id"] == wanted.as_str()
        })
        .await
    }

    /// Waits until `peer` has sent message `id`.
    pub async fn peer_sent(&mut self, peer: &Arc<SlixmppPeer>, id: &str) -> Result<()> {
        let wanted = id.to_owned();
        self.wait_for_peer(peer, &format!("waiting for it to send {id}"), move |e| {
            is(e, "sent") && e["id"] == wanted.as_str()
        })
        .await?;
        Ok(())
    }

    /// Encrypts `text` for `to` (a session must exist) without sending it.
    pub async fn encrypt(&mut self, to: &BareJid, text: &str) -> Result<Encrypted> {
        let out = self
            .omemo
            .encrypt(std::slice::from_ref(to), text.as_bytes())
            .await?;
        if !out.missing_bundles.is_empty() || !out.undecided.is_empty() {
            bail!(
                "not encrypted for every device: missing {:?}, undecided {:?}",
                out.missing_bundles,
                out.undecided
            );
        }
        Ok(out.element)
    }

    /// Sends an `<encrypted/>` element to `to` in a chat message with stanza id `id`, with
    /// the usual fallback body and XEP-0380 hint.
    pub async fn send(&mut self, to: &BareJid, id: &str, encrypted: Encrypted) -> Result<()> {
        let has_payload = encrypted.payload.is_some();
        let mut message = Message::chat(Some(Jid::from(to.clone())));
        message.id = Some(Id(id.to_owned()));
        if has_payload {
            message = message.with_body(Lang::new(), FALLBACK.to_owned());
        }
        message = message
            .with_payload(encrypted)
            .with_payload(ExplicitMessageEncryption {
                namespace: ns::LEGACY_OMEMO.to_owned(),
                name: Some("OMEMO".to_owned()),
            });
        message
            .payloads
            .push(Element::builder("store", "urn:xmpp:hints").build());
        self.send_stanza(message.into())
            .await
            .with_context(|| format!("sending {id}"))
    }

    /// Encrypts and sends `text`; returns the element sent.
    pub async fn send_text(&mut self, to: &BareJid, id: &str, text: &str) -> Result<Encrypted> {
        let encrypted = self.encrypt(to, text).await?;
        self.send(to, id, encrypted.clone()).await?;
        Ok(encrypted)
    }
}

/// Logs (tokio-xmpp's included) to the test output, filtered by `RUST_LOG`; off by default.
fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "off".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Whether `event` is of kind `name`.
fn is(event: &Value, name: &str) -> bool {
    event["event"] == name
}

/// The peer's bare JID, parsed.
pub fn bare_jid(peer: &SlixmppPeer) -> Result<BareJid> {
    Ok(peer.bare_jid().parse()?)
}
