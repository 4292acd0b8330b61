//! One account: the task that owns its stream and protocol state, the
//! router that hands stanzas to the services, and what a new session does.
//!
//! - [`Account`] starts and stops the account task;
//! - [`AccountHandle`] is how services and the API talk to it: requests
//!   (IQs), stanzas to send, messages to queue, archive pages to fetch;
//! - `task`: the account task, the only owner of the stream, the send
//!   queue and the archive queries in progress;
//! - [`router`]: the table of stanza handlers the services register;
//! - [`session`]: what a new session does first.

pub(crate) mod ctx;
pub(crate) mod router;
pub(crate) mod session;
mod task;
#[cfg(test)]
pub(crate) mod wire;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_xmpp::stanzastream::StanzaStream;
use tokio_xmpp::Stanza;
use xmpp_parsers::iq::Iq;
use xmpp_parsers::presence::Presence;
use xmpp_parsers::stanza_error::StanzaError;

use crate::account::ctx::Ctx;
use crate::error::Error;
use crate::events::EventHub;
use crate::net::reconnect::{reconnect, Link};
use crate::outbound::intent::Intent;
use crate::passwords::PasswordStore;
use crate::services::archive::{ArchivePage, ArchiveQuery};
use crate::services::roster::Presences;
use tern_store::Store;

pub(crate) use crate::net::reconnect::Settings;

/// How long an IQ request waits for its answer.
pub(crate) const IQ_TIMEOUT: Duration = Duration::from_secs(30);

/// State shared by the account task, its reconnector and its handles.
struct Shared {
    /// The connection and its reconnect policy.
    link: Arc<Link>,
    /// Store, events and identity for the services.
    ctx: Ctx,
    /// Contacts' presence.
    presences: Presences,
    /// The user's own presence, re-sent at each new session.
    own_presence: Mutex<Presence>,
}

/// What the account task is asked to do.
enum Command {
    /// Send an IQ and route its answer back.
    Iq {
        iq: Box<Iq>,
        reply: oneshot::Sender<Result<Iq, Error>>,
    },
    /// Send a stanza as it is.
    Send(Box<Stanza>),
    /// A message was stored in the send queue: send it in its turn.
    Queue {
        message_id: i64,
        intent: Intent,
    },
    /// Send the stored queue again, in order, and accept new messages.
    FlushQueue,
    /// A parked message may go on: its upload ended or its keys were
    /// fetched (with the message's intent), or its upload failed (`None`).
    Unpark {
        message_id: i64,
        intent: Option<Intent>,
    },
    /// Messages held because they could not be encrypted are tried again
    /// (those to one peer, or all).
    ReleaseHeld {
        peer: Option<String>,
    },
    /// Fetch an archive page and run it through the inbound pipeline.
    Archive {
        query: Box<ArchiveQuery>,
        reply: oneshot::Sender<Result<ArchivePage, Error>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// A running (enabled) account.
pub(crate) struct Account {
    shared: Arc<Shared>,
    cmd_tx: mpsc::Sender<Command>,
    task: JoinHandle<()>,
}

impl Account {
    /// Starts connecting. Must run inside the tokio runtime.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        settings: Settings,
        first_sync_limit: u64,
        room_ping_after: std::time::Duration,
        activity: Arc<crate::account::ctx::Activity>,
        privacy: Arc<crate::account::ctx::PrivacyChoice>,
        files: Arc<crate::services::files::Files>,
        calls: Arc<crate::services::calls::Calls>,
        passwords: Arc<dyn PasswordStore>,
        hub: Arc<EventHub>,
        store: Store,
        data_dir: std::path::PathBuf,
    ) -> Account {
        let ctx = Ctx {
            store,
            hub: hub.clone(),
            own: settings.jid.clone(),
            account: settings.jid.to_string(),
            first_sync_limit,
            data_dir,
            discovery: Arc::default(),
            fetching: Arc::default(),
            activity,
            privacy,
            rooms: Arc::default(),
            room_ping_after,
            files,
            upload: Arc::default(),
            tls: Arc::new(Mutex::new(settings.trust.clone())),
            omemo: Arc::default(),
            calls,
        };
        let link = Arc::new(Link::new(settings, passwords, hub));
        let shared = Arc::new(Shared {
            link: link.clone(),
            ctx,
            presences: Presences::default(),
            own_presence: Mutex::new(Presence::available()),
        });
        let stream = StanzaStream::new(
            Box::new(move |_preferred, slot| {
                tokio::spawn(reconnect(link.clone(), slot));
            }),
            64,
        );
        let (cmd_tx, cmd_rx) = mpsc::channel(256);
        let handle = AccountHandle {
            shared: shared.clone(),
            cmd_tx: cmd_tx.clone(),
        };
        let task = tokio::spawn(task::run(handle, stream, cmd_rx));
        Account {
            shared,
            cmd_tx,
            task,
        }
    }

    /// Retry now (after the user fixed something, or to skip a backoff).
    pub(crate) fn retry(&self) {
        self.shared.link.retry.notify_one();
    }

    /// Replaces the settings used by the next attempt.
    pub(crate) fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        if let Ok(mut s) = self.shared.link.settings.lock() {
            f(&mut s);
            if let Ok(mut t) = self.shared.ctx.tls.lock() {
                *t = s.trust.clone();
            }
        }
    }

