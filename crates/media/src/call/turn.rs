//! A TURN client (RFC 8656) over UDP, without sockets: one allocation on one server with
//! long-term credentials (the 401 realm/nonce exchange, stale nonces), permissions for the
//! peers' addresses, channels for the peers data is sent to, Send/Data indications until a
//! channel is bound, refreshes before anything expires, and a zero-lifetime Refresh on close.
//!
//! The session feeds it what arrives from the server ([`TurnClient::receive`]), asks it to
//! wrap what str0m sends from the relayed address ([`TurnClient::send_to`]), sends what
//! [`TurnClient::poll_transmit`] gives to the server, and calls [`TurnClient::handle_timeout`]
//! at [`TurnClient::deadline`]. Everything read from the server is bounds-checked; what cannot
//! be read is dropped, what is answered wrongly fails the allocation with a reason.

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use openssl::hash::{hash, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;

use super::net::{read_address, MAGIC_COOKIE};

const ALLOCATE: u16 = 0x003;
const REFRESH: u16 = 0x004;
const SEND: u16 = 0x006;
const DATA: u16 = 0x007;
const CREATE_PERMISSION: u16 = 0x008;
const CHANNEL_BIND: u16 = 0x009;

const REQUEST: u16 = 0x0000;
const INDICATION: u16 = 0x0010;
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;

const ATTR_USERNAME: u16 = 0x0006;
const ATTR_MESSAGE_INTEGRITY: u16 = 0x0008;
const ATTR_ERROR_CODE: u16 = 0x0009;
const ATTR_CHANNEL_NUMBER: u16 = 0x000C;
const ATTR_LIFETIME: u16 = 0x000D;
const ATTR_XOR_PEER_ADDRESS: u16 = 0x0012;
const ATTR_DATA: u16 = 0x0013;
const ATTR_REALM: u16 = 0x0014;
const ATTR_NONCE: u16 = 0x0015;
const ATTR_XOR_RELAYED_ADDRESS: u16 = 0x0016;
const ATTR_REQUESTED_TRANSPORT: u16 = 0x0019;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// IANA protocol number of UDP, for REQUESTED-TRANSPORT.
const UDP: u8 = 17;

/// First retransmission of a request; doubles up to [`MAX_RTO`].
const RTO: Duration = Duration::from_millis(250);
const MAX_RTO: Duration = Duration::from_secs(1);
/// Transmissions of a request before it is given up (about 4.8 s in all).
const MAX_SENDS: u32 = 6;
/// Stale-nonce answers followed per request.
const MAX_STALE: u32 = 3;

/// The allocation lifetime asked for, and the bounds put on what the server grants.
const LIFETIME: u32 = 600;
const MIN_LIFETIME: u32 = 30;
const MAX_LIFETIME: u32 = 3600;
/// Permissions last 300 s (RFC 8656 §9) and channels 600 s (§12): refreshed well before.
const PERMISSION_REFRESH: Duration = Duration::from_secs(240);
const CHANNEL_REFRESH: Duration = Duration::from_secs(480);

/// Peers' addresses given permissions, and channels bound, at most: a call has a handful of
/// remote candidates, and what a peer sends cannot grow this.
pub(crate) const MAX_PERMISSIONS: usize = 16;
const MAX_CHANNELS: usize = 16;
const FIRST_CHANNEL: u16 = 0x4000;
/// Requests in flight and datagrams waiting to be sent, at most.
const MAX_TRANSACTIONS: usize = 40;
const MAX_QUEUED: usize = 64;
/// Attributes read from one message, and the longest text kept from the server.
const MAX_ATTRIBUTES: usize = 32;
const MAX_TEXT: usize = 763;

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TurnEvent {
    /// The allocation exists: the relayed address, and where the server saw us.
    Allocated {
        relayed: SocketAddr,
        mapped: Option<SocketAddr>,
    },
    /// No allocation (any more): why, for the log and the user.
    Failed(String),
}

/// What a datagram from the server was.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Received {
    /// Handled by the client, or dropped.
    Handled,
    /// Data a peer sent to the relayed address.
    Data { peer: SocketAddr, data: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Allocate,
    Refresh(u32),
    Permission(IpAddr),
    Channel(SocketAddr, u16),
}

#[derive(Debug)]
struct Transaction {
    id: [u8; 12],
    kind: Kind,
    bytes: Vec<u8>,
    sends: u32,
    next_at: Instant,
    stale: u32,
}

#[derive(Debug)]
struct Auth {
    realm: Vec<u8>,
    nonce: Vec<u8>,
    key: [u8; 16],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Allocating,
    Allocated {
        relayed: SocketAddr,
        refresh_at: Instant,
    },
    Failed,
    Closed,
}

#[derive(Debug)]
struct Permission {
    ip: IpAddr,
    /// When to ask (again): `None` while a request is in flight.
    refresh_at: Option<Instant>,
}

#[derive(Debug)]
struct Channel {
    peer: SocketAddr,
    number: u16,
    bound: bool,
    refresh_at: Option<Instant>,
}

/// One allocation on one TURN server, seen from the socket at `base`.
#[derive(Debug)]
pub(crate) struct TurnClient {
    server: SocketAddr,
    base: SocketAddr,
    username: String,
    password: String,
    auth: Option<Auth>,
    state: State,
    permissions: Vec<Permission>,
    channels: Vec<Channel>,
    transactions: Vec<Transaction>,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<TurnEvent>,
}

impl TurnClient {
    /// Starts allocating: the first Allocate (without credentials, to learn the realm and
    /// nonce) is queued at once.
    pub(crate) fn new(
        server: SocketAddr,
        base: SocketAddr,
        username: &str,
        password: &str,
        now: Instant,
    ) -> Self {
        let mut client = Self {
            server,
            base,
            username: username.to_owned(),
            password: password.to_owned(),
            auth: None,
            state: State::Allocating,
            permissions: Vec::new(),
            channels: Vec::new(),
            transactions: Vec::new(),
            out: VecDeque::new(),
            events: VecDeque::new(),
        };
        client.request(Kind::Allocate, now, 0);
        client
    }

    /// The server's address.
    pub(crate) fn server(&self) -> SocketAddr {
        self.server
    }

    /// The local socket the server is reached from.
    pub(crate) fn base(&self) -> SocketAddr {
        self.base
    }

    /// The relayed address, once allocated.
    pub(crate) fn relayed(&self) -> Option<SocketAddr> {
        match self.state {
            State::Allocated { relayed, .. } => Some(relayed),
            _ => None,
        }
    }

    /// Whether the allocation failed (or was closed) for good.
    pub(crate) fn is_done(&self) -> bool {
        matches!(self.state, State::Failed | State::Closed)
    }

    /// Lets `ip` send to the relayed address (a remote candidate's address). Asked for once
    /// allocated; refreshed until the end.
    pub(crate) fn permit(&mut self, ip: IpAddr, now: Instant) {
        if self.is_done()
            || self.permissions.iter().any(|p| p.ip == ip)
            || self.permissions.len() >= MAX_PERMISSIONS
        {
            return;
        }
        self.permissions.push(Permission {
            ip,
            refresh_at: Some(now),
        });
        self.refresh_due(now);
    }

    /// The datagram to send to the server that carries `data` to `peer` through the relay
    /// (a ChannelData message once a channel is bound, else a Send indication); `None` when
    /// there is no allocation. The first datagram to a peer also asks for a channel.
    pub(crate) fn send_to(
        &mut self,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
    ) -> Option<Vec<u8>> {
        self.relayed()?;
        if data.len() > usize::from(u16::MAX) - 64 {
            return None;
        }
        if let Some(c) = self.channels.iter().find(|c| c.peer == peer && c.bound) {
            let mut out = Vec::with_capacity(4 + data.len());
            out.extend_from_slice(&c.number.to_be_bytes());
            out.extend_from_slice(&(data.len() as u16).to_be_bytes());
            out.extend_from_slice(data);
            return Some(out);
        }
        self.permit(peer.ip(), now);
        if !self.channels.iter().any(|c| c.peer == peer) && self.channels.len() < MAX_CHANNELS {
            let number = FIRST_CHANNEL + self.channels.len() as u16;
            self.channels.push(Channel {
                peer,
                number,
                bound: false,
                refresh_at: Some(now),
            });
            self.refresh_due(now);
        }
        let id: [u8; 12] = rand::random();
        let mut m = Builder::new(SEND | INDICATION, &id);
        m.attr(ATTR_XOR_PEER_ADDRESS, &xor_address(peer, &id));
        m.attr(ATTR_DATA, data);
        Some(m.finish())
    }

    /// A datagram that came from the server.
    pub(crate) fn receive(&mut self, data: &[u8], now: Instant) -> Received {
        if let Some(&first) = data.first() {
            if (0x40..=0x4f).contains(&first) {
                return self.channel_data(data);
            }
        }
        let Some(msg) = Message::parse(data) else {
            return Received::Handled;
        };
        match msg.kind {
            k if k == DATA | INDICATION => {
                let (Some(peer), Some(payload)) = (
                    msg.attr(ATTR_XOR_PEER_ADDRESS)
                        .and_then(|v| read_address(v, Some(&data[4..20]))),
                    msg.attr(ATTR_DATA),
                ) else {
                    return Received::Handled;
                };
                if self.relayed().is_none() || !self.permissions.iter().any(|p| p.ip == peer.ip()) {
                    return Received::Handled;
                }
                Received::Data {
                    peer,
                    data: payload.to_vec(),
                }
            }
            _ => {
                self.response(&msg, now);
                Received::Handled
            }
        }
    }

    fn channel_data(&self, data: &[u8]) -> Received {
        if data.len() < 4 || self.relayed().is_none() {
            return Received::Handled;
        }
        let number = u16::from_be_bytes([data[0], data[1]]);
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let (Some(c), Some(payload)) = (
            self.channels.iter().find(|c| c.number == number && c.bound),
            data.get(4..4 + len),
        ) else {
            return Received::Handled;
        };
        Received::Data {
            peer: c.peer,
            data: payload.to_vec(),
        }
    }

    /// Retransmits, refreshes and gives up on what is due.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        let out = &mut self.out;
        self.transactions.retain_mut(|t| {
            if now < t.next_at {
                return true;
            }
            if t.sends >= MAX_SENDS {
                expired.push(t.kind);
                return false;
            }
            let rto = RTO.saturating_mul(1 << t.sends.min(8)).min(MAX_RTO);
            t.sends += 1;
            t.next_at = now + rto;
            if out.len() < MAX_QUEUED {
                out.push_back(t.bytes.clone());
            }
            true
        });
        for kind in expired {
            match kind {
                Kind::Allocate => {
                    self.fail(format!("the TURN server {} did not answer", self.server))
                }
                Kind::Refresh(0) => {}
                Kind::Refresh(_) => {
                    self.fail(format!("the TURN server {} stopped answering", self.server))
                }
                Kind::Permission(ip) => self.permissions.retain(|p| p.ip != ip),
                Kind::Channel(peer, _) => self.channels.retain(|c| c.peer != peer),
            }
        }
        self.refresh_due(now);
    }

    /// When [`Self::handle_timeout`] is next needed.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let mut at = self.transactions.iter().map(|t| t.next_at).min();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        };
        if let State::Allocated { refresh_at, .. } = self.state {
            consider(Some(refresh_at));
            for p in &self.permissions {
                consider(p.refresh_at);
            }
            for c in &self.channels {
                consider(c.refresh_at);
            }
        }
        at
    }

    /// The next datagram for the server.
    pub(crate) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event.
    pub(crate) fn poll_event(&mut self) -> Option<TurnEvent> {
        self.events.pop_front()
    }

    /// Frees the allocation (a Refresh with lifetime 0, sent once, not awaited).
    pub(crate) fn close(&mut self, now: Instant) {
        let allocated = self.relayed().is_some();
        self.transactions.clear();
        self.out.clear();
        if allocated {
            self.request(Kind::Refresh(0), now, 0);
            self.transactions.clear();
        }
        self.state = State::Closed;
    }

    fn fail(&mut self, why: String) {
        if self.is_done() {
            return;
        }
        self.state = State::Failed;
        self.transactions.clear();
        self.events.push_back(TurnEvent::Failed(why));
    }

    /// Sends the requests whose time has come (allocation refresh, permissions, channels).
    fn refresh_due(&mut self, now: Instant) {
        let State::Allocated { refresh_at, .. } = self.state else {
            return;
        };
        if now >= refresh_at && !self.pending(|k| matches!(k, Kind::Refresh(_))) {
            self.request(Kind::Refresh(LIFETIME), now, 0);
        }
        let mut due = Vec::new();
        for p in &mut self.permissions {
            if p.refresh_at.is_some_and(|t| now >= t) {
                p.refresh_at = None;
                due.push(Kind::Permission(p.ip));
            }
        }
        for c in &mut self.channels {
            if c.refresh_at.is_some_and(|t| now >= t) {
                c.refresh_at = None;
                due.push(Kind::Channel(c.peer, c.number));
            }
        }
        for kind in due {
            self.request(kind, now, 0);
        }
    }

    fn pending(&self, f: impl Fn(Kind) -> bool) -> bool {
        self.transactions.iter().any(|t| f(t.kind))
    }

    /// Builds and sends a request (authenticated once the realm and nonce are known).
    fn request(&mut self, kind: Kind, now: Instant, stale: u32) {
        if self.transactions.len() >= MAX_TRANSACTIONS {
            return;
        }
        let id: [u8; 12] = rand::random();
        let method = match kind {
            Kind::Allocate => ALLOCATE,
            Kind::Refresh(_) => REFRESH,
            Kind::Permission(_) => CREATE_PERMISSION,
            Kind::Channel(..) => CHANNEL_BIND,
        };
        let mut m = Builder::new(method | REQUEST, &id);
        match kind {
            Kind::Allocate => {
                m.attr(ATTR_REQUESTED_TRANSPORT, &[UDP, 0, 0, 0]);
                m.attr(ATTR_LIFETIME, &LIFETIME.to_be_bytes());
            }
            Kind::Refresh(lifetime) => m.attr(ATTR_LIFETIME, &lifetime.to_be_bytes()),
            Kind::Permission(ip) => {
                m.attr(
                    ATTR_XOR_PEER_ADDRESS,
                    &xor_address(SocketAddr::new(ip, 0), &id),
                );
            }
            Kind::Channel(peer, number) => {
                let mut n = number.to_be_bytes().to_vec();
                n.extend_from_slice(&[0, 0]);
                m.attr(ATTR_CHANNEL_NUMBER, &n);
                m.attr(ATTR_XOR_PEER_ADDRESS, &xor_address(peer, &id));
            }
        }
        if let Some(auth) = &self.auth {
            m.attr(ATTR_USERNAME, self.username.as_bytes());
            m.attr(ATTR_REALM, &auth.realm);
            m.attr(ATTR_NONCE, &auth.nonce);
            if !m.integrity(&auth.key) {
                self.fail("cannot compute the TURN message integrity".into());
                return;
            }
        }
        let bytes = m.finish();
        if self.out.len() < MAX_QUEUED {
            self.out.push_back(bytes.clone());
        }
        self.transactions.push(Transaction {
            id,
            kind,
            bytes,
            sends: 1,
            next_at: now + RTO,
            stale,
        });
    }

    fn response(&mut self, msg: &Message<'_>, now: Instant) {
        let class = msg.kind & 0x0110;
        if class != SUCCESS && class != ERROR {
            return;
        }
        let Some(i) = self.transactions.iter().position(|t| t.id == msg.id) else {
            return;
        };
        let expected = match self.transactions[i].kind {
            Kind::Allocate => ALLOCATE,
            Kind::Refresh(_) => REFRESH,
            Kind::Permission(_) => CREATE_PERMISSION,
            Kind::Channel(..) => CHANNEL_BIND,
        };
        if msg.kind & !0x0110 != expected {
            return;
        }
        if class == SUCCESS {
            // Only what the server signed with our key counts.
            let signed = self.auth.as_ref().is_some_and(|a| msg.integrity_ok(&a.key));
            if !signed {
                return;
            }
            let t = self.transactions.swap_remove(i);
            self.success(t.kind, msg, now);
        } else {
            let t = self.transactions.swap_remove(i);
            self.error(t, msg, now);
        }
    }

    fn success(&mut self, kind: Kind, msg: &Message<'_>, now: Instant) {
        let key = &msg.raw[4..20];
        match kind {
            Kind::Allocate => {
                if self.state != State::Allocating {
                    return;
                }
                let Some(relayed) = msg
                    .attr(ATTR_XOR_RELAYED_ADDRESS)
                    .and_then(|v| read_address(v, Some(key)))
                    .filter(|a| a.port() != 0 && !a.ip().is_unspecified())
                else {
                    self.fail(format!(
                        "the TURN server {} gave no usable relayed address",
                        self.server
                    ));
                    return;
                };
                let mapped = msg
                    .attr(ATTR_XOR_MAPPED_ADDRESS)
                    .and_then(|v| read_address(v, Some(key)));
                self.state = State::Allocated {
                    relayed,
                    refresh_at: now + refresh_after(lifetime(msg)),
                };
                self.events
                    .push_back(TurnEvent::Allocated { relayed, mapped });
                self.refresh_due(now);
            }
            Kind::Refresh(0) => {}
            Kind::Refresh(_) => {
                if let State::Allocated { relayed, .. } = self.state {
                    self.state = State::Allocated {
                        relayed,
                        refresh_at: now + refresh_after(lifetime(msg)),
                    };
                }
            }
            Kind::Permission(ip) => {
                if let Some(p) = self.permissions.iter_mut().find(|p| p.ip == ip) {
                    p.refresh_at = Some(now + PERMISSION_REFRESH);
                }
            }
            Kind::Channel(peer, number) => {
                if let Some(c) = self
                    .channels
                    .iter_mut()
                    .find(|c| c.peer == peer && c.number == number)
                {
                    c.bound = true;
                    c.refresh_at = Some(now + CHANNEL_REFRESH);
                }
            }
        }
    }

    fn error(&mut self, t: Transaction, msg: &Message<'_>, now: Instant) {
        let (code, reason) = msg
            .attr(ATTR_ERROR_CODE)
            .and_then(read_error)
            .unwrap_or((0, String::new()));
        let realm = msg
            .attr(ATTR_REALM)
            .filter(|v| !v.is_empty() && v.len() <= MAX_TEXT);
        let nonce = msg
            .attr(ATTR_NONCE)
            .filter(|v| !v.is_empty() && v.len() <= MAX_TEXT);
        let described = if code == 0 {
            "an unreadable error".to_owned()
        } else if reason.is_empty() {
            code.to_string()
        } else {
            format!("{code} {reason}")
        };
        match code {
            // The first 401 gives the realm and nonce; one after we signed refuses us.
            401 if self.auth.is_none() && t.kind == Kind::Allocate => {
                let (Some(realm), Some(nonce)) = (realm, nonce) else {
                    self.fail(format!(
                        "the TURN server {} asked for credentials without a realm and nonce",
                        self.server
                    ));
                    return;
                };
                let Some(key) = long_term_key(&self.username, realm, &self.password) else {
                    self.fail("cannot compute the TURN key".into());
                    return;
                };
                self.auth = Some(Auth {
                    realm: realm.to_vec(),
                    nonce: nonce.to_vec(),
                    key,
                });
                self.request(t.kind, now, t.stale);
            }
            438 if t.stale < MAX_STALE && self.auth.is_some() && nonce.is_some() => {
                if let (Some(auth), Some(nonce)) = (self.auth.as_mut(), nonce) {
                    auth.nonce = nonce.to_vec();
                }
                self.request(t.kind, now, t.stale + 1);
            }
            _ => match t.kind {
                Kind::Allocate => {
                    let why = if code == 401 {
                        format!(
                            "the TURN server {} refused the credentials ({described})",
                            self.server
                        )
                    } else {
                        format!(
                            "the TURN server {} refused the allocation ({described})",
                            self.server
                        )
                    };
                    self.fail(why);
                }
                Kind::Refresh(0) => {}
                Kind::Refresh(_) => self.fail(format!(
                    "the TURN server {} dropped the allocation ({described})",
                    self.server
                )),
                Kind::Permission(ip) => self.permissions.retain(|p| p.ip != ip),
                Kind::Channel(peer, _) => {
                    // Send indications carry on without a channel.
                    if let Some(c) = self.channels.iter_mut().find(|c| c.peer == peer) {
                        c.bound = false;
                        c.refresh_at = None;
                    }
                }
            },
        }
    }
}

