//! Messages cross real server-to-server links between servers on loopback.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tern_testkit::*;

/// How long a stanza may take, including setting up the s2s link.
const DELIVERY: Duration = Duration::from_secs(30);

fn tls_config() -> Arc<rustls::ClientConfig> {
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

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Reads from `stream` into `buf` until `buf` contains `needle` (returns
/// what came up to and including it, keeping the rest) or the deadline.
fn read_until(
    stream: &mut impl Read,
    buf: &mut String,
    needle: &str,
    timeout: Duration,
) -> Result<String> {
    let deadline = Instant::now() + timeout;
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.find(needle) {
            let rest = buf.split_off(i + needle.len());
            return Ok(std::mem::replace(buf, rest));
        }
        if Instant::now() >= deadline {
            anyhow::bail!("no {needle:?} within {timeout:?}; got {buf:?}");
        }
        match stream.read(&mut chunk) {
            Ok(0) => anyhow::bail!("stream closed while waiting for {needle:?}; got {buf:?}"),
            Ok(n) => buf.push_str(&String::from_utf8_lossy(&chunk[..n])),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// A minimal XMPP client: STARTTLS verified against the test CA, SASL
/// PLAIN, resource binding, initial presence.
struct Client {
    tls: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
    buf: String,
    jid: String,
}

impl Client {
    fn connect(c2s_port: u16, domain: &str, user: &str, password: &str) -> Result<Client> {
        let header = format!(
            "<?xml version='1.0'?><stream:stream to='{domain}' xmlns='jabber:client' \
             xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
        );
        let timeout = Duration::from_secs(15);
        let mut sock = TcpStream::connect(SocketAddr::from((Ipv4Addr::LOCALHOST, c2s_port)))?;
        sock.set_read_timeout(Some(Duration::from_millis(200)))?;
        let mut buf = String::new();
        sock.write_all(header.as_bytes())?;
        read_until(&mut sock, &mut buf, "</stream:features>", timeout)?;
        sock.write_all(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")?;
        read_until(&mut sock, &mut buf, "<proceed", timeout)?;
        buf.clear();
        let name = ServerName::try_from(domain.to_owned())?;
        let conn = rustls::ClientConnection::new(tls_config(), name)?;
        let mut tls = rustls::StreamOwned::new(conn, sock);

        tls.write_all(header.as_bytes())?;
        read_until(&mut tls, &mut buf, "</stream:features>", timeout)?;
        let auth = base64(format!("\0{user}\0{password}").as_bytes());
        tls.write_all(
            format!(
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>"
            )
            .as_bytes(),
        )?;
        // <success xmlns=...> or <failure xmlns=...>
        let reply = read_until(&mut tls, &mut buf, "xmpp-sasl", timeout)?;
        if !reply.contains("<success") {
            anyhow::bail!("authentication as {user}@{domain} failed: {reply}{buf}");
        }
        buf.clear();
        tls.write_all(header.as_bytes())?;
        read_until(&mut tls, &mut buf, "</stream:features>", timeout)?;
        tls.write_all(
            b"<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>\
              <resource>test</resource></bind></iq>",
        )?;
        let bound = read_until(&mut tls, &mut buf, "</iq>", timeout)?;
        let jid = bound
            .split("<jid>")
            .nth(1)
            .and_then(|s| s.split("</jid>").next())
            .ok_or_else(|| anyhow::anyhow!("no JID in {bound}"))?
            .to_owned();
        tls.write_all(b"<presence/>")?;
        Ok(Client { tls, buf, jid })
    }

    fn send_message(&mut self, to: &str, body: &str) -> Result<()> {
        self.tls.write_all(
            format!("<message to='{to}' type='chat' id='{body}'><body>{body}</body></message>")
                .as_bytes(),
        )?;
        Ok(())
    }

    /// Waits for a message carrying `body`; returns the stanza's text.
    fn expect_body(&mut self, body: &str) -> Result<String> {
        let needle = format!("<body>{body}</body>");
        read_until(&mut self.tls, &mut self.buf, &needle, DELIVERY)
    }
}

fn unique_body(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Sends a message each way between the two clients and checks that it
/// arrives, from the right sender.
fn exchange(a: &mut Client, b: &mut Client) -> Result<()> {
    let bare_b = b.jid.split('/').next().unwrap_or_default().to_owned();
    let bare_a = a.jid.split('/').next().unwrap_or_default().to_owned();

    let there = unique_body("there");
    let t = Instant::now();
    a.send_message(&bare_b, &there)?;
    let got = b.expect_body(&there)?;
    eprintln!("{} -> {}: {:?}", a.jid, b.jid, t.elapsed());
    assert!(
        got.contains(&format!("from='{}", bare_a)) || got.contains(&format!("from=\"{}", bare_a)),
        "{got}"
    );

    let back = unique_body("back");
    let t = Instant::now();
    b.send_message(&bare_a, &back)?;
    let got = a.expect_body(&back)?;
    eprintln!("{} -> {}: {:?}", b.jid, a.jid, t.elapsed());
    assert!(
        got.contains(&format!("from='{}", bare_b)) || got.contains(&format!("from=\"{}", bare_b)),
        "{got}"
    );
    Ok(())
}

/// Whether `check` becomes true within 5 s (logs are written asynchronously).
fn eventually(check: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

fn refuses(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err()
}

#[test]
fn prosody_and_ejabberd_exchange_messages_over_s2s() -> Result<()> {
    let t = Instant::now();
    let fed = Federation::start()?;
    eprintln!("federation started in {:?}", t.elapsed());
    assert_ne!(fed.domain_a(), fed.domain_b());
    assert_eq!(fed.prosody.s2s_port(), 5269);
    assert_eq!(fed.ejabberd.s2s_port(), 5269);
    assert_ne!(fed.prosody.s2s_addr().ip(), fed.ejabberd.s2s_addr().ip());

    let (alice, pa) = fed.prosody.create_user()?;
    let (bob, pb) = fed.ejabberd.create_user()?;
    let mut a = Client::connect(fed.prosody.c2s_port(), fed.domain_a(), &alice, &pa)?;
    let mut b = Client::connect(fed.ejabberd.c2s_port(), fed.domain_b(), &bob, &pb)?;
    if let Err(err) = exchange(&mut a, &mut b) {
        panic!(
            "{err:#}\n--- Prosody log ---\n{}\n--- ejabberd log ---\n{}",
            fed.prosody.log(),
            fed.ejabberd.log()
        );
    }

    // Both links were authenticated by certificates verified against the
    // test CA (SASL EXTERNAL), not by dialback: ejabberd runs without
    // mod_s2s_dialback, Prosody with s2s_secure_auth.
    let plog = fed.prosody.log();
    let accepted = format!("Accepting SASL EXTERNAL identity from {}", fed.domain_b());
    assert!(
        plog.contains(&accepted),
        "{accepted:?} not in Prosody's log:\n{plog}"
    );
    assert!(!plog.contains("dialback"), "dialback was used:\n{plog}");
    let accepted = format!(
        "Accepted inbound s2s EXTERNAL authentication {} -> {}",
        fed.domain_a(),
        fed.domain_b()
    );
    assert!(
        eventually(|| fed.ejabberd.log().contains(&accepted)),
        "{accepted:?} not in ejabberd's log:\n{}",
        fed.ejabberd.log()
    );

    let pids = [
        fed.prosody.pid().expect("prosody pid"),
        fed.ejabberd.pid().expect("ejabberd pid"),
    ];
    let addrs = [fed.prosody.s2s_addr(), fed.ejabberd.s2s_addr()];
    let domains = [fed.domain_a().to_owned(), fed.domain_b().to_owned()];
    drop((a, b));
    drop(fed);
    for pid in pids {
        assert!(!pid_is_alive(pid), "server {pid} still running after drop");
    }
    for addr in addrs {
        assert!(refuses(addr), "{addr} still accepts connections after drop");
    }
    // Name resolution is private to the servers: nothing global to clean up.
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for domain in domains {
        assert!(!hosts.contains(&domain), "/etc/hosts mentions {domain}");
    }
    eprintln!("whole test: {:?}", t.elapsed());
    Ok(())
}

#[test]
fn two_prosody_servers_exchange_messages_over_s2s() -> Result<()> {
    let t = Instant::now();
    let (a_server, c_server) = start_prosody_pair()?;
    eprintln!("Prosody pair started in {:?}", t.elapsed());
    let (alice, pa) = a_server.create_user()?;
    let (carol, pc) = c_server.create_user()?;
    let mut a = Client::connect(a_server.c2s_port(), a_server.domain(), &alice, &pa)?;
    let mut c = Client::connect(c_server.c2s_port(), c_server.domain(), &carol, &pc)?;
    if let Err(err) = exchange(&mut a, &mut c) {
        panic!(
            "{err:#}\n--- Prosody A log ---\n{}\n--- Prosody C log ---\n{}",
            a_server.log(),
            c_server.log()
        );
    }

    for (server, peer) in [(&a_server, &c_server), (&c_server, &a_server)] {
        let log = server.log();
        let accepted = format!("Accepting SASL EXTERNAL identity from {}", peer.domain());
        assert!(
            log.contains(&accepted),
            "{accepted:?} not in the log:\n{log}"
        );
        assert!(!log.contains("dialback"), "dialback was used:\n{log}");
    }

    let pids = [a_server.pid().expect("pid"), c_server.pid().expect("pid")];
    drop((a, c));
    drop((a_server, c_server));
    for pid in pids {
        assert!(!pid_is_alive(pid), "Prosody {pid} still running after drop");
    }
    eprintln!("whole test: {:?}", t.elapsed());
    Ok(())
}

#[test]
fn s2s_refuses_a_peer_certificate_from_another_ca() -> Result<()> {
    let (a_server, mut c_server) = start_prosody_pair()?;
    // C presents a certificate from a CA that A does not trust.
    let foreign = TestCa::generate()?;
    let domain = c_server.domain().to_owned();
    let leaf = foreign.issue_leaf(&[&domain]);
    let certs = c_server.dir().join("certs");
    std::fs::write(
        certs.join(format!("{domain}.crt")),
        format!("{}{}", leaf.cert_pem, foreign.ca_cert_pem()),
    )?;
    std::fs::write(certs.join(format!("{domain}.key")), &leaf.key_pem)?;
    c_server.restart()?;

    let (alice, pa) = a_server.create_user()?;
    let mut a = Client::connect(a_server.c2s_port(), a_server.domain(), &alice, &pa)?;
    let body = unique_body("refused");
    a.send_message(&format!("carol@{domain}"), &body)?;
    // The message bounces: A does not deliver over an unverified link.
    let bounce = loop {
        let stanza = read_until(&mut a.tls, &mut a.buf, "</message>", DELIVERY)?;
        if stanza.contains(&body) {
            break stanza;
        }
    };
    assert!(bounce.contains("type='error'"), "{bounce}");
    assert!(bounce.contains("certificate is not trusted"), "{bounce}");
    let log = a_server.log();
    assert!(
        !log.contains(&format!(
            "Outgoing s2s connection {}->{domain} complete",
            a_server.domain()
        )),
        "A completed an s2s link to C:\n{log}"
    );
    Ok(())
}
