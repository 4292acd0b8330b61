//! File sharing between two slixmpp peers on real servers: XEP-0363 slots
//! from Prosody's `http_file_share` and ejabberd's `mod_http_upload`, PUT
//! and GET over HTTPS with the test CA, XEP-0066 and XEP-0446/0447 in the
//! message, and the servers' options without upload or with a size limit.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine as _;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use tern_testkit::{
    ensure_peer_venv, start_prosody_pair_with, Ejabberd, EjabberdOptions, PeerOptions, Prosody,
    ProsodyOptions, SlixmppPeer, TcpProxy, UploadOptions,
};

const WAIT: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;
const NS_UPLOAD: &str = "urn:xmpp:http:upload:0";

/// Where a peer signs in.
struct Account {
    domain: String,
    c2s: u16,
    user: String,
    password: String,
}

impl Account {
    fn prosody(server: &Prosody) -> Account {
        let (user, password) = server.create_user().expect("create user");
        Account {
            domain: server.domain().to_owned(),
            c2s: server.c2s_port(),
            user,
            password,
        }
    }

    fn ejabberd(server: &Ejabberd) -> Account {
        let (user, password) = server.create_user().expect("create user");
        Account {
            domain: server.domain().to_owned(),
            c2s: server.c2s_port(),
            user,
            password,
        }
    }

    fn peer(self) -> SlixmppPeer {
        SlixmppPeer::start(PeerOptions::new(
            format!("{}@{}", self.user, self.domain),
            self.password,
            "127.0.0.1",
            self.c2s,
        ))
        .expect("start peer")
    }
}

fn random_file(dir: &Path, name: &str, size: usize) -> (PathBuf, Vec<u8>) {
    let mut data = vec![0u8; size];
    rand::thread_rng().fill_bytes(&mut data);
    let path = dir.join(name);
    fs::write(&path, &data).expect("write file");
    (path, data)
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn sha256_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data))
}

/// The message with stanza id `id` from `sender`.
fn received(receiver: &SlixmppPeer, sender: &SlixmppPeer, id: &str) -> Value {
    receiver
        .wait_for(WAIT, |e| {
            e["event"] == "message" && e["from"] == sender.jid() && e["id"] == id
        })
        .expect("message arrives")
}

/// A JPEG with EXIF (camera, orientation, date) and GPS data, made with the
/// peers' Pillow.
fn jpeg_with_gps(path: &Path) {
    let python = ensure_peer_venv().expect("peer venv");
    let script = r#"
import sys
from PIL import Image
img = Image.new("RGB", (64, 48), (200, 30, 30))
exif = Image.Exif()
exif[0x010F] = "TernCam"
exif[0x0112] = 6
exif.get_ifd(0x8769)[0x9003] = "2026:12:04 10:00:00"
exif.get_ifd(0x8825).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)})
img.save(sys.argv[1], "JPEG", exif=exif)
"#;
    let status = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(path)
        .status()
        .expect("run python");
    assert!(status.success(), "making the JPEG failed");
}

/// The values of the attribute `name` in `xml`, in order.
fn attr_values(xml: &str, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&format!(" {name}=")) {
        rest = &rest[i + name.len() + 2..];
        let Some(quote) = rest.chars().next() else {
            break;
        };
        rest = &rest[1..];
        let Some(end) = rest.find(quote) else { break };
        out.push(rest[..end].to_owned());
        rest = &rest[end..];
    }
    out
}

fn disco(peer: &SlixmppPeer, to: &str, ns: &str) -> String {
    let answer = peer
        .iq(
            &format!("<iq type='get' to='{to}'><query xmlns='{ns}'/></iq>"),
            Duration::from_secs(10),
        )
        .expect("disco");
    assert_eq!(answer["type"], "result", "disco {ns} of {to}: {answer}");
    answer["xml"].as_str().unwrap_or_default().to_owned()
}

/// Asserts that neither `domain` nor any of its disco items offers
/// XEP-0363, and that the peer finds no upload service.
fn assert_no_upload(peer: &SlixmppPeer, domain: &str) {
    let info = disco(peer, domain, "http://jabber.org/protocol/disco#info");
    assert!(!info.contains(NS_UPLOAD), "{domain} offers upload: {info}");
    let items = disco(peer, domain, "http://jabber.org/protocol/disco#items");
    let jids = attr_values(&items, "jid");
    assert!(!jids.is_empty(), "no disco items at all: {items}");
    for jid in jids {
        assert!(!jid.starts_with("upload."), "upload item {jid}: {items}");
        let info = disco(peer, &jid, "http://jabber.org/protocol/disco#info");
        assert!(!info.contains(NS_UPLOAD), "{jid} offers upload: {info}");
    }
    let slot = peer
        .upload_slot("a.bin", 1000, "application/octet-stream")
        .expect("slot request");
    assert_eq!(slot["event"], "upload_failed", "{slot}");
    assert_eq!(slot["stage"], "discover", "{slot}");
}

