//! coturn on 127.0.0.1 with a shared secret (TURN REST API credentials, as Prosody's
//! XEP-0215 module derives them), and a fake TURN server that answers junk.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use rand::Rng;

use tern_media::IceServer;

/// Relay ports come from blocks in this range (above Linux's ephemeral ports).
const RELAY_RANGE: (u16, u16) = (61000, 65000);
const RELAY_BLOCK: u16 = 16;

/// A running turnserver, stopped on drop.
pub struct Coturn {
    child: Child,
    pub addr: SocketAddr,
    pub secret: String,
    dir: PathBuf,
}

impl Coturn {
    /// Starts turnserver on a free loopback port and waits until it answers STUN.
    pub fn start() -> Coturn {
        let port = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|s| s.local_addr())
            .expect("free port")
            .port();
        let mut rng = rand::thread_rng();
        let blocks = (RELAY_RANGE.1 - RELAY_RANGE.0) / RELAY_BLOCK;
        let min = RELAY_RANGE.0 + rng.gen_range(0..blocks) * RELAY_BLOCK;
        let secret: String = (0..24)
            .map(|_| char::from(b'a' + rng.gen_range(0..26u8)))
            .collect();
        let dir = std::env::temp_dir().join(format!("tern-coturn-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("coturn dir");
        let mut command = Command::new("turnserver");
        if std::env::var_os("TERN_KEEP_TURN_LOG").is_some() {
            command.arg("--verbose");
        }
        let child = command
            .arg("-n")
            .arg("--listening-ip=127.0.0.1")
            .arg("--relay-ip=127.0.0.1")
            .arg(format!("--listening-port={port}"))
            .arg(format!("--min-port={min}"))
            .arg(format!("--max-port={}", min + RELAY_BLOCK - 1))
            .arg("--use-auth-secret")
            .arg(format!("--static-auth-secret={secret}"))
            .arg("--realm=localhost")
            .arg("--no-tls")
            .arg("--no-dtls")
            .arg("--no-tcp")
            .arg("--no-cli")
            .arg("--allow-loopback-peers")
            .arg(format!(
                "--pidfile={}",
                dir.join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", dir.join("turndb").display()))
            .arg(format!("--log-file={}", dir.join("turn.log").display()))
            .arg("--simple-log")
            .arg("--no-stdout-log")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("turnserver (apt install coturn)");
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let coturn = Coturn {
            child,
            addr,
            secret,
            dir,
        };
        coturn.wait_ready();
        coturn
    }

    /// Sends STUN Binding requests until one is answered.
    fn wait_ready(&self) {
        let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("probe");
        probe
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut request = vec![0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42];
        request.extend_from_slice(&[7u8; 12]);
        let end = Instant::now() + Duration::from_secs(5);
        let mut buf = [0u8; 1500];
        while Instant::now() < end {
            let _ = probe.send_to(&request, self.addr);
            if let Ok((n, _)) = probe.recv_from(&mut buf) {
                if n >= 20 && buf[0..2] == [1, 1] {
                    return;
                }
            }
        }
        panic!("turnserver did not answer on {}", self.addr);
    }

    /// Credentials as Prosody's `mod_turn_external` gives them: user `expiry:name`,
    /// password base64(HMAC-SHA1(secret, user)).
    pub fn credentials(&self, name: &str) -> (String, String) {
        let expiry = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            + 3600;
        let username = format!("{expiry}:{name}");
        let key = PKey::hmac(self.secret.as_bytes()).expect("key");
        let mut signer = Signer::new(MessageDigest::sha1(), &key).expect("signer");
        signer.update(username.as_bytes()).expect("hmac");
        let mac = signer.sign_to_vec().expect("hmac");
        (
            username,
            base64::engine::general_purpose::STANDARD.encode(mac),
        )
    }

    /// The server as XEP-0215 would list it, with good credentials.
    pub fn ice_server(&self, name: &str) -> IceServer {
        let (username, password) = self.credentials(name);
        turn_server(self.addr, &username, &password)
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // TERN_KEEP_TURN_LOG=1 keeps coturn's log for a look at what it did.
        if std::env::var_os("TERN_KEEP_TURN_LOG").is_some() {
            println!("coturn log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A TURN server entry.
pub fn turn_server(addr: SocketAddr, username: &str, password: &str) -> IceServer {
    IceServer {
        stun: false,
        host: addr.ip().to_string(),
        port: addr.port(),
        username: Some(username.into()),
        password: Some(password.into()),
    }
}

/// A UDP "TURN server" that answers every datagram with junk: random bytes, then STUN
/// responses to the request's transaction with broken attributes, in turn.
pub struct JunkServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u32>>,
}

impl JunkServer {
    /// `stun_looking`: also answer with messages that match the request's transaction.
    pub fn start(stun_looking: bool) -> Self {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("junk server");
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut rng = rand::thread_rng();
            let mut buf = [0u8; 2048];
            let mut asked = 0u32;
            while !stopping.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                asked += 1;
                let mut junk: Vec<u8> = (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
                let _ = socket.send_to(&junk, from);
                if stun_looking && n >= 20 {
                    // Same method and transaction, success or error class, attributes that
                    // lie about their lengths or hold nonsense.
                    // The last one can be read as an error without a readable code.
                    for (kind, attrs) in [([0x01, 0x03], 3), ([0x01, 0x13], 3), ([0x01, 0x13], 2)] {
                        junk.truncate(0);
                        junk.extend_from_slice(&kind);
                        junk.extend_from_slice(&[0, 8 * attrs]);
                        junk.extend_from_slice(&buf[4..20]);
                        junk.extend_from_slice(&[0x00, 0x09, 0x00, 0x03, 0xff, 0xff, 0xff, 0]);
                        junk.extend_from_slice(&[0x00, 0x16, 0x00, 0x03, 0x00, 0x07, 1, 0]);
                        if attrs == 3 {
                            junk.extend_from_slice(&[0x00, 0x14, 0xff, 0xf0, 1, 2, 3, 4]);
                        }
                        let _ = socket.send_to(&junk, from);
                    }
                }
            }
            asked
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the server; how many datagrams it was sent.
    pub fn stop(&mut self) -> u32 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .take()
            .map(|t| t.join().expect("junk thread"))
            .unwrap_or(0)
    }
}

impl Drop for JunkServer {
    fn drop(&mut self) {
        self.stop();
    }
}
