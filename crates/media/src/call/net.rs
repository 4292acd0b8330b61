//! Sockets of a session: one UDP socket per local address, a reader thread per socket, and
//! a minimal STUN client (RFC 8489 Binding) for server-reflexive candidates.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Largest datagram read: more than any MTU a call path has.
const MAX_DATAGRAM: usize = 2048;

/// How often an idle reader looks whether the session has stopped.
const READ_POLL: Duration = Duration::from_millis(50);

/// A datagram that arrived on one of the session's sockets.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub(crate) at: Instant,
    pub(crate) source: SocketAddr,
    pub(crate) destination: SocketAddr,
    pub(crate) contents: Vec<u8>,
}

/// The local addresses to bind: `bind` alone if given, else every up interface's address
/// but loopback, link-local and unspecified ones (loopback if nothing else is there).
pub(crate) fn local_addresses(bind: Option<IpAddr>) -> Vec<IpAddr> {
    if let Some(ip) = bind {
        return vec![ip];
    }
    let mut out: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_oper_up() || matches!(i.oper_status, if_addrs::IfOperStatus::Unknown))
        .map(|i| i.ip())
        .filter(|ip| usable(*ip))
        .collect();
    out.sort();
    out.dedup();
    if out.is_empty() {
        out.push(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    out
}

fn usable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() && !v4.is_multicast()
        }
        // Link-local IPv6 needs a scope id no peer can use.
        IpAddr::V6(v6) => {
            !v6.is_loopback()
                && !v6.is_unspecified()
                && !v6.is_multicast()
                && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

/// The session's sockets and their reader threads.
pub(crate) struct Sockets {
    sockets: Vec<(SocketAddr, UdpSocket)>,
    readers: Vec<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Sockets {
    /// Binds one socket per address (on any free port). Addresses that cannot be bound are
    /// skipped; none at all (of a non-empty list) is an error.
    pub(crate) fn bind(addresses: &[IpAddr]) -> io::Result<Self> {
        let mut this = Self {
            sockets: Vec::new(),
            readers: Vec::new(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        this.add(addresses)?;
        Ok(this)
    }

    /// Binds one more socket per address, before the readers start; returns the bound
    /// addresses. Addresses that cannot be bound are skipped; none at all (of a non-empty
    /// list) is an error.
    pub(crate) fn add(&mut self, addresses: &[IpAddr]) -> io::Result<Vec<SocketAddr>> {
        let mut bound = Vec::new();
        let mut last_err = None;
        for ip in addresses {
            match UdpSocket::bind(SocketAddr::new(*ip, 0)).and_then(|s| {
                let addr = s.local_addr()?;
                s.set_read_timeout(Some(READ_POLL))?;
                Ok((addr, s))
            }) {
                Ok(pair) => {
                    bound.push(pair.0);
                    self.sockets.push(pair);
                }
                Err(e) => last_err = Some(e),
            }
        }
        if bound.is_empty() && !addresses.is_empty() {
            return Err(last_err.unwrap_or_else(|| io::Error::other("no local address")));
        }
        Ok(bound)
    }

    /// Starts a reader thread per socket, each sending what it reads to `to` (wrapped by
    /// `wrap`) until [`Self::stop`].
    pub(crate) fn start_readers<M: Send + 'static>(
        &mut self,
        to: Sender<M>,
        wrap: fn(Datagram) -> M,
    ) -> io::Result<()> {
        for (addr, socket) in &self.sockets {
            let socket = socket.try_clone()?;
            let addr = *addr;
            let to = to.clone();
            let stop = self.stop.clone();
            let handle = std::thread::Builder::new()
                .name(format!("call-udp-{}", addr.port()))
                .spawn(move || {
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    while !stop.load(Ordering::Relaxed) {
                        match socket.recv_from(&mut buf) {
                            Ok((n, source)) => {
                                let d = Datagram {
                                    at: Instant::now(),
                                    source,
                                    destination: addr,
                                    contents: buf[..n].to_vec(),
                                };
                                if to.send(wrap(d)).is_err() {
                                    break;
                                }
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    io::ErrorKind::WouldBlock
                                        | io::ErrorKind::TimedOut
                                        | io::ErrorKind::Interrupted
                                        // An ICMP port unreachable from an earlier send.
                                        | io::ErrorKind::ConnectionRefused
                                        | io::ErrorKind::ConnectionReset
                                ) => {}
                            Err(_) => break,
                        }
                    }
                })?;
            self.readers.push(handle);
        }
        Ok(())
    }

    /// Sends from the socket bound to `source`; false if there is none or sending failed.
    pub(crate) fn send(&self, source: SocketAddr, destination: SocketAddr, data: &[u8]) -> bool {
        let Some((_, socket)) = self.sockets.iter().find(|(a, _)| *a == source) else {
            return false;
        };
        socket.send_to(data, destination).is_ok()
    }

    /// Stops the readers and waits for them; the sockets close when `self` drops.
    pub(crate) fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.readers.drain(..) {
            let _ = handle.join();
        }
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Resolves a STUN server's addresses (blocking DNS), at most a few.
pub(crate) fn resolve(host: &str, port: u16) -> Vec<SocketAddr> {
    (host, port)
        .to_socket_addrs()
        .map(|it| it.take(4).collect())
        .unwrap_or_default()
}

/// STUN magic cookie (RFC 8489 §5).
pub(crate) const MAGIC_COOKIE: u32 = 0x2112_A442;
const BINDING_REQUEST: u16 = 0x0001;
const BINDING_SUCCESS: u16 = 0x0101;
const ATTR_MAPPED_ADDRESS: u16 = 0x0001;
const ATTR_XOR_MAPPED_ADDRESS: u16 = 0x0020;

/// A STUN Binding request with the given transaction id.
pub(crate) fn binding_request(transaction: [u8; 12]) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&BINDING_REQUEST.to_be_bytes());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
    out.extend_from_slice(&transaction);
    out
}

/// If `data` is a STUN Binding success response: its transaction id and mapped address.
/// Reads with bounds; anything malformed is `None`.
pub(crate) fn parse_binding_response(data: &[u8]) -> Option<([u8; 12], Option<SocketAddr>)> {
    if data.len() < 20 || data[0] & 0xc0 != 0 {
        return None;
    }
    let kind = u16::from_be_bytes([data[0], data[1]]);
    let len = usize::from(u16::from_be_bytes([data[2], data[3]]));
    let cookie = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
    if kind != BINDING_SUCCESS || cookie != MAGIC_COOKIE || data.len() < 20 + len {
        return None;
    }
    let mut transaction = [0u8; 12];
    transaction.copy_from_slice(&data[8..20]);
    let mut attrs = &data[20..20 + len];
    let (mut mapped, mut xor_mapped) = (None, None);
    while attrs.len() >= 4 {
        let kind = u16::from_be_bytes([attrs[0], attrs[1]]);
        let len = usize::from(u16::from_be_bytes([attrs[2], attrs[3]]));
        let value = attrs.get(4..4 + len)?;
        match kind {
            ATTR_XOR_MAPPED_ADDRESS => xor_mapped = read_address(value, Some(&data[4..20])),
            ATTR_MAPPED_ADDRESS => mapped = read_address(value, None),
            _ => {}
        }
        let padded = (4 + len).div_ceil(4) * 4;
        attrs = attrs.get(padded..).unwrap_or(&[]);
    }
    Some((transaction, xor_mapped.or(mapped)))
}

/// A (XOR-)MAPPED-ADDRESS value; `xor` is the cookie and transaction id to undo.
pub(crate) fn read_address(value: &[u8], xor: Option<&[u8]>) -> Option<SocketAddr> {
    if value.len() < 4 {
        return None;
    }
    let family = value[1];
    let mut port = u16::from_be_bytes([value[2], value[3]]);
    let ip_len = match family {
        1 => 4,
        2 => 16,
        _ => return None,
    };
    let mut ip = value.get(4..4 + ip_len)?.to_vec();
    if let Some(key) = xor {
        port ^= (MAGIC_COOKIE >> 16) as u16;
        for (b, k) in ip.iter_mut().zip(key) {
            *b ^= k;
        }
    }
    let ip = match family {
        1 => IpAddr::from(<[u8; 4]>::try_from(ip.as_slice()).ok()?),
        _ => IpAddr::from(<[u8; 16]>::try_from(ip.as_slice()).ok()?),
    };
    Some(SocketAddr::new(ip, port))
}

/// Whether a datagram is RTP (not RTCP) by RFC 7983 and RFC 5761: its payload type and SSRC.
pub(crate) fn rtp_pt_and_ssrc(data: &[u8]) -> Option<(u8, u32)> {
    if data.len() < 12 || !(128..=191).contains(&data[0]) {
        return None;
    }
    let pt = data[1] & 0x7f;
    // RTCP packet types 192–223 (with the marker bit read as part of the type).
    if (64..=95).contains(&pt) {
        return None;
    }
    Some((
        pt,
        u32::from_be_bytes([data[8], data[9], data[10], data[11]]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(transaction: [u8; 12], addr: SocketAddr, junk_first: bool) -> Vec<u8> {
        let mut attrs = Vec::new();
        if junk_first {
            // An unknown attribute of odd length, padded.
            attrs.extend_from_slice(&[0x80, 0x22, 0x00, 0x03, b'a', b'b', b'c', 0]);
        }
        let SocketAddr::V4(v4) = addr else {
            panic!("v4 only here")
        };
        attrs.extend_from_slice(&ATTR_XOR_MAPPED_ADDRESS.to_be_bytes());
        attrs.extend_from_slice(&8u16.to_be_bytes());
        attrs.extend_from_slice(&[0, 1]);
        attrs.extend_from_slice(&(v4.port() ^ 0x2112).to_be_bytes());
        let ip = u32::from(*v4.ip()) ^ MAGIC_COOKIE;
        attrs.extend_from_slice(&ip.to_be_bytes());
        let mut out = Vec::new();
        out.extend_from_slice(&BINDING_SUCCESS.to_be_bytes());
        out.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(&transaction);
        out.extend_from_slice(&attrs);
        out
    }

    #[test]
    fn stun_binding_response_is_read() {
        let addr: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
        let t = [7u8; 12];
        for junk in [false, true] {
            assert_eq!(
                parse_binding_response(&response(t, addr, junk)),
                Some((t, Some(addr)))
            );
        }
        let req = binding_request(t);
        assert_eq!(req.len(), 20);
        assert_eq!(parse_binding_response(&req), None);
    }

    #[test]
    fn stun_junk_is_refused_without_panic() {
        let addr: SocketAddr = "203.0.113.7:40000".parse().expect("addr");
        let good = response([1; 12], addr, true);
        for cut in 0..good.len() {
            let _ = parse_binding_response(&good[..cut]);
        }
        let mut lying = good.clone();
        lying[3] = 0xff; // length beyond the datagram
        assert_eq!(parse_binding_response(&lying), None);
        let mut x: u32 = 1;
        for _ in 0..2000 {
            let mut d = good.clone();
            for b in d.iter_mut().skip(20) {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                *b = (x >> 16) as u8;
            }
            let _ = parse_binding_response(&d);
        }
    }

    #[test]
    fn rtp_is_told_from_rtcp() {
        let mut rtp = vec![0x80, 111, 0, 1, 0, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef];
        assert_eq!(rtp_pt_and_ssrc(&rtp), Some((111, 0xdead_beef)));
        rtp[1] = 0x80 | 111; // marker
        assert_eq!(rtp_pt_and_ssrc(&rtp), Some((111, 0xdead_beef)));
        let rtcp = vec![0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(rtp_pt_and_ssrc(&rtcp), None);
        assert_eq!(rtp_pt_and_ssrc(&[0x16, 0xfe, 0xfd]), None); // DTLS
        assert_eq!(rtp_pt_and_ssrc(&rtp[..11]), None);
    }

    #[test]
    fn only_usable_addresses() {
        assert!(!usable("127.0.0.1".parse().expect("ip")));
        assert!(!usable("169.254.1.1".parse().expect("ip")));
        assert!(!usable("fe80::1".parse().expect("ip")));
        assert!(usable("192.168.1.2".parse().expect("ip")));
        assert!(usable("2001:db8::1".parse().expect("ip")));
        assert_eq!(
            local_addresses(Some("127.0.0.1".parse().expect("ip"))),
            vec!["127.0.0.1".parse::<IpAddr>().expect("ip")]
        );
        assert!(!local_addresses(None).is_empty());
    }
}