/// A slot for `size` bytes is refused with `<file-too-large/>`.
fn assert_too_large(peer: &SlixmppPeer, size: u64, limit: u64) {
    let slot = peer
        .upload_slot("big.bin", size, "application/octet-stream")
        .expect("slot request");
    assert_eq!(slot["event"], "upload_failed", "{slot}");
    assert_eq!(slot["stage"], "slot", "{slot}");
    assert_eq!(slot["condition"], "not-acceptable", "{slot}");
    assert_eq!(slot["max_file_size"], limit, "{slot}");
}

/// The sender uploads a 1 MiB random file with SFS metadata; the receiver
/// gets body, OOB URL and metadata and downloads the same bytes. Then the
/// same file encrypted (aesgcm://, IV of `iv_len` bytes).
fn share_random_file(
    alice: &SlixmppPeer,
    bob: &SlixmppPeer,
    upload_domain: &str,
    limit: u64,
    iv_len: u8,
) {
    let dir = TempDir::new().expect("tempdir");
    let (path, data) = random_file(dir.path(), "random.bin", MIB as usize);

    let slot = alice
        .upload_slot("probe.bin", 10, "application/octet-stream")
        .expect("slot");
    assert_eq!(slot["event"], "upload_slot", "{slot}");
    assert_eq!(slot["service"], upload_domain, "{slot}");
    assert_eq!(slot["max_file_size"], limit, "{slot}");
    assert!(
        slot["put"]
            .as_str()
            .unwrap_or_default()
            .starts_with("https://localhost:"),
        "{slot}"
    );

    let url = alice
        .upload_send(
            bob.bare_jid(),
            &path,
            "application/octet-stream",
            "file-1",
            true,
        )
        .expect("upload");
    assert!(url.starts_with("https://localhost:"), "{url}");
    let msg = received(bob, alice, "file-1");
    assert_eq!(msg["body"], url.as_str());
    assert_eq!(msg["oob_url"], url.as_str());
    let file = &msg["file"];
    assert_eq!(file["name"], "random.bin", "{msg}");
    assert_eq!(file["media_type"], "application/octet-stream", "{msg}");
    assert_eq!(file["size"], MIB, "{msg}");
    assert_eq!(file["sha256"], sha256_b64(&data), "{msg}");
    assert!(
        file["width"].is_null() && file["thumbnail"].is_null(),
        "{msg}"
    );
    assert_eq!(file["sources"], serde_json::json!([url]), "{msg}");
    assert_eq!(file["disposition"], "inline", "{msg}");

    let out = dir.path().join("downloaded.bin");
    let got = bob.download(&url, &out).expect("download");
    assert_eq!(got["sha256"], sha256_hex(&data), "{got}");
    assert_eq!(got["size"], MIB, "{got}");
    assert_eq!(fs::read(&out).expect("read download"), data);

    // A plain upload has OOB but no metadata.
    let url = alice
        .upload_send(bob.bare_jid(), &path, "text/plain", "file-2", false)
        .expect("upload");
    let msg = received(bob, alice, "file-2");
    assert_eq!(msg["oob_url"], url.as_str());
    assert!(msg["file"].is_null(), "{msg}");

    // Encrypted: the body is the aesgcm:// URL, the server has ciphertext.
    let opts = UploadOptions {
        aesgcm_iv_len: Some(iv_len),
        ..UploadOptions::new("application/octet-stream")
    };
    let url = alice
        .upload_send_with(bob.bare_jid(), &path, "file-3", &opts)
        .expect("encrypted upload");
    assert!(url.starts_with("aesgcm://localhost:"), "{url}");
    let fragment = url.rsplit_once('#').map(|(_, f)| f.len());
    assert_eq!(fragment, Some(2 * (usize::from(iv_len) + 32)), "{url}");
    let msg = received(bob, alice, "file-3");
    assert_eq!(msg["body"], url.as_str());
    assert!(msg["oob_url"].is_null(), "{msg}");
    let got = bob.download(&url, &out).expect("decrypting download");
    assert_eq!(got["sha256"], sha256_hex(&data), "{got}");
    let https = format!(
        "https{}",
        &url["aesgcm".len()..url.find('#').expect("fragment")]
    );
    let raw = bob.download(&https, &out).expect("raw download");
    assert_eq!(raw["size"], MIB + 16, "ciphertext and tag: {raw}");
}