/// When to refresh an allocation granted for `lifetime` seconds: a minute before it ends,
/// or halfway through a short one.
fn refresh_after(lifetime: u32) -> Duration {
    let lifetime = lifetime.clamp(MIN_LIFETIME, MAX_LIFETIME);
    Duration::from_secs(u64::from((lifetime - 60).max(lifetime / 2)))
}

fn lifetime(msg: &Message<'_>) -> u32 {
    msg.attr(ATTR_LIFETIME)
        .and_then(|v| <[u8; 4]>::try_from(v).ok())
        .map_or(LIFETIME, u32::from_be_bytes)
}

/// The long-term credential key (RFC 8489 §9.2.2): MD5(username ":" realm ":" password).
fn long_term_key(username: &str, realm: &[u8], password: &str) -> Option<[u8; 16]> {
    let mut input = Vec::with_capacity(username.len() + realm.len() + password.len() + 2);
    input.extend_from_slice(username.as_bytes());
    input.push(b':');
    input.extend_from_slice(realm);
    input.push(b':');
    input.extend_from_slice(password.as_bytes());
    let digest = hash(MessageDigest::md5(), &input).ok()?;
    <[u8; 16]>::try_from(&digest[..]).ok()
}

fn hmac_sha1(key: &[u8], data: &[u8]) -> Option<[u8; 20]> {
    let key = PKey::hmac(key).ok()?;
    let mut signer = Signer::new(MessageDigest::sha1(), &key).ok()?;
    signer.update(data).ok()?;
    <[u8; 20]>::try_from(signer.sign_to_vec().ok()?.as_slice()).ok()
}

