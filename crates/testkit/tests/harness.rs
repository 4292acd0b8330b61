//! Integration tests of the harness against real servers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tern_testkit::*;

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn stream_header(domain: &str) -> String {
    format!(
        "<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' \
         xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    )
}

/// Reads from `stream` until `needle` shows up (or the peer closes / times out).
fn read_until(stream: &mut impl Read, needle: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                if String::from_utf8_lossy(&got).contains(needle) {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// Opens a plain connection, sends a stream header and returns the features.
fn starttls_features(port: u16, domain: &str) -> String {
    let mut s = TcpStream::connect(loopback(port)).expect("connect c2s");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(stream_header(domain).as_bytes())
        .expect("write header");
    read_until(&mut s, "</stream:features>")
}

fn client_config() -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(TestCa::global().ca_cert_der()))
        .expect("add CA");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Direct TLS (XEP-0368) handshake verified against the test CA. Returns the
/// server's end-entity certificate and whatever the server sent after our
/// stream header.
fn direct_tls(port: u16, domain: &str) -> (Vec<u8>, String) {
    let name = ServerName::try_from(domain.to_owned()).expect("server name");
    let mut conn = rustls::ClientConnection::new(client_config(), name).expect("client conn");
    let mut sock = TcpStream::connect(loopback(port)).expect("connect direct tls");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .expect("TLS handshake verified against TestCa");
    }
    let cert = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .expect("peer certificate")
        .to_vec();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(stream_header(domain).as_bytes())
        .expect("write header");
    let features = read_until(&mut tls, "</stream:features>");
    (cert, features)
}

#[test]
fn prosody_serves_xmpp_and_restarts() -> Result<()> {
    let t = Instant::now();
    let mut server = Prosody::start()?;
    eprintln!("Prosody (with coturn) started in {:?}", t.elapsed());
    let pid = server.pid().expect("pid");
    assert!(pid_is_alive(pid));

    // STARTTLS port speaks XMPP.
    let features = starttls_features(server.c2s_port(), server.domain());
    assert!(features.contains("<stream:features"), "{features}");
    assert!(features.contains("starttls"), "{features}");

    // Direct TLS verifies against the CA and presents the leaf.
    let (cert, features) = direct_tls(server.direct_tls_port(), server.domain());
    assert_eq!(cert, server.leaf().cert_der);
    assert!(features.contains("mechanisms"), "{features}");

    // The HTTPS port presents a certificate valid for localhost too.
    let name = ServerName::try_from("localhost").expect("name");
    let mut conn = rustls::ClientConnection::new(client_config(), name).expect("conn");
    let mut sock = TcpStream::connect(loopback(server.https_port()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }

    // Users.
    let (user, password) = server.create_user()?;
    assert!(!user.is_empty() && !password.is_empty());
    let (other, _) = server.create_user()?;
    assert_ne!(user, other);
    server.create_user_named("alice", "secret")?;
    assert!(server.create_user_named("bad user", "x").is_err());

    // TURN runs next to it.
    assert!(server.turn_running(), "coturn is not running");
    let turn_pid = server.turn_pid().expect("turn pid");
    let check = server.prosodyctl(&["check", "turn"])?;
    assert!(
        check.status.success(),
        "prosodyctl check turn: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    // Restart on the same ports.
    let t = Instant::now();
    server.restart()?;
    eprintln!("Prosody restarted in {:?}", t.elapsed());
    assert!(!pid_is_alive(pid), "old Prosody still running");
    let features = starttls_features(server.c2s_port(), server.domain());
    assert!(features.contains("starttls"), "{features}");

    // New certificate.
    let old = server.leaf().sha256_fingerprint();
    server.restart_with_new_certificate()?;
    assert_ne!(old, server.leaf().sha256_fingerprint());
    let (cert, _) = direct_tls(server.direct_tls_port(), server.domain());
    assert_eq!(
        cert,
        server.leaf().cert_der,
        "served certificate did not change"
    );

    let pid = server.pid().expect("pid");
    let dir = server.dir().to_owned();
    drop(server);
    assert!(!pid_is_alive(pid), "Prosody still running after drop");
    assert!(!pid_is_alive(turn_pid), "coturn still running after drop");
    assert!(!dir.exists(), "temporary directory left behind");
    Ok(())
}

#[test]
fn prosody_custom_domain_without_registration() -> Result<()> {
    let server = Prosody::start_with(ProsodyOptions {
        domain: "tern.test".into(),
        allow_registration: false,
        ..ProsodyOptions::default()
    })?;
    assert_eq!(server.muc_domain(), "conference.tern.test");
    assert_eq!(server.upload_domain(), "upload.tern.test");
    let (_, features) = direct_tls(server.direct_tls_port(), "tern.test");
    assert!(features.contains("mechanisms"), "{features}");
    assert!(
        !features.contains("jabber.org/features/iq-register"),
        "{features}"
    );

    // Users can be created from several threads at once.
    let server = Arc::new(server);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let server = Arc::clone(&server);
            thread::spawn(move || {
                (0..3)
                    .map(|_| server.create_user().map(|(user, _)| user))
                    .collect::<Result<Vec<_>>>()
            })
        })
        .collect();
    let mut users = Vec::new();
    for worker in workers {
        users.extend(worker.join().expect("worker")?);
    }
    users.sort();
    users.dedup();
    assert_eq!(users.len(), 12);
    Ok(())
}

#[test]
fn ejabberd_serves_xmpp_and_restarts() -> Result<()> {
    let t = Instant::now();
    let mut server = Ejabberd::start()?;
    eprintln!("ejabberd started in {:?}", t.elapsed());
    let pid = server.pid().expect("pid");

    let features = starttls_features(server.c2s_port(), server.domain());
    assert!(features.contains("<stream:features"), "{features}");
    assert!(features.contains("starttls"), "{features}");

    let (cert, features) = direct_tls(server.direct_tls_port(), server.domain());
    assert_eq!(cert, server.leaf().cert_der);
    assert!(features.contains("mechanisms"), "{features}");

    let t = Instant::now();
    let (user, _) = server.create_user()?;
    eprintln!("ejabberd user created in {:?}", t.elapsed());
    let out = server.ctl(&["registered_users", server.domain()])?;
    assert!(String::from_utf8_lossy(&out.stdout).contains(&user));
    server.create_user_named("alice", "secret")?;
    assert!(server.create_user_named("alice", "secret").is_err());

    let t = Instant::now();
    server.restart()?;
    eprintln!("ejabberd restarted in {:?}", t.elapsed());
    assert!(!pid_is_alive(pid));
    let out = server.ctl(&["registered_users", server.domain()])?;
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&user),
        "users kept"
    );
    let features = starttls_features(server.c2s_port(), server.domain());
    assert!(features.contains("starttls"), "{features}");

    let old = server.leaf().sha256_fingerprint();
    server.restart_with_new_certificate()?;
    assert_ne!(old, server.leaf().sha256_fingerprint());
    let (cert, _) = direct_tls(server.direct_tls_port(), server.domain());
    assert_eq!(cert, server.leaf().cert_der);

    let pid = server.pid().expect("pid");
    let dir = server.dir().to_owned();
    drop(server);
    assert!(!pid_is_alive(pid), "ejabberd still running after drop");
    assert!(!dir.exists());
    Ok(())
}