#[test]
fn prosody_peers_share_files() {
    let started = Instant::now();
    let server = Prosody::start().expect("start Prosody");
    let alice = Account::prosody(&server).peer();
    let bob = Account::prosody(&server).peer();
    share_random_file(&alice, &bob, &server.upload_domain(), 10 * MIB, 16);
    assert_too_large(&alice, 10 * MIB + 1, 10 * MIB);

    // An image: its size goes into the metadata, and the peer reads EXIF.
    let dir = TempDir::new().expect("tempdir");
    let photo = dir.path().join("photo.jpg");
    jpeg_with_gps(&photo);
    let meta = alice.image_meta(&photo).expect("image meta");
    assert_eq!(meta["format"], "JPEG", "{meta}");
    assert_eq!(
        (meta["width"].clone(), meta["height"].clone()),
        (64.into(), 48.into())
    );
    assert_eq!(meta["exif"]["Make"], "TernCam", "{meta}");
    assert_eq!(meta["exif"]["Orientation"], 6, "{meta}");
    assert_eq!(
        meta["exif"]["DateTimeOriginal"], "2026:12:04 10:00:00",
        "{meta}"
    );
    assert_eq!(meta["gps"], true, "{meta}");
    let url = alice
        .upload_send(bob.bare_jid(), &photo, "image/jpeg", "photo-1", true)
        .expect("upload photo");
    let msg = received(&bob, &alice, "photo-1");
    assert_eq!(msg["file"]["media_type"], "image/jpeg", "{msg}");
    assert_eq!(msg["file"]["width"], 64, "{msg}");
    assert_eq!(msg["file"]["height"], 48, "{msg}");
    let copy = dir.path().join("copy.jpg");
    let got = bob.download(&url, &copy).expect("download photo");
    assert_eq!(got["content_type"], "image/jpeg", "{got}");
    assert_eq!(bob.image_meta(&copy).expect("meta")["gps"], true);
    let missing = bob.image_meta(&dir.path().join("nothing.jpg"));
    assert!(missing.is_err(), "{missing:?}");
    eprintln!("Prosody file sharing took {:?}", started.elapsed());
}

#[test]
fn ejabberd_peers_share_files() {
    let started = Instant::now();
    let server = Ejabberd::start_with(EjabberdOptions {
        upload_size_limit: Some(2 * MIB),
        ..EjabberdOptions::default()
    })
    .expect("start ejabberd");
    assert!(server.has_upload());
    let alice = Account::ejabberd(&server).peer();
    let bob = Account::ejabberd(&server).peer();
    share_random_file(&alice, &bob, &server.upload_domain(), 2 * MIB, 12);
    assert_too_large(&alice, 3 * MIB, 2 * MIB);
    eprintln!("ejabberd file sharing took {:?}", started.elapsed());
}

#[test]
fn prosody_upload_limit_and_external_port() {
    // The proxy holds its port before Prosody is told about it.
    let proxy = TcpProxy::start_without_target().expect("start proxy");
    let server = Prosody::start_with(ProsodyOptions {
        upload_size_limit: Some(64 * 1024),
        upload_external_port: Some(proxy.port()),
        ..ProsodyOptions::default()
    })
    .expect("start Prosody");
    assert_eq!(server.upload_url_port(), proxy.port());
    proxy.set_target(([127, 0, 0, 1], server.https_port()).into());
    let alice = Account::prosody(&server).peer();
    let bob = Account::prosody(&server).peer();
    let dir = TempDir::new().expect("tempdir");

    let (small, data) = random_file(dir.path(), "small.bin", 32 * 1024);
    let url = alice
        .upload_send(
            bob.bare_jid(),
            &small,
            "application/octet-stream",
            "s-1",
            true,
        )
        .expect("upload through the proxy");
    assert!(
        url.starts_with(&format!("https://localhost:{}/", proxy.port())),
        "{url}"
    );
    let msg = received(&bob, &alice, "s-1");
    assert_eq!(msg["file"]["size"], 32 * 1024, "{msg}");
    let got = bob
        .download(&url, &dir.path().join("out.bin"))
        .expect("download through the proxy");
    assert_eq!(got["sha256"], sha256_hex(&data));
    assert!(
        proxy.connection_count() >= 2,
        "PUT and GET went around the proxy"
    );

    // Over the limit: refused before anything is sent.
    let (big, _) = random_file(dir.path(), "big.bin", 100 * 1024);
    let failed = alice
        .try_upload_send(
            bob.bare_jid(),
            &big,
            "big-1",
            &UploadOptions::new("application/octet-stream"),
        )
        .expect("upload attempt");
    assert_eq!(failed["event"], "upload_failed", "{failed}");
    assert_eq!(failed["stage"], "slot", "{failed}");
    assert_eq!(failed["condition"], "not-acceptable", "{failed}");
    assert_eq!(failed["max_file_size"], 64 * 1024, "{failed}");
    assert!(alice
        .upload_send(
            bob.bare_jid(),
            &big,
            "application/octet-stream",
            "big-2",
            false
        )
        .is_err());

    // The proxy cut: the upload fails at the PUT.
    proxy.set_refusing(true);
    let failed = alice
        .try_upload_send(
            bob.bare_jid(),
            &small,
            "s-2",
            &UploadOptions::new("application/octet-stream"),
        )
        .expect("upload attempt");
    assert_eq!(failed["stage"], "put", "{failed}");
    let failed = bob
        .try_download(&url, &dir.path().join("out2.bin"))
        .expect("download attempt");
    assert_eq!(failed["event"], "download_failed", "{failed}");
}

