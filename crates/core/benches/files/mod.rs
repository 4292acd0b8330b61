//! Photos and files against a Prosody on loopback (`http_file_share`,
//! its size limit raised to 300 MB):
//!
//! - `files-upload`: Tern sends a file of 200 MB (random bytes the bench
//!   writes first): until `send_files` returns (the copy into the data
//!   folder, hashed), until the file is uploaded, until the message is
//!   acknowledged by the server; then the same against ejabberd
//!   (`mod_http_upload`), whose uploads are not bounded like Prosody's;
//! - `files-download`: a second Tern account sends the user (a contact)
//!   a file of 200 MB; Tern downloads it on request; then a slixmpp peer
//!   sends an encrypted file of 50 MB (`aesgcm://`, XEP-0454, decrypted
//!   as it arrives), downloaded the same way;
//! - `files-photos`: ten photos of 4000 x 3000 (JPEG, generated) sent at
//!   once, made smaller, then again as originals: until `send_files`
//!   returns (all ten prepared and in the send queue), and until all are
//!   uploaded and acknowledged.
//!
//! Each case gives the time, the rate (MB: 10^6 bytes), the CPU of this
//! process (`getrusage`: the engine's threads; Prosody and the peer are
//! other processes) and its peak RSS: the peak (`VmHWM`) is reset before
//! the measured part (`/proc/self/clear_refs`), so "peak growth" is how
//! far above the RSS at the start the process went. A file streamed in
//! chunks leaves it at a few MB whatever the file's size.
//!
//! The files, Tern's data folder and Prosody's are under `$TMPDIR`; the
//! reference numbers were taken with it on a tmpfs, so that the disk of
//! the machine is not what is measured.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tern_core::{
    AccountState, Client, ClientConfig, ClientEvent, FileState, Keychain, NewAccount, PhotoQuality,
    ServerOverride,
};
use tern_testkit::{
    self_cpu, Ejabberd, EjabberdOptions, PeerOptions, Prosody, ProsodyOptions, SlixmppPeer,
    UploadOptions,
};

use crate::rss_kib;

/// The large file's size.
const BIG: u64 = 200_000_000;
/// The encrypted file's size: smaller, so that the peer (which encrypts
/// and uploads it whole, in Python, within its 60 s HTTP timeout) manages
/// it against Prosody's slow uploads.
const BIG_ENCRYPTED: u64 = 50_000_000;
/// Photos sent at once, and their size.
const PHOTOS: usize = 10;
const PHOTO_W: u32 = 4000;
const PHOTO_H: u32 = 3000;

/// What the bench follows of the engine's events.
#[derive(Default)]
struct Seen {
    connected: bool,
    /// By message id: when its file was first seen in each state.
    file_states: Vec<(i64, FileState, Instant)>,
    /// Message ids seen acknowledged by the server, and when.
    acked: Vec<(i64, Instant)>,
    /// Received messages with a file: (id, peer, encrypted).
    received: Vec<(i64, String, bool)>,
    /// `Transfer` events.
    transfers: u64,
    lagged: u64,
}

impl Seen {
    fn state_at(&self, id: i64, state: FileState) -> Option<Instant> {
        self.file_states
            .iter()
            .find(|(i, s, _)| *i == id && *s == state)
            .map(|(_, _, t)| *t)
    }

    fn acked_at(&self, id: i64) -> Option<Instant> {
        self.acked.iter().find(|(i, _)| *i == id).map(|(_, t)| *t)
    }
}

struct Tern {
    client: Client,
    account: String,
    seen: Arc<Mutex<Seen>>,
    _dir: tempfile::TempDir,
}

