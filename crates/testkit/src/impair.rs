//! A userspace UDP relay that impairs what it forwards (loss, delay,
//! jitter, reordering): the kernel here has no netem.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// The longest a datagram is held back, whatever the options say.
const MAX_HOLD: Duration = Duration::from_secs(5);
/// Most distinct clients relayed (each gets its own upstream socket).
const MAX_CLIENTS: usize = 64;

/// What a [`UdpImpairer`] does to every datagram, in both directions.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpairOptions {
    /// The share of datagrams dropped, 0.0 to 1.0. Default 0.
    pub loss: f64,
    /// Added to every datagram's delivery time. Default 0.
    pub delay: Duration,
    /// Each datagram's delay varies uniformly by up to this much either
    /// way (never below zero); datagrams can overtake each other. Default 0.
    pub jitter: Duration,
    /// The share of datagrams held back a further [`ImpairOptions::reorder_gap`]
    /// so that later ones overtake them, 0.0 to 1.0. Default 0.
    pub reorder: f64,
    /// How much longer a reordered datagram is held. Default 20 ms.
    pub reorder_gap: Duration,
    /// Seeds the random choices: the same seed and the same traffic give
    /// the same impairment. Default 1.
    pub seed: u64,
    /// Most datagrams held at once; more are dropped (and counted as
    /// overflowed). Default 4096.
    pub max_queued: usize,
}

impl Default for ImpairOptions {
    fn default() -> Self {
        Self {
            loss: 0.0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_gap: Duration::from_millis(20),
            seed: 1,
            max_queued: 4096,
        }
    }
}

/// Counts of what a [`UdpImpairer`] did, both directions together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Datagrams received from either side.
    pub received: u64,
    /// Datagrams delivered.
    pub forwarded: u64,
    /// Datagrams dropped on purpose ([`ImpairOptions::loss`]).
    pub lost: u64,
    /// Datagrams held back to be overtaken ([`ImpairOptions::reorder`]).
    pub reordered: u64,
    /// Datagrams dropped because too many were held, or from a client
    /// beyond the 64th.
    pub overflowed: u64,
}

#[derive(Debug)]
struct Shared {
    opts: Mutex<ImpairOptions>,
    stats: Mutex<ImpairStats>,
}