#[test]
fn prosody_without_upload_federates_with_one_that_has_it() {
    let (a, c) = start_prosody_pair_with(
        ProsodyOptions::default(),
        ProsodyOptions {
            upload: false,
            ..ProsodyOptions::default()
        },
    )
    .expect("start the Prosody pair");
    assert!(a.has_upload() && !c.has_upload());
    let alice = Account::prosody(&a).peer();
    let carol = Account::prosody(&c).peer();
    assert_no_upload(&carol, c.domain());

    // A file from the domain with upload reaches the one without.
    let dir = TempDir::new().expect("tempdir");
    let (path, data) = random_file(dir.path(), "x.bin", 4096);
    let url = alice
        .upload_send(
            carol.bare_jid(),
            &path,
            "application/octet-stream",
            "f-1",
            true,
        )
        .expect("upload");
    let msg = received(&carol, &alice, "f-1");
    assert_eq!(msg["oob_url"], url.as_str());
    assert_eq!(msg["file"]["sha256"], sha256_b64(&data), "{msg}");
    let got = carol
        .download(&url, &dir.path().join("x.out"))
        .expect("download");
    assert_eq!(got["sha256"], sha256_hex(&data));
}

#[test]
fn ejabberd_without_upload() {
    let server = Ejabberd::start_with(EjabberdOptions {
        upload: false,
        ..EjabberdOptions::default()
    })
    .expect("start ejabberd");
    let peer = Account::ejabberd(&server).peer();
    assert_no_upload(&peer, server.domain());
}

#[test]
fn omemo_peer_sends_an_encrypted_file() {
    let server = Prosody::start().expect("start Prosody");
    let start = |server: &Prosody| {
        let account = Account::prosody(server);
        SlixmppPeer::start_omemo(PeerOptions::new(
            format!("{}@{}", account.user, account.domain),
            account.password,
            "127.0.0.1",
            account.c2s,
        ))
        .expect("start OMEMO peer")
    };
    let alice = start(&server);
    let bob = start(&server);
    alice.set_omemo_echo(false).expect("echo off");
    bob.set_omemo_echo(false).expect("echo off");
    let dir = TempDir::new().expect("tempdir");
    let (path, data) = random_file(dir.path(), "secret.bin", 100 * 1024);
    let opts = UploadOptions {
        aesgcm_iv_len: Some(12),
        ..UploadOptions::new("application/octet-stream")
    };
    let url = alice
        .upload_send_with(bob.bare_jid(), &path, "enc-1", &opts)
        .expect("encrypted upload");
    let msg = received(&bob, &alice, "enc-1");
    assert_eq!(msg["encrypted"], true, "{msg}");
    assert!(msg["oob_url"].is_null(), "{msg}");
    let decrypted = bob
        .wait_for(WAIT, |e| {
            e["event"] == "omemo_message" && e["id"] == "enc-1"
        })
        .expect("decrypted");
    assert_eq!(decrypted["body"], url.as_str());
    let got = bob
        .download(&url, &dir.path().join("out.bin"))
        .expect("download");
    assert_eq!(got["sha256"], sha256_hex(&data));
}