impl Tern {
    async fn sign_in(server: &Server, user: &str, password: &str) -> Tern {
        let dir = tempfile::tempdir().unwrap();
        let keychain = Arc::new(Keychain::linux_kernel_keyring("im.tern.Tern.bench").unwrap());
        let mut config = ClientConfig::new(dir.path().to_path_buf(), keychain);
        config.extra_roots = vec![tern_testkit::TestCa::global().ca_cert_der()];
        let client = Client::open(config).await.unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let mut rx = client.subscribe().1;
        let s = seen.clone();
        tokio::spawn(async move {
            loop {
                let ev = match rx.recv().await {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        s.lock().unwrap().lagged += n;
                        continue;
                    }
                    Err(_) => break,
                };
                let now = Instant::now();
                let mut s = s.lock().unwrap();
                match ev {
                    ClientEvent::AccountState {
                        state: AccountState::Connected { .. },
                        ..
                    } => s.connected = true,
                    ClientEvent::Message { message } => {
                        if let Some(f) = &message.file {
                            if s.state_at(message.id, f.state).is_none() {
                                s.file_states.push((message.id, f.state, now));
                            }
                            if !message.outgoing && !s.received.iter().any(|r| r.0 == message.id) {
                                s.received
                                    .push((message.id, message.peer.clone(), f.encrypted));
                            }
                        }
                        if message.state == "acked" && s.acked_at(message.id).is_none() {
                            s.acked.push((message.id, now));
                        }
                    }
                    ClientEvent::Transfer { .. } => s.transfers += 1,
                    _ => {}
                }
            }
        });
        let account = format!("{user}@{}", server.domain());
        client
            .add_account(NewAccount {
                server: ServerOverride {
                    host: Some("127.0.0.1".into()),
                    port: Some(server.c2s_port()),
                    direct_tls: false,
                },
                ..NewAccount::new(&account, password)
            })
            .await
            .unwrap();
        let tern = Tern {
            client,
            account,
            seen,
            _dir: dir,
        };
        tern.wait("signed in", Duration::from_secs(120), |s| {
            s.connected.then_some(())
        })
        .await;
        let up = tern.client.upload_service(&tern.account).await.unwrap();
        assert_eq!(up.available, Some(true), "{up:?}");
        tern
    }

    /// Waits until `done` gives something (checked every 2 ms).
    async fn wait<T>(&self, what: &str, within: Duration, done: impl Fn(&Seen) -> Option<T>) -> T
    where
        T: Send,
    {
        let deadline = Instant::now() + within;
        loop {
            if let Some(v) = done(&self.seen.lock().unwrap()) {
                return v;
            }
            assert!(Instant::now() < deadline, "not within {within:?}: {what}");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }
}

/// Prosody or ejabberd, with uploads of up to 300 MB.
enum Server {
    Prosody(Prosody),
    Ejabberd(Ejabberd),
}

impl Server {
    fn prosody() -> Server {
        Server::Prosody(
            Prosody::start_with(ProsodyOptions {
                upload_size_limit: Some(300_000_000),
                ..Default::default()
            })
            .unwrap(),
        )
    }

    fn ejabberd() -> Server {
        Server::Ejabberd(
            tokio::task::block_in_place(|| {
                Ejabberd::start_with(EjabberdOptions {
                    upload_size_limit: Some(300_000_000),
                    ..Default::default()
                })
            })
            .unwrap(),
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Server::Prosody(_) => "Prosody",
            Server::Ejabberd(_) => "ejabberd",
        }
    }

    fn domain(&self) -> &str {
        match self {
            Server::Prosody(s) => s.domain(),
            Server::Ejabberd(s) => s.domain(),
        }
    }

    fn c2s_port(&self) -> u16 {
        match self {
            Server::Prosody(s) => s.c2s_port(),
            Server::Ejabberd(s) => s.c2s_port(),
        }
    }

    fn create_user(&self) -> (String, String) {
        match self {
            Server::Prosody(s) => s.create_user().unwrap(),
            Server::Ejabberd(s) => tokio::task::block_in_place(|| s.create_user()).unwrap(),
        }
    }

    /// The server's CPU time so far.
    fn cpu(&self) -> Duration {
        let pid = match self {
            Server::Prosody(s) => s.pid(),
            Server::Ejabberd(s) => s.pid(),
        };
        tern_testkit::process_cpu(pid.unwrap()).unwrap()
    }
}

/// `VmHWM` (peak RSS) of this process, KiB.
fn hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The RSS now and a fresh start for `VmHWM`; `false` when the kernel
/// does not allow the reset (the peak is then the process's so far).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Memory and CPU from a starting point.
struct Meter {
    rss0: u64,
    cpu0: Duration,
    t0: Instant,
    reset: bool,
}