/// An ERROR-CODE value: the code and its reason phrase (printable, bounded).
fn read_error(v: &[u8]) -> Option<(u16, String)> {
    if v.len() < 4 {
        return None;
    }
    let code = u16::from(v[2] & 0x07) * 100 + u16::from(v[3]);
    if !(300..700).contains(&code) {
        return None;
    }
    let reason: String = String::from_utf8_lossy(&v[4..v.len().min(4 + MAX_TEXT)])
        .chars()
        .filter(|c| !c.is_control())
        .take(80)
        .collect();
    Some((code, reason))
}

/// An XOR-…-ADDRESS value for `addr` in a message with transaction `id`.
fn xor_address(addr: SocketAddr, id: &[u8; 12]) -> Vec<u8> {
    let mut key = MAGIC_COOKIE.to_be_bytes().to_vec();
    key.extend_from_slice(id);
    let mut v = vec![0, if addr.is_ipv4() { 1 } else { 2 }];
    v.extend_from_slice(&(addr.port() ^ (MAGIC_COOKIE >> 16) as u16).to_be_bytes());
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.octets().to_vec(),
        IpAddr::V6(ip) => ip.octets().to_vec(),
    };
    v.extend(ip.iter().zip(&key).map(|(b, k)| b ^ k));
    v
}