    /// A handle for requests that does not borrow the account.
    pub(crate) fn handle(&self) -> AccountHandle {
        AccountHandle {
            shared: self.shared.clone(),
            cmd_tx: self.cmd_tx.clone(),
        }
    }

    /// Closes the stream politely and stops all retries.
    pub(crate) async fn stop(self) {
        self.shared.link.stopped.store(true, Ordering::SeqCst);
        self.shared.link.retry.notify_one();
        let (done, wait) = oneshot::channel();
        if self.cmd_tx.send(Command::Shutdown(done)).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
        }
        self.task.abort();
    }
}

/// Sends requests through an account's task.
#[derive(Clone)]
pub(crate) struct AccountHandle {
    shared: Arc<Shared>,
    cmd_tx: mpsc::Sender<Command>,
}

impl AccountHandle {
    /// The services' context.
    pub(crate) fn ctx(&self) -> &Ctx {
        &self.shared.ctx
    }

    /// Contacts' presence.
    pub(crate) fn presences(&self) -> &Presences {
        &self.shared.presences
    }

    fn not_connected(&self) -> Error {
        Error::NotConnected(self.shared.ctx.account.clone())
    }

    async fn command(&self, cmd: Command) -> Result<(), Error> {
        self.cmd_tx
            .send(cmd)
            .await
            .map_err(|_| self.not_connected())
    }

    /// The user's presence for new sessions.
    pub(crate) fn own_presence(&self) -> Presence {
        let p = self
            .shared
            .own_presence
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|_| Presence::available());
        crate::services::caps::with_caps(p, self.ctx().calls.available())
    }

    /// Changes the user's presence now and for later sessions.
    pub(crate) async fn set_own_presence(&self, p: Presence) -> Result<(), Error> {
        if let Ok(mut own) = self.shared.own_presence.lock() {
            *own = p.clone();
        }
        self.send(Stanza::Presence(crate::services::caps::with_caps(
            p,
            self.ctx().calls.available(),
        )))
        .await
    }

    /// A message was stored in the send queue: the task sends it in its
    /// turn, built from `intent` then.
    pub(crate) async fn queue(&self, message_id: i64, intent: Intent) -> Result<(), Error> {
        self.command(Command::Queue { message_id, intent }).await
    }

    /// A parked message may go on: its upload ended (with its intent when
    /// it succeeded, `None` when it failed; either way what waited behind
    /// it goes on), or its keys were fetched.
    pub(crate) async fn unpark(&self, message_id: i64, intent: Option<Intent>) {
        let _ = self.command(Command::Unpark { message_id, intent }).await;
    }

    /// Tries again the messages held because they could not be encrypted
    /// (to `peer`, or all).
    pub(crate) async fn release_held(&self, peer: Option<String>) {
        let _ = self.command(Command::ReleaseHeld { peer }).await;
    }

    /// Re-sends the stored send queue (after a new session).
    pub(crate) async fn flush_queue(&self) {
        let _ = self.command(Command::FlushQueue).await;
    }

    /// Fetches one archive page; the account task runs it through the
    /// inbound pipeline (when the query says so) before answering.
    pub(crate) async fn archive_page(&self, query: ArchiveQuery) -> Result<ArchivePage, Error> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Archive {
            query: Box::new(query),
            reply,
        })
        .await?;
        match tokio::time::timeout(IQ_TIMEOUT * 2, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(self.not_connected()),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Queues an IQ for sending and returns the wait for its result: IQs
    /// queued one after the other leave in that order.
    pub(crate) async fn request_queued(
        &self,
        iq: Iq,
    ) -> Result<impl std::future::Future<Output = Result<Iq, Error>> + use<>, Error> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Iq {
            iq: Box::new(iq),
            reply,
        })
        .await?;
        let not_connected = self.not_connected();
        Ok(async move {
            match tokio::time::timeout(IQ_TIMEOUT, rx).await {
                Ok(Ok(r)) => r,
                Ok(Err(_)) => Err(not_connected),
                Err(_) => Err(Error::Timeout),
            }
        })
    }

    /// Sends an IQ and waits for its result (or error).
    pub(crate) async fn request(&self, iq: Iq) -> Result<Iq, Error> {
        let (reply, rx) = oneshot::channel();
        self.command(Command::Iq {
            iq: Box::new(iq),
            reply,
        })
        .await?;
        match tokio::time::timeout(IQ_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(self.not_connected()),
            Err(_) => Err(Error::Timeout),
        }
    }

    /// Queues a stanza for sending (delivered after reconnecting if needed).
    pub(crate) async fn send(&self, stanza: Stanza) -> Result<(), Error> {
        self.command(Command::Send(Box::new(stanza))).await
    }
}

/// An IQ error as the engine's error.
pub(crate) fn stanza_error(e: &StanzaError) -> Error {
    let condition = format!("{:?}", e.defined_condition);
    Error::Stanza {
        condition: crate::error::kebab(&condition),
        text: e.texts.values().next().cloned(),
    }
}