impl Meter {
    fn start() -> Meter {
        let reset = reset_peak();
        Meter {
            rss0: rss_kib(),
            cpu0: self_cpu(),
            t0: Instant::now(),
            reset,
        }
    }

    fn cpu(&self) -> Duration {
        self_cpu() - self.cpu0
    }

    /// "RSS before X MiB, peak Y MiB (+Z MiB)".
    fn peak(&self) -> String {
        let hwm = hwm_kib();
        format!(
            "before {:.1} MiB, peak {:.1} MiB ({:+.1} MiB){}",
            self.rss0 as f64 / 1024.0,
            hwm as f64 / 1024.0,
            (hwm as f64 - self.rss0 as f64) / 1024.0,
            if self.reset {
                ""
            } else {
                " (peak not reset: the process's so far)"
            }
        )
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn rate(bytes: u64, d: Duration) -> String {
    format!("{:.0} MB/s", bytes as f64 / 1e6 / d.as_secs_f64())
}

/// Writes `size` pseudo-random bytes to `path`, 1 MiB at a time, and
/// returns their SHA-256.
fn write_random(path: &Path, size: u64, seed: u64) -> [u8; 32] {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut hash = Sha256::new();
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        for word in buf[..n].chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes()[..word.len()]);
        }
        hash.update(&buf[..n]);
        out.write_all(&buf[..n]).unwrap();
        left -= n as u64;
    }
    out.flush().unwrap();
    hash.finalize().into()
}

fn sha256_file(path: &Path) -> [u8; 32] {
    let mut f = std::fs::File::open(path).unwrap();
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    hash.finalize().into()
}

/// Tern uploads 200 MB to Prosody, then to ejabberd.
pub async fn upload() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    write_random(&path, BIG, 1);
    for make in [Server::prosody, Server::ejabberd] {
        let server = make();
        upload_to(&server, &path).await;
    }
}

async fn upload_to(server: &Server, path: &Path) {
    let (user, password) = server.create_user();
    let (to_user, _) = server.create_user();
    let to = format!("{to_user}@{}", server.domain());
    let tern = Tern::sign_in(server, &user, &password).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let server_cpu0 = server.cpu();
    let m = Meter::start();
    let sent = tern
        .client
        .send_files(&tern.account, &to, &[path.to_path_buf()], None, None)
        .await
        .unwrap();
    let returned = m.t0.elapsed();
    let id = sent[0].id;
    let uploaded = tern
        .wait("uploaded", Duration::from_secs(600), |s| {
            s.state_at(id, FileState::Uploaded)
        })
        .await;
    let acked = tern
        .wait("acked", Duration::from_secs(60), |s| s.acked_at(id))
        .await;
    let cpu = m.cpu();
    let server_cpu = server.cpu() - server_cpu0;
    let (transfers, lagged) = tern.with(|s| (s.transfers, s.lagged));
    let up = uploaded - m.t0 - returned;
    println!(
        "| upload of {} MB to {}: `send_files` returns (copied into the data folder, SHA-256) | {} ({}) |",
        BIG / 1_000_000,
        server.name(),
        secs(returned),
        rate(BIG, returned)
    );
    println!(
        "| … uploaded (`Uploaded`), from the return | {} ({}) |",
        secs(up),
        rate(BIG, up)
    );
    println!(
        "| … message acknowledged by the server, from `send_files` | {} ({} overall) |",
        secs(acked - m.t0),
        rate(BIG, acked - m.t0)
    );
    println!(
        "| … CPU of this process | {} ({}: {}); {transfers} `Transfer` events, lagged {lagged} |",
        secs(cpu),
        server.name(),
        secs(server_cpu)
    );
    println!("| … RSS | {} |", m.peak());
    tern.client.shutdown().await;
}