/// A STUN message being written.
struct Builder {
    buf: Vec<u8>,
}

impl Builder {
    fn new(kind: u16, id: &[u8; 12]) -> Self {
        let mut buf = Vec::with_capacity(128);
        buf.extend_from_slice(&kind.to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
        buf.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        buf.extend_from_slice(id);
        Self { buf }
    }

    fn set_len(&mut self, len: usize) {
        let len = (len as u16).to_be_bytes();
        self.buf[2] = len[0];
        self.buf[3] = len[1];
    }

    fn attr(&mut self, kind: u16, value: &[u8]) {
        self.buf.extend_from_slice(&kind.to_be_bytes());
        self.buf
            .extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.buf.extend_from_slice(value);
        while self.buf.len() % 4 != 0 {
            self.buf.push(0);
        }
        self.set_len(self.buf.len() - 20);
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 over the message, its length counting it).
    fn integrity(&mut self, key: &[u8]) -> bool {
        self.set_len(self.buf.len() - 20 + 24);
        let Some(mac) = hmac_sha1(key, &self.buf) else {
            return false;
        };
        self.attr(ATTR_MESSAGE_INTEGRITY, &mac);
        true
    }

    fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// A STUN message read from the server.
struct Message<'a> {
    kind: u16,
    id: [u8; 12],
    raw: &'a [u8],
    /// (type, offset of the attribute in `raw`, value).
    attrs: Vec<(u16, usize, &'a [u8])>,
}

impl<'a> Message<'a> {
    fn parse(data: &'a [u8]) -> Option<Self> {
        if data.len() < 20 || data[0] & 0xc0 != 0 {
            return None;
        }
        let kind = u16::from_be_bytes([data[0], data[1]]);
        let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
        let cookie = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        if cookie != MAGIC_COOKIE || len % 4 != 0 || data.len() < 20 + len {
            return None;
        }
        let raw = &data[..20 + len];
        let mut id = [0u8; 12];
        id.copy_from_slice(&raw[8..20]);
        let mut attrs = Vec::new();
        let mut at = 20;
        while at + 4 <= raw.len() && attrs.len() < MAX_ATTRIBUTES {
            let t = u16::from_be_bytes([raw[at], raw[at + 1]]);
            let l = usize::from(u16::from_be_bytes([raw[at + 2], raw[at + 3]]));
            let value = raw.get(at + 4..at + 4 + l)?;
            attrs.push((t, at, value));
            at += 4 + l.div_ceil(4) * 4;
        }
        Some(Self {
            kind,
            id,
            raw,
            attrs,
        })
    }

    /// The first attribute of a type, before MESSAGE-INTEGRITY (what follows it is not
    /// covered by it, and ignored).
    fn attr(&self, kind: u16) -> Option<&'a [u8]> {
        self.attrs
            .iter()
            .take_while(|(t, ..)| *t != ATTR_MESSAGE_INTEGRITY || kind == ATTR_MESSAGE_INTEGRITY)
            .find(|(t, ..)| *t == kind)
            .map(|(_, _, v)| *v)
    }

    /// Whether MESSAGE-INTEGRITY is there and right for `key`.
    fn integrity_ok(&self, key: &[u8]) -> bool {
        let Some(&(_, at, value)) = self
            .attrs
            .iter()
            .find(|(t, ..)| *t == ATTR_MESSAGE_INTEGRITY)
        else {
            return false;
        };
        if value.len() != 20 {
            return false;
        }
        let mut signed = self.raw[..at].to_vec();
        let len = ((at + 24 - 20) as u16).to_be_bytes();
        signed[2] = len[0];
        signed[3] = len[1];
        hmac_sha1(key, &signed).is_some_and(|mac| openssl::memcmp::eq(&mac, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: &str = "192.0.2.1:3478";
    const BASE: &str = "10.0.0.2:5000";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    /// A server's answer to `request`, signed with `key` if given.
    fn answer(request: &[u8], kind: u16, attrs: &[(u16, Vec<u8>)], key: Option<&[u8]>) -> Vec<u8> {
        let msg = Message::parse(request).expect("request");
        let mut m = Builder::new(kind, &msg.id);
        for (t, v) in attrs {
            m.attr(*t, v);
        }
        if let Some(key) = key {
            assert!(m.integrity(key));
        }
        m.finish()
    }

    fn unauthorized(request: &[u8]) -> Vec<u8> {
        let mut code = vec![0, 0, 4, 1];
        code.extend_from_slice(b"Unauthorized");
        answer(
            request,
            ALLOCATE | ERROR,
            &[
                (ATTR_ERROR_CODE, code),
                (ATTR_REALM, b"example.org".to_vec()),
                (ATTR_NONCE, b"abcdef".to_vec()),
            ],
            None,
        )
    }

    fn key() -> [u8; 16] {
        long_term_key("user", b"example.org", "pass").expect("key")
    }

    fn allocated(now: Instant) -> (TurnClient, SocketAddr) {
        let mut c = TurnClient::new(addr(SERVER), addr(BASE), "user", "pass", now);
        let first = c.poll_transmit().expect("allocate");
        assert_eq!(c.receive(&unauthorized(&first), now), Received::Handled);
        let second = c.poll_transmit().expect("signed allocate");
        let m = Message::parse(&second).expect("parse");
        assert!(m.integrity_ok(&key()), "signed with the long-term key");
        assert_eq!(m.attr(ATTR_USERNAME), Some(&b"user"[..]));
        let relayed = addr("192.0.2.1:50000");
        let id: [u8; 12] = m.id;
        let ok = answer(
            &second,
            ALLOCATE | SUCCESS,
            &[
                (ATTR_XOR_RELAYED_ADDRESS, xor_address(relayed, &id)),
                (
                    ATTR_XOR_MAPPED_ADDRESS,
                    xor_address(addr("198.51.100.9:4000"), &id),
                ),
                (ATTR_LIFETIME, 600u32.to_be_bytes().to_vec()),
            ],
            Some(&key()),
        );
        c.receive(&ok, now);
        assert_eq!(
            c.poll_event(),
            Some(TurnEvent::Allocated {
                relayed,
                mapped: Some(addr("198.51.100.9:4000"))
            })
        );
        (c, relayed)
    }

    #[test]
    fn allocates_with_the_nonce_dance_and_binds_a_channel() {
        let now = Instant::now();
        let (mut c, relayed) = allocated(now);
        assert_eq!(c.relayed(), Some(relayed));
        let peer = addr("203.0.113.5:6000");
        c.permit(peer.ip(), now);
        let perm = c.poll_transmit().expect("create permission");
        let m = Message::parse(&perm).expect("parse");
        assert_eq!(m.kind, CREATE_PERMISSION | REQUEST);
        assert!(m.integrity_ok(&key()));
        // Before a channel: a Send indication, and a ChannelBind asked for.
        let send = c.send_to(peer, b"hello", now).expect("send");
        let m = Message::parse(&send).expect("send indication");
        assert_eq!(m.kind, SEND | INDICATION);
        assert_eq!(m.attr(ATTR_DATA), Some(&b"hello"[..]));
        assert_eq!(
            read_address(
                m.attr(ATTR_XOR_PEER_ADDRESS).expect("peer"),
                Some(&send[4..20])
            ),
            Some(peer)
        );
        let bind = c.poll_transmit().expect("channel bind");
        assert_eq!(
            Message::parse(&bind).expect("bind").kind,
            CHANNEL_BIND | REQUEST
        );
        c.receive(
            &answer(&bind, CHANNEL_BIND | SUCCESS, &[], Some(&key())),
            now,
        );
        assert_eq!(
            c.send_to(peer, b"hi", now),
            Some(vec![0x40, 0x00, 0, 2, b'h', b'i'])
        );
        // Data both ways in: channel data and a Data indication from a permitted peer.
        assert_eq!(
            c.receive(&[0x40, 0x00, 0, 3, 1, 2, 3, 0], now),
            Received::Data {
                peer,
                data: vec![1, 2, 3]
            }
        );
        let id = [9u8; 12];
        let mut m = Builder::new(DATA | INDICATION, &id);
        m.attr(ATTR_XOR_PEER_ADDRESS, &xor_address(peer, &id));
        m.attr(ATTR_DATA, b"xyz");
        assert_eq!(
            c.receive(&m.finish(), now),
            Received::Data {
                peer,
                data: b"xyz".to_vec()
            }
        );
        // A stranger's Data indication is dropped.
        let stranger = addr("203.0.113.99:1");
        let mut m = Builder::new(DATA | INDICATION, &id);
        m.attr(ATTR_XOR_PEER_ADDRESS, &xor_address(stranger, &id));
        m.attr(ATTR_DATA, b"xyz");
        assert_eq!(c.receive(&m.finish(), now), Received::Handled);

        // Refreshes come before the allocation (600 s) and permissions (300 s) expire.
        let later = now + Duration::from_secs(241);
        assert!(c.deadline().is_some_and(|d| d <= later));
        c.handle_timeout(later);
        let mut kinds = Vec::new();
        while let Some(d) = c.poll_transmit() {
            kinds.push(Message::parse(&d).expect("parse").kind);
        }
        assert!(kinds.contains(&(CREATE_PERMISSION | REQUEST)), "{kinds:x?}");

        // Close frees the allocation with lifetime 0.
        c.close(later);
        let refresh = c.poll_transmit().expect("refresh 0");
        let m = Message::parse(&refresh).expect("parse");
        assert_eq!(m.kind, REFRESH | REQUEST);
        assert_eq!(m.attr(ATTR_LIFETIME), Some(&[0u8, 0, 0, 0][..]));
        assert!(c.is_done());
    }

    #[test]
    fn wrong_credentials_fail_with_a_reason() {
        let now = Instant::now();
        let mut c = TurnClient::new(addr(SERVER), addr(BASE), "user", "wrong", now);
        let first = c.poll_transmit().expect("allocate");
        c.receive(&unauthorized(&first), now);
        let second = c.poll_transmit().expect("signed");
        c.receive(&unauthorized(&second), now);
        let Some(TurnEvent::Failed(why)) = c.poll_event() else {
            panic!("no failure")
        };
        assert!(why.contains("refused the credentials"), "{why}");
        assert!(c.is_done() && c.poll_transmit().is_none());
    }

    #[test]
    fn unsigned_success_is_ignored_and_silence_times_out() {
        let now = Instant::now();
        let mut c = TurnClient::new(addr(SERVER), addr(BASE), "user", "pass", now);
        let first = c.poll_transmit().expect("allocate");
        c.receive(&unauthorized(&first), now);
        let second = c.poll_transmit().expect("signed");
        let id = Message::parse(&second).expect("parse").id;
        let forged = answer(
            &second,
            ALLOCATE | SUCCESS,
            &[(
                ATTR_XOR_RELAYED_ADDRESS,
                xor_address(addr("192.0.2.66:1"), &id),
            )],
            Some(&[0u8; 16]),
        );
        c.receive(&forged, now);
        assert_eq!(c.poll_event(), None);
        let mut t = now;
        let mut sends = 0;
        while !c.is_done() && t < now + Duration::from_secs(10) {
            t += Duration::from_millis(50);
            c.handle_timeout(t);
            while c.poll_transmit().is_some() {
                sends += 1;
            }
        }
        assert_eq!(sends, MAX_SENDS - 1, "retransmissions");
        let Some(TurnEvent::Failed(why)) = c.poll_event() else {
            panic!("no failure")
        };
        assert!(why.contains("did not answer"), "{why}");
        assert!(t - now < Duration::from_secs(6), "{:?}", t - now);
    }

    #[test]
    fn junk_from_the_server_never_panics() {
        let now = Instant::now();
        let (mut c, _) = allocated(now);
        let peer = addr("203.0.113.5:6000");
        c.permit(peer.ip(), now);
        let _ = c.send_to(peer, b"x", now);
        let mut requests = Vec::new();
        while let Some(d) = c.poll_transmit() {
            requests.push(d);
        }
        let mut x: u32 = 7;
        let mut rnd = || {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            (x >> 16) as u8
        };
        for round in 0..3000 {
            let base = &requests[round % requests.len()];
            let mut d = base.clone();
            // Keep the header (so transactions match) and scramble the rest, or all of it.
            let from = if round % 3 == 0 { 0 } else { 20 };
            let extra = usize::from(rnd()) % 40;
            d.extend((0..extra).map(|_| 0));
            for b in d.iter_mut().skip(from) {
                *b = rnd();
            }
            if round % 2 == 0 && d.len() >= 4 {
                d[0] = 0x01; // a response class
                d[1] = 0x13;
            }
            let _ = c.receive(&d, now);
            for cut in [0, 1, 3, 4, 19, 20, 23] {
                let _ = c.receive(&d[..cut.min(d.len())], now);
            }
            let _ = c.receive(&[0x40, 0x00, 0xff, 0xff, 1], now);
        }
        assert!(c.transactions.len() <= MAX_TRANSACTIONS);
        assert!(c.permissions.len() <= MAX_PERMISSIONS);
    }

    #[test]
    fn permissions_and_channels_are_bounded() {
        let now = Instant::now();
        let (mut c, _) = allocated(now);
        for i in 0..100u16 {
            let peer = SocketAddr::new(IpAddr::from([203, 0, (i >> 8) as u8, i as u8]), 1000 + i);
            assert!(c.send_to(peer, b"x", now).is_some());
        }
        assert_eq!(c.permissions.len(), MAX_PERMISSIONS);
        assert_eq!(c.channels.len(), MAX_CHANNELS);
        assert!(c.out.len() <= MAX_QUEUED);
    }
}
