//! A loopback TCP proxy for fault injection.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A TCP proxy on 127.0.0.1 that forwards every accepted connection to a
/// target, and can cut connections or refuse new ones on demand.
///
/// The target may be given after the proxy started
/// ([`TcpProxy::start_without_target`]): a server told to advertise the
/// proxy's port can then start after the proxy has bound it, so no other
/// process can take the port in between.
///
/// Dropping it closes the listener and all proxied connections.
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    shared: Arc<Shared>,
    accept_thread: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    /// Where connections go; `None` until [`TcpProxy::set_target`] on a
    /// proxy started without one.
    target: Mutex<Option<SocketAddr>>,
    stopping: AtomicBool,
    refusing: AtomicBool,
    accepted: AtomicUsize,
    next_id: AtomicU64,
    /// Both sockets of every live proxied connection, by connection id.
    live: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
}

impl Shared {
    fn live(&self) -> MutexGuard<'_, Vec<(u64, TcpStream, TcpStream)>> {
        // A poisoned lock only means a pump thread panicked; the list is
        // still usable.
        self.live.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cut_all(&self) {
        let conns = std::mem::take(&mut *self.live());
        for (_, client, server) in conns {
            abort(&client);
            abort(&server);
        }
    }

    fn target(&self) -> Option<SocketAddr> {
        *self.target.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn forget(&self, id: u64) {
        self.live().retain(|(i, _, _)| *i != id);
    }
}

impl TcpProxy {
    /// Starts a proxy to `target`, listening on 127.0.0.1 on a free port.
    pub fn start(target: SocketAddr) -> Result<TcpProxy> {
        let proxy = Self::start_without_target()?;
        proxy.set_target(target);
        Ok(proxy)
    }

    /// Starts a proxy listening on 127.0.0.1 on a free port, with no target
    /// yet: connections are reset until [`TcpProxy::set_target`]. For a
    /// server that must know the proxy's port before it starts (see
    /// [`crate::ProsodyOptions::upload_external_port`]): a port picked and
    /// released before the server starts could be taken by another process
    /// by the time the proxy binds it.
    pub fn start_without_target() -> Result<TcpProxy> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("binding the proxy listener on 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            target: Mutex::new(None),
            stopping: AtomicBool::new(false),
            refusing: AtomicBool::new(false),
            accepted: AtomicUsize::new(0),
            next_id: AtomicU64::new(0),
            live: Mutex::new(Vec::new()),
        });
        let accept_shared = Arc::clone(&shared);
        let accept_thread = thread::Builder::new()
            .name(format!("tcp-proxy-{port}"))
            .spawn(move || accept_loop(&listener, &accept_shared))
            .context("starting the proxy thread")?;
        Ok(TcpProxy {
            port,
            shared,
            accept_thread: Some(accept_thread),
        })
    }

    /// The port the proxy listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The address connections are forwarded to, once set.
    pub fn target(&self) -> Option<SocketAddr> {
        self.shared.target()
    }

    /// Forwards new connections to `target` from now on (connections
    /// already forwarded stay with their target).
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap_or_else(|e| e.into_inner()) = Some(target);
    }

    /// Abruptly closes all currently proxied connections, both sides (the
    /// sockets are reset, so peers see ECONNRESET or EOF). New connections
    /// are still accepted.
    pub fn cut_all(&self) {
        self.shared.cut_all();
    }

    /// While refusing, new connections are reset immediately after accept
    /// and existing ones are cut. `false` resumes normal forwarding.
    pub fn set_refusing(&self, refusing: bool) {
        self.shared.refusing.store(refusing, Ordering::SeqCst);
        if refusing {
            self.shared.cut_all();
        }
    }

    /// Total connections accepted so far, including ones reset while
    /// refusing.
    pub fn connection_count(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Connections currently being forwarded.
    pub fn active_connections(&self) -> usize {
        self.shared.live().len()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the blocking accept; if that fails, leave the thread be rather
        // than risk blocking here.
        let woken = TcpStream::connect_timeout(&self.addr(), Duration::from_secs(1)).is_ok();
        if let Some(handle) = self.accept_thread.take() {
            if woken {
                let _ = handle.join();
            }
        }
        self.shared.cut_all();
    }
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let client = match conn {
            Ok(c) => c,
            Err(err) => {
                tracing::debug!(%err, "proxy accept failed");
                continue;
            }
        };
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.refusing.load(Ordering::SeqCst) {
            abort(&client);
            continue;
        }
        let shared = Arc::clone(shared);
        // Connect off the accept thread so a slow target cannot stall it.
        let spawned = thread::Builder::new()
            .name("tcp-proxy-conn".into())
            .spawn(move || proxy_connection(client, &shared));
        if let Err(err) = spawned {
            tracing::warn!(%err, "cannot start a proxy thread");
        }
    }
}

fn proxy_connection(client: TcpStream, shared: &Arc<Shared>) {
    let Some(target) = shared.target() else {
        tracing::debug!("proxy has no target yet");
        abort(&client);
        return;
    };
    let server = match TcpStream::connect_timeout(&target, CONNECT_TIMEOUT) {
        Ok(s) => s,
        Err(err) => {
            tracing::debug!(%err, %target, "proxy cannot reach target");
            abort(&client);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::SeqCst);
    let clones = (|| -> io::Result<_> {
        Ok((
            client.try_clone()?,
            server.try_clone()?,
            client.try_clone()?,
            server.try_clone()?,
        ))
    })();
    let Ok((client_r, server_w, client_keep, server_keep)) = clones else {
        abort(&client);
        abort(&server);
        return;
    };
    {
        let mut live = shared.live();
        // Re-check under the lock: a cut or refusal may have happened while
        // connecting.
        if shared.refusing.load(Ordering::SeqCst) || shared.stopping.load(Ordering::SeqCst) {
            abort(&client);
            abort(&server);
            return;
        }
        live.push((id, client_keep, server_keep));
    }
    let upstream = thread::Builder::new()
        .name("tcp-proxy-up".into())
        .spawn(move || pump(client_r, server_w));
    pump(server, client);
    if let Ok(handle) = upstream {
        let _ = handle.join();
    }
    shared.forget(id);
}

/// Copies `from` to `to` until EOF or an error, then half-closes `to`.
fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}

/// Resets a connection: SO_LINGER with a zero timeout makes the kernel send
/// RST, and shutdown wakes up any thread blocked on the socket.
fn abort(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd and a correctly sized linger struct.
    unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::addr_of!(linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = stream.shutdown(Shutdown::Both);
}