/// A second Tern account sends 200 MB, then a slixmpp peer 50 MB
/// encrypted; Tern downloads each on request.
pub async fn download() {
    let server = Server::prosody();
    let (user, password) = server.create_user();
    let (sender_user, sender_password) = server.create_user();
    let (peer_user, peer_password) = server.create_user();
    let sender_jid = format!("{sender_user}@{}", server.domain());
    let peer_jid = format!("{peer_user}@{}", server.domain());
    let tern = Tern::sign_in(&server, &user, &password).await;
    for jid in [&sender_jid, &peer_jid] {
        tern.client
            .add_contact(&tern.account, jid, None, &[])
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();

    // 200 MB from the other account (the peer's upload, in Python, gives
    // up after 60 s, which Prosody's uploads need here).
    let path = dir.path().join("big.bin");
    let sha = write_random(&path, BIG, 2);
    let sender = Tern::sign_in(&server, &sender_user, &sender_password).await;
    let t = Instant::now();
    let sent = sender
        .client
        .send_files(
            &sender.account,
            &tern.account,
            std::slice::from_ref(&path),
            None,
            None,
        )
        .await
        .unwrap();
    let sent_id = sent[0].id;
    sender
        .wait("sent", Duration::from_secs(900), |s| s.acked_at(sent_id))
        .await;
    let sender_time = t.elapsed();
    sender.client.shutdown().await;
    drop(sender);
    std::fs::remove_file(&path).unwrap();
    let (msg, _) = tern
        .wait("the file's message", Duration::from_secs(60), |s| {
            s.received
                .iter()
                .find(|r| r.1 == sender_jid)
                .map(|r| (r.0, r.2))
        })
        .await;
    fetch(
        &server,
        &tern,
        msg,
        BIG,
        sha,
        "download of 200 MB (plain https)",
    )
    .await;
    println!(
        "| … for comparison: the same file's upload by the other account | {} ({}) |",
        secs(sender_time),
        rate(BIG, sender_time)
    );

    // Encrypted, from the peer.
    let peer = SlixmppPeer::start(PeerOptions::new(
        peer_jid.clone(),
        peer_password,
        "127.0.0.1",
        server.c2s_port(),
    ))
    .unwrap();
    let path = dir.path().join("secret.bin");
    let sha = write_random(&path, BIG_ENCRYPTED, 3);
    let opts = UploadOptions {
        aesgcm_iv_len: Some(12),
        ..UploadOptions::new("application/octet-stream")
    };
    let to = tern.account.clone();
    let t = Instant::now();
    tokio::task::block_in_place(|| peer.upload_send_with(&to, &path, "secret", &opts)).unwrap();
    let peer_time = t.elapsed();
    std::fs::remove_file(&path).unwrap();
    let (msg, encrypted) = tern
        .wait(
            "the encrypted file's message",
            Duration::from_secs(60),
            |s| {
                s.received
                    .iter()
                    .find(|r| r.1 == peer_jid)
                    .map(|r| (r.0, r.2))
            },
        )
        .await;
    assert!(encrypted);
    let what = format!(
        "download of {} MB encrypted (`aesgcm://`, IV 12 bytes), decrypted",
        BIG_ENCRYPTED / 1_000_000
    );
    fetch(&server, &tern, msg, BIG_ENCRYPTED, sha, &what).await;
    println!(
        "| … for comparison: the peer's upload (Python, encrypted whole in memory) | {} ({}) |",
        secs(peer_time),
        rate(BIG_ENCRYPTED, peer_time)
    );
    tern.client.shutdown().await;
}

/// Downloads message `msg`'s file and prints how it went.
async fn fetch(server: &Server, tern: &Tern, msg: i64, size: u64, sha: [u8; 32], what: &str) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    let server_cpu0 = server.cpu();
    let m = Meter::start();
    tern.client.download_file(&tern.account, msg).await.unwrap();
    let local = tern
        .wait("downloaded", Duration::from_secs(600), |s| {
            if s.state_at(msg, FileState::Failed).is_some() {
                panic!("the download failed");
            }
            s.state_at(msg, FileState::Local)
        })
        .await;
    let took = local - m.t0;
    let cpu = m.cpu();
    let peak = m.peak();
    let server_cpu = server.cpu() - server_cpu0;
    let file = tern.client.file_path(&tern.account, msg).await.unwrap();
    assert_eq!(sha256_file(&file), sha, "the downloaded file differs");
    println!(
        "| {what}: `download_file` to `Local` (checked) | {} ({}) |",
        secs(took),
        rate(size, took)
    );
    println!(
        "| … CPU of this process | {} ({}: {}) |",
        secs(cpu),
        server.name(),
        secs(server_cpu)
    );
    println!("| … RSS | {peak} |");
    let _ = std::fs::remove_file(&file);
}