/// An echo server on loopback for proxy tests.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut conn = conn;
                let mut buf = [0u8; 1024];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 || conn.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn echo_roundtrip(stream: &mut TcpStream, msg: &[u8]) -> bool {
    if stream.write_all(msg).is_err() {
        return false;
    }
    let mut got = vec![0u8; msg.len()];
    stream.read_exact(&mut got).is_ok() && got == msg
}

fn is_closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[test]
fn tcp_proxy_forwards_cuts_and_refuses() -> Result<()> {
    let proxy = TcpProxy::start(echo_server())?;
    let mut a = TcpStream::connect(loopback(proxy.port()))?;
    a.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert!(echo_roundtrip(&mut a, b"hello"));
    let mut b = TcpStream::connect(loopback(proxy.port()))?;
    b.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert!(echo_roundtrip(&mut b, b"world"));
    assert_eq!(proxy.connection_count(), 2);
    assert_eq!(proxy.active_connections(), 2);

    proxy.cut_all();
    assert!(is_closed(&mut a), "a not closed");
    assert!(is_closed(&mut b), "b not closed");

    // New connections still work.
    let mut c = TcpStream::connect(loopback(proxy.port()))?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert!(echo_roundtrip(&mut c, b"again"));

    proxy.set_refusing(true);
    assert!(is_closed(&mut c), "existing connection survived refusing");
    if let Ok(mut d) = TcpStream::connect(loopback(proxy.port())) {
        assert!(
            !echo_roundtrip(&mut d, b"nope"),
            "refusing proxy forwarded data"
        );
    }
    proxy.set_refusing(false);
    let mut e = TcpStream::connect(loopback(proxy.port()))?;
    e.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert!(echo_roundtrip(&mut e, b"back"));
    assert_eq!(proxy.connection_count(), 5);
    drop(proxy);
    assert!(is_closed(&mut e), "connection survived drop");
    Ok(())
}