/// Forwards UDP between clients and one target address, impairing both
/// directions.
///
/// Clients send to [`UdpImpairer::addr`]; each client gets its own upstream
/// socket towards the target (like a NAT), and what the target sends back
/// to that socket returns to the client from [`UdpImpairer::addr`]. Runs
/// on a thread of its own; stopped when dropped. Memory is bounded by
/// [`ImpairOptions::max_queued`] datagrams and 64 clients, time by a 5 s
/// cap on any delay.
///
/// ```no_run
/// use std::time::Duration;
/// use tern_testkit::{ImpairOptions, UdpImpairer};
/// # fn main() -> tern_testkit::Result<()> {
/// let turn: std::net::SocketAddr = "127.0.0.1:3478".parse()?;
/// let relay = UdpImpairer::start(turn, ImpairOptions {
///     loss: 0.02,
///     delay: Duration::from_millis(40),
///     jitter: Duration::from_millis(10),
///     ..ImpairOptions::default()
/// })?;
/// // Point a client's TURN address at relay.addr().
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct UdpImpairer {
    addr: SocketAddr,
    target: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl UdpImpairer {
    /// Starts relaying from a fresh port on 127.0.0.1 to `target`.
    pub fn start(target: SocketAddr, opts: ImpairOptions) -> Result<UdpImpairer> {
        Self::start_on((Ipv4Addr::LOCALHOST, 0).into(), target, opts)
    }

    /// Starts relaying from `listen` to `target`.
    pub fn start_on(
        listen: SocketAddr,
        target: SocketAddr,
        opts: ImpairOptions,
    ) -> Result<UdpImpairer> {
        let std_socket = std::net::UdpSocket::bind(listen)
            .with_context(|| format!("binding the impairer on {listen}"))?;
        std_socket.set_nonblocking(true)?;
        let addr = std_socket.local_addr()?;
        let shared = Arc::new(Shared {
            opts: Mutex::new(opts),
            stats: Mutex::new(ImpairStats::default()),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building the impairer's runtime")?;
        let state = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tern-udp-impairer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match UdpSocket::from_std(std_socket) {
                        Ok(socket) => relay(socket, target, state, stop_rx).await,
                        Err(err) => tracing::error!(%err, "impairer socket"),
                    }
                });
            })?;
        Ok(UdpImpairer {
            addr,
            target,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Where clients send.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where datagrams are relayed to.
    pub fn target(&self) -> SocketAddr {
        self.target
    }

    /// Changes the impairment for datagrams received from now on (a new
    /// seed restarts the random sequence).
    pub fn set_options(&self, opts: ImpairOptions) {
        *self.shared.opts.lock().unwrap_or_else(|e| e.into_inner()) = opts;
    }

    /// What happened so far.
    pub fn stats(&self) -> ImpairStats {
        *self.shared.stats.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for UdpImpairer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Direction {
    /// From a client to the target.
    Up,
    /// From the target back to a client.
    Down,
}

type Held = Reverse<(Instant, u64, Direction, usize, Vec<u8>)>;

struct Impairment {
    rng: StdRng,
    seed: u64,
}

impl Impairment {
    /// How long to hold a datagram received now, or `None` to drop it.
    fn decide(&mut self, shared: &Shared, queued: usize) -> Option<Duration> {
        let opts = shared
            .opts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if opts.seed != self.seed {
            self.seed = opts.seed;
            self.rng = StdRng::seed_from_u64(opts.seed);
        }
        let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.received += 1;
        if opts.loss > 0.0 && self.rng.gen::<f64>() < opts.loss {
            stats.lost += 1;
            return None;
        }
        if queued >= opts.max_queued {
            stats.overflowed += 1;
            return None;
        }
        let mut delay = opts.delay.as_secs_f64();
        if !opts.jitter.is_zero() {
            delay += opts.jitter.as_secs_f64() * self.rng.gen_range(-1.0..=1.0);
        }
        if opts.reorder > 0.0 && self.rng.gen::<f64>() < opts.reorder {
            stats.reordered += 1;
            delay += opts.reorder_gap.as_secs_f64();
        }
        Some(Duration::from_secs_f64(
            delay.clamp(0.0, MAX_HOLD.as_secs_f64()),
        ))
    }
}

struct Client {
    addr: SocketAddr,
    upstream: Arc<UdpSocket>,
    reader: tokio::task::JoinHandle<()>,
}

async fn relay(
    listen: UdpSocket,
    target: SocketAddr,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let seed = shared.opts.lock().unwrap_or_else(|e| e.into_inner()).seed;
    let mut impair = Impairment {
        rng: StdRng::seed_from_u64(seed),
        seed,
    };
    let (down_tx, mut down_rx) = mpsc::channel::<(usize, Vec<u8>)>(1024);
    let mut clients: Vec<Client> = Vec::new();
    let mut held: BinaryHeap<Held> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 65536];
    let unspecified: SocketAddr = if target.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    loop {
        let next = held.peek().map(|Reverse((at, ..))| *at);
        tokio::select! {
            _ = &mut stop => break,
            received = listen.recv_from(&mut buf) => {
                let Ok((len, from)) = received else { continue };
                let index = match clients.iter().position(|c| c.addr == from) {
                    Some(i) => i,
                    None if clients.len() < MAX_CLIENTS => {
                        let Ok(socket) = UdpSocket::bind(unspecified).await else { continue };
                        let upstream = Arc::new(socket);
                        let reader = tokio::spawn(read_upstream(
                            Arc::clone(&upstream),
                            clients.len(),
                            down_tx.clone(),
                        ));
                        clients.push(Client { addr: from, upstream, reader });
                        clients.len() - 1
                    }
                    None => {
                        let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
                        stats.received += 1;
                        stats.overflowed += 1;
                        continue;
                    }
                };
                if let Some(hold) = impair.decide(&shared, held.len()) {
                    let at = Instant::now() + hold;
                    seq += 1;
                    held.push(Reverse((at, seq, Direction::Up, index, buf[..len].to_vec())));
                }
            }
            Some((index, data)) = down_rx.recv() => {
                if let Some(hold) = impair.decide(&shared, held.len()) {
                    let at = Instant::now() + hold;
                    seq += 1;
                    held.push(Reverse((at, seq, Direction::Down, index, data)));
                }
            }
            () = sleep_until(next) => {
                let now = Instant::now();
                while held.peek().is_some_and(|Reverse((at, ..))| *at <= now) {
                    let Some(Reverse((_, _, direction, index, data))) = held.pop() else { break };
                    let Some(client) = clients.get(index) else { continue };
                    let sent = match direction {
                        Direction::Up => client.upstream.send_to(&data, target).await,
                        Direction::Down => listen.send_to(&data, client.addr).await,
                    };
                    if sent.is_ok() {
                        shared.stats.lock().unwrap_or_else(|e| e.into_inner()).forwarded += 1;
                    }
                }
            }
        }
    }
    for client in clients {
        client.reader.abort();
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn read_upstream(socket: Arc<UdpSocket>, index: usize, tx: mpsc::Sender<(usize, Vec<u8>)>) {
    let mut buf = vec![0u8; 65536];
    while let Ok((len, _)) = socket.recv_from(&mut buf).await {
        if tx.send((index, buf[..len].to_vec())).await.is_err() {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket as StdUdp;
    use std::time::Instant as StdInstant;

    /// An echo server on a thread; stops when the returned socket's peer
    /// sends "stop".
    fn echo() -> SocketAddr {
        let socket = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            socket
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            while let Ok((len, from)) = socket.recv_from(&mut buf) {
                if &buf[..len] == b"stop" {
                    break;
                }
                let _ = socket.send_to(&buf[..len], from);
            }
        });
        addr
    }

    fn client() -> StdUdp {
        let c = StdUdp::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        c
    }

    #[test]
    fn relays_both_ways_with_delay() {
        let target = echo();
        let relay = UdpImpairer::start(
            target,
            ImpairOptions {
                delay: Duration::from_millis(30),
                ..ImpairOptions::default()
            },
        )
        .unwrap();
        let c = client();
        let started = StdInstant::now();
        c.send_to(b"hello", relay.addr()).unwrap();
        let mut buf = [0u8; 64];
        let (len, from) = c.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"hello");
        assert_eq!(from, relay.addr());
        // 30 ms each way.
        assert!(started.elapsed() >= Duration::from_millis(60));
        // The count follows the send.
        std::thread::sleep(Duration::from_millis(50));
        let stats = relay.stats();
        assert_eq!((stats.received, stats.forwarded), (2, 2));
        c.send_to(b"stop", relay.addr()).unwrap();
    }

    #[test]
    fn loss_is_near_the_rate() {
        let target = echo();
        let relay = UdpImpairer::start(
            target,
            ImpairOptions {
                loss: 0.2,
                seed: 7,
                ..ImpairOptions::default()
            },
        )
        .unwrap();
        let c = client();
        c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let mut got = 0;
        let mut buf = [0u8; 64];
        for i in 0u16..200 {
            c.send_to(&i.to_be_bytes(), relay.addr()).unwrap();
            if let Ok((2, _)) = c.recv_from(&mut buf) {
                got += 1;
            }
        }
        let stats = relay.stats();
        relay.set_options(ImpairOptions::default());
        c.send_to(b"stop", relay.addr()).unwrap();
        // Each echo crosses twice: 0.8 * 0.8 = 64 % come back.
        assert!((95..165).contains(&got), "{got} of 200");
        assert!(stats.lost > 0 && stats.lost + stats.forwarded <= stats.received);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let shared = Shared {
            opts: Mutex::new(ImpairOptions {
                loss: 0.3,
                jitter: Duration::from_millis(50),
                seed: 11,
                ..ImpairOptions::default()
            }),
            stats: Mutex::new(ImpairStats::default()),
        };
        let choices = |seed| {
            let mut impair = Impairment {
                rng: StdRng::seed_from_u64(seed),
                seed,
            };
            (0..200)
                .map(|_| impair.decide(&shared, 0))
                .collect::<Vec<_>>()
        };
        let a = choices(11);
        assert_eq!(a, choices(11));
        let dropped = a.iter().filter(|c| c.is_none()).count();
        assert!((35..85).contains(&dropped), "{dropped} of 200");
    }

    #[test]
    fn reordering_lets_later_datagrams_overtake() {
        let target = echo();
        let relay = UdpImpairer::start(
            target,
            ImpairOptions {
                reorder: 0.3,
                reorder_gap: Duration::from_millis(30),
                seed: 3,
                ..ImpairOptions::default()
            },
        )
        .unwrap();
        let c = client();
        for i in 0u16..50 {
            c.send_to(&i.to_be_bytes(), relay.addr()).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        while let Ok((2, _)) = c.recv_from(&mut buf) {
            got.push(u16::from_be_bytes([buf[0], buf[1]]));
            if got.len() == 50 {
                break;
            }
        }
        assert_eq!(got.len(), 50, "nothing lost");
        assert!(got.windows(2).any(|w| w[0] > w[1]), "some out of order");
        assert!(relay.stats().reordered > 0);
        c.send_to(b"stop", relay.addr()).unwrap();
    }

    #[test]
    fn the_queue_is_bounded() {
        let target = echo();
        let relay = UdpImpairer::start(
            target,
            ImpairOptions {
                delay: Duration::from_millis(300),
                max_queued: 10,
                ..ImpairOptions::default()
            },
        )
        .unwrap();
        let c = client();
        for i in 0u16..30 {
            c.send_to(&i.to_be_bytes(), relay.addr()).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
        let stats = relay.stats();
        assert_eq!(stats.overflowed, 20, "{stats:?}");
        c.send_to(b"stop", relay.addr()).unwrap();
    }
}