/// A photo with some structure: gradients, waves and a grain, different
/// for each `seed`, as a JPEG of quality 92.
fn photo(seed: u32) -> Vec<u8> {
    let s = seed as f32;
    let mut noise = 0x9e37_79b9u32.wrapping_mul(seed + 1);
    let img = image::RgbImage::from_fn(PHOTO_W, PHOTO_H, |x, y| {
        noise ^= noise << 13;
        noise ^= noise >> 17;
        noise ^= noise << 5;
        let grain = (noise >> 28) as f32 - 8.0;
        let (fx, fy) = (x as f32 / PHOTO_W as f32, y as f32 / PHOTO_H as f32);
        let sky = 1.0 - fy;
        let hills = ((fx * (6.0 + s) + s).sin() * 0.08 + 0.55 - fy).signum();
        let wave = ((fx * 40.0 + fy * (13.0 + s)).sin() * (fy * 25.0).cos()) * 30.0;
        let r = 90.0 + 100.0 * sky + wave * hills.max(0.0) + grain;
        let g = 120.0 + 60.0 * sky - 40.0 * hills + wave * 0.5 + grain;
        let b = 200.0 * sky + 40.0 + grain - wave * 0.3;
        image::Rgb([
            r.clamp(0.0, 255.0) as u8,
            g.clamp(0.0, 255.0) as u8,
            b.clamp(0.0, 255.0) as u8,
        ])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 92)
        .encode_image(&img)
        .unwrap();
    jpeg
}

/// Ten 12-megapixel photos sent at once, smaller, then original.
pub async fn photos() {
    let server = Server::prosody();
    let (user, password) = server.create_user();
    let (to_user, _) = server.create_user();
    let to = format!("{to_user}@{}", server.domain());
    let tern = Tern::sign_in(&server, &user, &password).await;
    let dir = tempfile::tempdir().unwrap();
    let mut paths: Vec<PathBuf> = Vec::new();
    let mut in_bytes = 0;
    for i in 0..PHOTOS {
        let bytes = photo(i as u32);
        in_bytes += bytes.len() as u64;
        let p = dir.path().join(format!("IMG_{i:04}.jpg"));
        std::fs::write(&p, bytes).unwrap();
        paths.push(p);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for quality in [PhotoQuality::Smaller, PhotoQuality::Original] {
        let m = Meter::start();
        let sent = tern
            .client
            .send_files(&tern.account, &to, &paths, None, Some(quality))
            .await
            .unwrap();
        let returned = m.t0.elapsed();
        let cpu_prepare = m.cpu();
        let peak = m.peak();
        let ids: Vec<i64> = sent.iter().map(|m| m.id).collect();
        assert_eq!(ids.len(), PHOTOS);
        let out_bytes: u64 = sent
            .iter()
            .map(|m| m.file.as_ref().and_then(|f| f.size).unwrap_or(0))
            .sum();
        let (w, h) = sent[0]
            .file
            .as_ref()
            .map(|f| (f.width.unwrap_or(0), f.height.unwrap_or(0)))
            .unwrap();
        let all_acked = tern
            .wait("all sent", Duration::from_secs(600), |s| {
                ids.iter()
                    .map(|id| s.acked_at(*id))
                    .collect::<Option<Vec<_>>>()
                    .and_then(|v| v.into_iter().max())
            })
            .await;
        println!(
            "| {PHOTOS} photos of {PHOTO_W} x {PHOTO_H} ({:.1} MB of JPEG), {quality:?}: `send_files` returns (prepared, queued) | {} ({:.0} ms a photo) |",
            in_bytes as f64 / 1e6,
            secs(returned),
            returned.as_secs_f64() * 1e3 / PHOTOS as f64
        );
        println!(
            "| … sent as {w} x {h}, {:.1} MB in all | all uploaded and acknowledged {} after the call |",
            out_bytes as f64 / 1e6,
            secs(all_acked - m.t0)
        );
        println!(
            "| … CPU of this process until `send_files` returns | {} |",
            secs(cpu_prepare)
        );
        println!("| … RSS until `send_files` returns | {peak} |");
    }
    tern.client.shutdown().await;
}