#[test]
fn tcp_proxy_target_set_later() -> Result<()> {
    let proxy = TcpProxy::start_without_target()?;
    assert_eq!(proxy.target(), None);
    // Nowhere to forward yet: the connection is reset.
    let mut a = TcpStream::connect(loopback(proxy.port()))?;
    assert!(is_closed(&mut a), "connection without a target survived");

    let echo = echo_server();
    proxy.set_target(echo);
    assert_eq!(proxy.target(), Some(echo));
    let mut b = TcpStream::connect(loopback(proxy.port()))?;
    b.set_read_timeout(Some(Duration::from_secs(5)))?;
    assert!(echo_roundtrip(&mut b, b"there"));
    assert_eq!(proxy.connection_count(), 2);
    Ok(())
}

#[test]
fn tcp_proxy_to_prosody() -> Result<()> {
    let server = Prosody::start()?;
    let proxy = TcpProxy::start(loopback(server.c2s_port()))?;
    let features = starttls_features(proxy.port(), server.domain());
    assert!(features.contains("starttls"), "{features}");
    Ok(())
}

#[test]
fn closed_port_refuses() {
    let port = closed_port();
    let err = TcpStream::connect(loopback(port)).expect_err("port should be closed");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn leaf_is_an_end_entity_for_the_ca() {
    let ca = TestCa::global();
    let leaf = ca.issue_leaf(&["example.test"]);
    assert!(leaf.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert!(leaf.key_pem.contains("PRIVATE KEY"));
    assert_ne!(
        leaf.sha256_fingerprint(),
        ca.issue_leaf(&["example.test"]).sha256_fingerprint()
    );
    assert!(ca.ca_cert_pem().contains("BEGIN CERTIFICATE"));
}

#[test]
fn ensure_installed_is_a_noop_when_present() -> Result<()> {
    let t = Instant::now();
    ensure_installed()?;
    eprintln!("ensure_installed took {:?}", t.elapsed());
    Ok(())
}

const HOLD_ENV: &str = "TERN_TESTKIT_HOLD_SERVERS";

/// Started as a separate process by `servers_die_with_a_killed_test_process`.
#[test]
#[ignore = "helper process for servers_die_with_a_killed_test_process"]
fn hold_servers_until_killed() -> Result<()> {
    if std::env::var_os(HOLD_ENV).is_none() {
        return Ok(());
    }
    // Start from a short-lived thread: the servers must survive its exit.
    let (prosody, ejabberd) =
        thread::spawn(|| -> Result<_> { Ok((Prosody::start()?, Ejabberd::start()?)) })
            .join()
            .expect("start thread")?;
    thread::sleep(Duration::from_millis(500));
    let pids = [
        prosody.pid().expect("prosody pid"),
        prosody.turn_pid().expect("coturn pid"),
        ejabberd.pid().expect("ejabberd pid"),
    ];
    for pid in pids {
        assert!(
            pid_is_alive(pid),
            "server {pid} died with its starting thread"
        );
    }
    println!(
        "HOLDING {} {} {} {} {}",
        pids[0],
        pids[1],
        pids[2],
        prosody.dir().display(),
        ejabberd.dir().display()
    );
    std::io::stdout().flush()?;
    thread::sleep(Duration::from_secs(120));
    Ok(())
}

#[test]
fn servers_die_with_a_killed_test_process() -> Result<()> {
    let mut helper = Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "hold_servers_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(HOLD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = helper.stdout.take().expect("stdout");
    let line = BufReader::new(stdout)
        .lines()
        .map_while(|l| l.ok())
        .find(|l| l.starts_with("HOLDING "));
    // SIGKILL: no destructor runs in the helper.
    helper.kill()?;
    helper.wait()?;
    let line = line.expect("helper did not start its servers");
    let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
    let pids: Vec<u32> = fields[..3]
        .iter()
        .map(|p| p.parse().expect("pid"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pids.iter().any(|p| pid_is_alive(*p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(50));
    }
    for pid in &pids {
        assert!(
            !pid_is_alive(*pid),
            "server {pid} outlived the killed test process"
        );
    }
    for dir in &fields[3..] {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(())
}
