//! Photos and files (XEP-0363 upload, XEP-0066 and XEP-0447 links) against
//! Prosody (`http_file_share`) and ejabberd (`mod_http_upload`), with a
//! slixmpp peer that uploads, downloads and reads image metadata on its
//! own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use sha2::{Digest, Sha256};
use tern_core::{ClientEvent, FileState, MessageView};
use tern_testkit::{EjabberdOptions, ProsodyOptions, TcpProxy, UploadOptions};

use crate::support::*;

const T: Duration = Duration::from_secs(30);

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    // A simple generator: reproducible, incompressible enough.
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A JPEG of `w` x `h` stored sideways (EXIF orientation 6: shown turned
/// 90° clockwise) with GPS coordinates in its EXIF.
pub(crate) fn sideways_photo_with_gps(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x + y) % 239) as u8])
    });
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 85)
        .encode_image(&img)
        .unwrap();
    // TIFF, little endian: IFD0 (orientation 6, GPS IFD pointer), the GPS
    // IFD (latitude ref N, latitude 48° 51' 30").
    let mut tiff: Vec<u8> = b"II\x2a\x00\x08\x00\x00\x00".to_vec();
    let entry = |tag: u16, kind: u16, count: u32, value: u32| {
        let mut e = Vec::new();
        e.extend(tag.to_le_bytes());
        e.extend(kind.to_le_bytes());
        e.extend(count.to_le_bytes());
        e.extend(value.to_le_bytes());
        e
    };
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0112, 3, 1, 6));
    tiff.extend(entry(0x8825, 4, 1, 38));
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 38);
    tiff.extend(2u16.to_le_bytes());
    tiff.extend(entry(0x0001, 2, 2, u32::from_le_bytes(*b"N\0\0\0")));
    tiff.extend(entry(0x0002, 5, 3, 68));
    tiff.extend(0u32.to_le_bytes());
    assert_eq!(tiff.len(), 68);
    for (n, d) in [(48u32, 1u32), (51, 1), (30, 1)] {
        tiff.extend(n.to_le_bytes());
        tiff.extend(d.to_le_bytes());
    }
    let mut app1 = vec![0xff, 0xe1];
    app1.extend(((2 + 6 + tiff.len()) as u16).to_be_bytes());
    app1.extend(b"Exif\0\0");
    app1.extend(tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend(app1);
    out.extend(&jpeg[2..]);
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Waits until Tern shows message `id`'s file in `state`.
async fn file_state(t: &mut TestClient, id: i64, state: FileState) -> MessageView {
    wait_event(
        &mut t.events,
        T,
        "file state",
        any_message(|message| {
            message.id == id && message.file.as_ref().is_some_and(|f| f.state == state)
        }),
    )
    .await
}

/// The peer's next message event with a file named `name`.
async fn peer_file(peer: &Peer, name: &str) -> Value {
    let name = name.to_string();
    peer.event(move |e| e["event"] == "message" && e["file"]["name"] == name.as_str())
        .await
}

async fn peer_download(peer: &Peer, url: &str, dir: &Path, name: &str) -> (Value, Vec<u8>) {
    let path = dir.join(format!("peer-{name}"));
    let url = url.to_string();
    let p = path.clone();
    let ev = peer.run(move |s| s.download(&url, &p).unwrap()).await;
    (ev, std::fs::read(&path).unwrap())
}

/// Tern sends a photo (sideways, with GPS), a 1 MB file and, at once, 20
/// small files with a caption; the slixmpp peer gets each with its link,
/// metadata and (for the photo) a thumbnail, downloads each byte-equal,
/// and finds the photo upright, smaller and without GPS.
async fn sends_photos_and_files(server: Server) {
    let (t, me, _) = tern(&server).await;
    let peer = peer(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let up = t.client.upload_service(&me).await.unwrap();
    assert_eq!(up.available, Some(true), "{up:?}");

    let photo = write(
        dir.path(),
        "holiday.jpg",
        &sideways_photo_with_gps(2600, 1200),
    );
    let blob = random_bytes(1_000_000, 7);
    let file = write(dir.path(), "notes.bin", &blob);
    let sent = t
        .client
        .send_files(
            &me,
            &peer.bare(),
            &[photo, file],
            Some("from the trip"),
            None,
        )
        .await
        .unwrap();
    assert_eq!(sent.len(), 3, "two files and the caption");
    assert_eq!(sent[2].body, "from the trip");
    assert!(sent[0].file.as_ref().unwrap().image);

    // The photo: upright (1200 x 2600 turned), long side 1920, no GPS.
    let ev = peer_file(&peer, "holiday.jpg").await;
    let url = ev["oob_url"].as_str().unwrap().to_string();
    assert_eq!(ev["body"], url.as_str(), "the body is the link (XEP-0066)");
    assert!(url.starts_with("https://"));
    assert_eq!(ev["file"]["media_type"], "image/jpeg");
    assert_eq!(ev["file"]["width"], 886);
    assert_eq!(ev["file"]["height"], 1920);
    let thumb = ev["file"]["thumbnail"]["uri"].as_str().unwrap_or_default();
    assert!(thumb.starts_with("data:image/"), "inline thumbnail: {ev}");
    let (got, bytes) = peer_download(&peer, &url, dir.path(), "holiday.jpg").await;
    assert_eq!(got["size"], bytes.len());
    assert_eq!(ev["file"]["size"], bytes.len());
    let b64 = base64_sha(&bytes);
    assert_eq!(ev["file"]["sha256"], b64.as_str(), "the hash matches");
    let path = dir.path().join("peer-holiday.jpg");
    let meta = peer.run(move |s| s.image_meta(&path).unwrap()).await;
    assert_eq!(meta["gps"], false, "GPS removed: {meta}");
    assert_eq!(
        (meta["width"].as_u64(), meta["height"].as_u64()),
        (Some(886), Some(1920))
    );
    let orientation = &meta["exif"]["Orientation"];
    assert!(orientation.is_null() || orientation == 1, "{meta}");

    // The file: byte-equal.
    let ev = peer_file(&peer, "notes.bin").await;
    let (_, bytes) = peer_download(
        &peer,
        ev["oob_url"].as_str().unwrap(),
        dir.path(),
        "notes.bin",
    )
    .await;
    assert_eq!(sha256_hex(&bytes), sha256_hex(&blob));
    assert_eq!(ev["file"]["size"], blob.len());
    peer.event(|e| e["event"] == "message" && e["body"] == "from the trip")
        .await;

    // Twenty at once, each arriving once and byte-equal.
    let many: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| {
            (
                format!("part-{i:02}.dat"),
                random_bytes(20_000 + i * 100, i as u64),
            )
        })
        .collect();
    let paths: Vec<PathBuf> = many.iter().map(|(n, b)| write(dir.path(), n, b)).collect();
    let sent = t
        .client
        .send_files(&me, &peer.bare(), &paths, None, None)
        .await
        .unwrap();
    assert_eq!(sent.len(), 20);
    for (name, content) in &many {
        let ev = peer_file(&peer, name).await;
        let (_, bytes) =
            peer_download(&peer, ev["oob_url"].as_str().unwrap(), dir.path(), name).await;
        assert_eq!(bytes, *content, "{name}");
    }
    // Tern: each message reached the server and kept its file.
    let ids: Vec<i64> = sent.iter().map(|m| m.id).collect();
    let deadline = std::time::Instant::now() + T;
    loop {
        let listed = t.client.files(&me, None, 100).await.unwrap();
        let done = listed
            .iter()
            .filter(|m| ids.contains(&m.id))
            .filter(|m| m.state != "queued")
            .filter(|m| {
                m.file
                    .as_ref()
                    .is_some_and(|f| f.state == FileState::Uploaded && f.local)
            })
            .count();
        if done == ids.len() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{done} of 20 sent");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn base64_sha(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sent_to_slixmpp_prosody() {
    sends_photos_and_files(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sent_to_slixmpp_ejabberd() {
    sends_photos_and_files(Server::ejabberd().await).await;
}

/// The peer (a contact) sends a photo with metadata and a PDF: the photo
/// is downloaded at once and shown as an image; the PDF waits for a click
/// and then arrives byte-equal. From a stranger nothing is fetched.
async fn receives_files(server: Server) {
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let photo_bytes = sideways_photo_with_gps(800, 600);
    let photo = write(dir.path(), "cat.jpg", &photo_bytes);
    let me2 = me.clone();
    friend
        .run(move |s| {
            s.upload_send(&me2, &photo, "image/jpeg", "photo-1", true)
                .unwrap()
        })
        .await;
    let m = wait_event(
        &mut t.events,
        T,
        "the photo",
        any_message(|message| {
            message.peer == pj
                && message
                    .file
                    .as_ref()
                    .is_some_and(|f| f.state == FileState::Local)
        }),
    )
    .await;
    let f = m.file.clone().unwrap();
    assert_eq!(f.name, "cat.jpg");
    assert!(f.image && f.preview && f.local, "{f:?}");
    assert_eq!((f.width, f.height), (Some(600), Some(800)), "upright");
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), photo_bytes);
    assert!(t
        .client
        .media_file(m.id, tern_core::MediaPart::Preview)
        .await
        .is_some());

    let pdf_bytes = b"%PDF-1.4\n"
        .iter()
        .copied()
        .chain(random_bytes(300_000, 3))
        .collect::<Vec<u8>>();
    let pdf = write(dir.path(), "report.pdf", &pdf_bytes);
    let me2 = me.clone();
    friend
        .run(move |s| {
            s.upload_send(&me2, &pdf, "application/pdf", "pdf-1", true)
                .unwrap()
        })
        .await;
    let m = wait_event(
        &mut t.events,
        T,
        "the pdf",
        any_message(|message| {
            message.peer == pj
                && message
                    .file
                    .as_ref()
                    .is_some_and(|f| f.name == "report.pdf")
        }),
    )
    .await;
    let f = m.file.clone().unwrap();
    assert_eq!(f.state, FileState::Remote, "not fetched without a click");
    assert_eq!(f.size, Some(pdf_bytes.len() as u64));
    assert!(t.client.file_path(&me, m.id).await.is_err());
    t.client.download_file(&me, m.id).await.unwrap();
    file_state(&mut t, m.id, FileState::Local).await;
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(&local).unwrap(), pdf_bytes);
    assert!(t
        .client
        .media_file(m.id, tern_core::MediaPart::Full)
        .await
        .is_none());
    let pdf_path = local;
    let stranger = peer(&server).await;
    let sj = stranger.bare();
    let photo = write(dir.path(), "spam.jpg", &photo_bytes);
    let me2 = me.clone();
    stranger
        .run(move |s| {
            s.upload_send(&me2, &photo, "image/jpeg", "spam-1", true)
                .unwrap()
        })
        .await;
    let m = wait_event(
        &mut t.events,
        T,
        "the stranger's photo",
        any_message(|message| message.peer == sj && message.file.is_some()),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let row = t.client.files(&me, None, 10).await.unwrap();
    let again = row.iter().find(|x| x.id == m.id).unwrap();
    assert_eq!(again.file.as_ref().unwrap().state, FileState::Remote);
    // The files view lists all three, newest first.
    assert_eq!(row.len(), 3);
    assert_eq!(row[0].id, m.id);
    // Deleting the conversation deletes its files; removing the account,
    // all of the account's.
    let photo_path = t.client.file_path(&me, row[2].id).await.unwrap();
    t.client.delete_conversation(&me, &pj).await.unwrap();
    assert!(!pdf_path.exists() && !photo_path.exists());
    assert_eq!(t.client.files(&me, None, 10).await.unwrap().len(), 1);
    t.client.download_file(&me, m.id).await.unwrap();
    file_state(&mut t, m.id, FileState::Local).await;
    let spam_path = t.client.file_path(&me, m.id).await.unwrap();
    t.client.remove_account(&me).await.unwrap();
    assert!(!spam_path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_received_from_slixmpp_prosody() {
    receives_files(Server::prosody()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_received_from_slixmpp_ejabberd() {
    receives_files(Server::ejabberd().await).await;
}

/// A server without upload: the attach action is told so; nothing is
/// queued. Files can still be received (from a peer on a server that has
/// upload, over federation).
async fn no_upload(server: Server) {
    let (t, me, _) = tern(&server).await;
    let up = t.client.upload_service(&me).await.unwrap();
    assert_eq!(up.available, Some(false), "{up:?}");
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "a.txt", b"hello");
    let e = t
        .client
        .send_files(&me, "someone@example.org", &[f], None, None)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&format!(
            "Your server {} does not offer file sharing",
            server.domain()
        )),
        "{text}"
    );
    assert!(matches!(e, tern_core::Error::File { ref code, .. } if code == "no_service"));
    assert!(t.client.files(&me, None, 10).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_no_upload_prosody() {
    no_upload(Server::prosody_with(ProsodyOptions {
        upload: false,
        ..Default::default()
    }))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_no_upload_ejabberd() {
    no_upload(
        Server::ejabberd_with(EjabberdOptions {
            upload: false,
            ..Default::default()
        })
        .await,
    )
    .await;
}

/// A slixmpp user on ejabberd sends a photo to a Tern user on a Prosody
/// without upload: Tern downloads it from the peer's server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_across_federation_without_own_upload() {
    let fed = blocking(|| {
        tern_testkit::Federation::start_with(
            ProsodyOptions {
                upload: false,
                ..Default::default()
            },
            EjabberdOptions::default(),
        )
        .unwrap()
    })
    .await;
    let (u, p) = fed.prosody.create_user().unwrap();
    let me = format!("{u}@{}", fed.prosody.domain());
    let mut t = client().await;
    t.client
        .add_account(account(&me, &p, loopback(fed.prosody.c2s_port(), false)))
        .await
        .unwrap();
    wait_connected(&mut t, &me).await;
    let (pu, pp) = fed.ejabberd.create_user().unwrap();
    let pj = format!("{pu}@{}", fed.ejabberd.domain());
    let opts = tern_testkit::PeerOptions::new(&pj, &pp, "127.0.0.1", fed.ejabberd.c2s_port());
    let peer = Peer(std::sync::Arc::new(
        blocking(move || tern_testkit::SlixmppPeer::start(opts).unwrap()).await,
    ));
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    assert_eq!(
        t.client.upload_service(&me).await.unwrap().available,
        Some(false)
    );
    let dir = tempfile::tempdir().unwrap();
    let bytes = sideways_photo_with_gps(640, 480);
    let photo = write(dir.path(), "far.jpg", &bytes);
    let me2 = me.clone();
    peer.run(move |s| {
        s.upload_send(&me2, &photo, "image/jpeg", "far-1", true)
            .unwrap()
    })
    .await;
    let m = wait_event(
        &mut t.events,
        Duration::from_secs(60),
        "the photo",
        any_message(|message| {
            message.peer == pj
                && message
                    .file
                    .as_ref()
                    .is_some_and(|f| f.state == FileState::Local)
        }),
    )
    .await;
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(local).unwrap(), bytes);
}

/// Too large for the server: refused before a byte is sent, with the
/// limit in words; nothing queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_too_large_is_refused_before_sending() {
    let server = Server::prosody_with(ProsodyOptions {
        upload_size_limit: Some(100_000),
        ..Default::default()
    });
    let (t, me, _) = tern(&server).await;
    let up = t.client.upload_service(&me).await.unwrap();
    assert_eq!(up.max_bytes, Some(100_000));
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "big.bin", &random_bytes(250_000, 1));
    let e = t
        .client
        .send_files(&me, "someone@localhost", &[f], None, None)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "This file is 250 KB; your server takes files up to 100 KB."
    );
    assert!(t.client.files(&me, None, 10).await.unwrap().is_empty());
}

/// Sends a 24 MB file of `seed`'s bytes named `name`; returns them once
/// more than 1 MB of it is uploaded.
async fn upload_under_way(
    t: &mut TestClient,
    me: &str,
    to: &str,
    dir: &Path,
    name: &str,
    seed: u64,
) -> Vec<u8> {
    let bytes = random_bytes(24_000_000, seed);
    let f = write(dir, name, &bytes);
    let sent = t.client.send_files(me, to, &[f], None, None).await.unwrap();
    let id = sent[0].id;
    wait_event(&mut t.events, T, "upload under way", |ev| match ev {
        ClientEvent::Transfer {
            message_id, done, ..
        } if *message_id == id && *done > 1_000_000 => Some(()),
        _ => None,
    })
    .await;
    bytes
}

/// The upload's connection is cut half-way: Tern tries again on its own
/// and the file arrives once. Then Tern quits in the middle of an upload:
/// after the restart the file arrives, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_survive_a_cut_connection_and_a_restart() {
    // The proxy holds its port before Prosody is told about it.
    let proxy = TcpProxy::start_without_target().unwrap();
    let server = Server::prosody_with(ProsodyOptions {
        upload_external_port: Some(proxy.port()),
        upload_size_limit: Some(64 * 1024 * 1024),
        ..Default::default()
    });
    let https = match &server {
        Server::Prosody(p) => p.https_port(),
        Server::Ejabberd(_) => unreachable!(),
    };
    proxy.set_target(([127, 0, 0, 1], https).into());
    let (mut t, me, _) = tern(&server).await;
    let peer = peer(&server).await;
    let dir = tempfile::tempdir().unwrap();

    let first = upload_under_way(&mut t, &me, &peer.bare(), dir.path(), "first.bin", 11).await;
    proxy.cut_all();
    let ev = peer_file(&peer, "first.bin").await;
    let (_, bytes) = peer_download(
        &peer,
        ev["oob_url"].as_str().unwrap(),
        dir.path(),
        "first.bin",
    )
    .await;
    assert_eq!(sha256_hex(&bytes), sha256_hex(&first));

    let second = upload_under_way(&mut t, &me, &peer.bare(), dir.path(), "second.bin", 12).await;
    let t = reopen(t).await;
    let ev = peer_file(&peer, "second.bin").await;
    let (_, bytes) = peer_download(
        &peer,
        ev["oob_url"].as_str().unwrap(),
        dir.path(),
        "second.bin",
    )
    .await;
    assert_eq!(sha256_hex(&bytes), sha256_hex(&second));
    // Exactly once each: no second message with either file.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let dupes = peer
        .run(|s| {
            s.wait_for(Duration::from_millis(200), |e| {
                e["event"] == "message"
                    && (e["file"]["name"] == "second.bin" || e["file"]["name"] == "first.bin")
            })
            .is_ok()
        })
        .await;
    assert!(!dupes, "a file was announced twice");
    drop(t);
}

/// Files sent encrypted (XEP-0454, both IV sizes) are decrypted after the
/// download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_encrypted_links_are_decrypted() {
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let peer = peer_as(&server, &pj, &pp).await;
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    for iv in [12u8, 16] {
        let bytes = random_bytes(200_000 + usize::from(iv), u64::from(iv));
        let name = format!("secret-{iv}.bin");
        let path = write(dir.path(), &name, &bytes);
        let me2 = me.clone();
        let id = format!("enc-{iv}");
        peer.run(move |s| {
            let opts = UploadOptions {
                aesgcm_iv_len: Some(iv),
                ..UploadOptions::new("application/octet-stream")
            };
            s.upload_send_with(&me2, &path, &id, &opts).unwrap()
        })
        .await;
        let m = wait_event(
            &mut t.events,
            T,
            "the encrypted file",
            any_message(|message| {
                message.peer == pj && message.file.as_ref().is_some_and(|f| f.encrypted)
            }),
        )
        .await;
        t.client.download_file(&me, m.id).await.unwrap();
        file_state(&mut t, m.id, FileState::Local).await;
        let local = t.client.file_path(&me, m.id).await.unwrap();
        assert_eq!(
            sha256_hex(&std::fs::read(local).unwrap()),
            sha256_hex(&bytes),
            "iv {iv}"
        );
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG that claims 30,000 x 30,000 pixels (what a decompression bomb
/// declares), with no pixel data.
fn huge_png_header() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut c = kind.to_vec();
        c.extend(data);
        out.extend(&c);
        out.extend(crc32(&c).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(30_000u32.to_be_bytes());
    ihdr.extend(30_000u32.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c]);
    chunk(b"IEND", &[]);
    out
}

/// A JPEG header of 30,000 x 30,000 pixels and nothing else.
fn huge_jpeg_header() -> Vec<u8> {
    let mut out = vec![0xff, 0xd8, 0xff, 0xc0, 0x00, 0x11, 8];
    out.extend(30_000u16.to_be_bytes());
    out.extend(30_000u16.to_be_bytes());
    out.extend([3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 0xff, 0xd9]);
    out
}

/// Hostile files behind links a contact sends: a header of a huge image,
/// a truncated photo, HTML named like a photo, a server that lies about
/// the length, and a file far larger than its metadata says. Each ends as
/// a file card or a failure with a reason; nothing is shown as an image
/// that is not one; Tern keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_hostile_links_end_as_cards_or_failures() {
    use tern_testkit::web::{Reply, WebServer};
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let web = blocking(|| WebServer::start().unwrap()).await;
    let photo = sideways_photo_with_gps(400, 300);
    web.route("/bomb.png", Reply::file(huge_png_header(), "image/png"));
    web.route("/huge.jpg", Reply::file(huge_jpeg_header(), "image/jpeg"));
    web.route(
        "/cut.jpg",
        Reply::file(photo[..photo.len() / 2].to_vec(), "image/jpeg"),
    );
    web.route(
        "/page.jpg",
        Reply::file(
            b"<html><script>alert(1)</script></html>".to_vec(),
            "image/jpeg",
        ),
    );
    web.route(
        "/liar.jpg",
        Reply::LyingLength {
            declared: 90_000,
            body: photo[..10_000].to_vec(),
        },
    );
    web.route(
        "/big.jpg",
        Reply::file(random_bytes(8_000_000, 5), "image/jpeg"),
    );
    let send = |name: &str, extra: &str| {
        let url = web.localhost_url(&format!("/{name}"));
        format!(
            "<message to='{me}' type='chat' id='{name}'><body>{url}</body>\
             <x xmlns='jabber:x:oob'><url>{url}</url></x>{extra}</message>"
        )
    };
    // The metadata says 5 KB; the server sends 8 MB.
    let small_claim = "<file-sharing xmlns='urn:xmpp:sfs:0'><file xmlns='urn:xmpp:file:metadata:0'>\
        <media-type>image/jpeg</media-type><name>big.jpg</name><size>5000</size></file></file-sharing>";
    let stanzas: Vec<String> = vec![
        send("bomb.png", ""),
        send("huge.jpg", ""),
        send("cut.jpg", ""),
        send("page.jpg", ""),
        send("liar.jpg", ""),
        send("big.jpg", small_claim),
    ];
    friend
        .run(move |s| {
            for x in &stanzas {
                s.raw(x).unwrap();
            }
        })
        .await;
    let mut ids = std::collections::HashMap::new();
    while ids.len() < 6 {
        let m = wait_event(
            &mut t.events,
            T,
            "a link",
            any_message(|message| message.peer == pj && message.file.is_some()),
        )
        .await;
        ids.insert(m.file.unwrap().name, m.id);
    }
    // Whatever was fetched automatically settles; then the user asks for
    // each of the rest.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for id in ids.values() {
        let _ = t.client.download_file(&me, *id).await;
    }
    let settled = |f: &tern_core::FileView| matches!(f.state, FileState::Local | FileState::Failed);
    let deadline = std::time::Instant::now() + T;
    let files = loop {
        let listed = t.client.files(&me, None, 20).await.unwrap();
        if listed.iter().all(|m| m.file.as_ref().is_some_and(settled)) && listed.len() == 6 {
            break listed;
        }
        assert!(std::time::Instant::now() < deadline, "{listed:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let by_name = |n: &str| {
        files
            .iter()
            .find(|m| m.file.as_ref().unwrap().name == n)
            .and_then(|m| m.file.clone())
            .unwrap()
    };
    for n in ["bomb.png", "huge.jpg", "cut.jpg", "page.jpg"] {
        let f = by_name(n);
        assert_eq!(f.state, FileState::Local, "{n}: {f:?}");
        assert!(!f.image, "{n} is no image Tern shows: {f:?}");
        let id = ids[n];
        assert!(
            t.client
                .media_file(id, tern_core::MediaPart::Full)
                .await
                .is_none(),
            "{n}"
        );
    }
    let liar = by_name("liar.jpg");
    assert_eq!(liar.state, FileState::Failed, "{liar:?}");
    assert!(liar.error_text.is_some());
    // The 8 MB file was downloaded only because the user asked, then
    // whole (the limit for a request is far higher).
    let big = by_name("big.jpg");
    assert_eq!(big.size, Some(8_000_000), "{big:?}");
    assert!(!big.image);
    // Tern still works.
    t.client
        .send_message(&me, &pj, "still here", None)
        .await
        .unwrap();
    friend
        .event(|e| e["event"] == "message" && e["body"] == "still here")
        .await;
}

/// A contact's photo with a 20 KB inline thumbnail (an attribute, where
/// some XML parsers stop at 8 KB): the message arrives, with its preview,
/// and the connection stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_large_inline_thumbnail_does_not_cut_the_connection() {
    use base64::Engine as _;
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    // A noisy 80 x 80 PNG: about 20 KB.
    let img = image::RgbImage::from_fn(80, 80, |x, y| {
        let v = (x * 7919 + y * 104_729) as u8;
        image::Rgb([v, v.wrapping_mul(3), v.wrapping_mul(7)])
    });
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .unwrap();
    let uri = format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&png)
    );
    assert!(uri.len() > 16_000, "{}", uri.len());
    let url = "https://files.example/x/big-thumb.png";
    let xml = format!(
        "<message to='{me}' type='chat' id='thumb-1'><body>{url}</body>\
         <x xmlns='jabber:x:oob'><url>{url}</url></x>\
         <file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>\
         <file xmlns='urn:xmpp:file:metadata:0'><media-type>image/png</media-type>\
         <name>big-thumb.png</name><size>900000000</size>\
         <thumbnail xmlns='urn:xmpp:thumbs:1' uri='{uri}' media-type='image/png' width='80' height='80'/>\
         </file><sources><url-data xmlns='http://jabber.org/protocol/url-data' target='{url}'/></sources>\
         </file-sharing></message>"
    );
    friend.run(move |s| s.raw(&xml).unwrap()).await;
    let m = wait_event(&mut t.events, T, "the photo's preview", |ev| match ev {
        ClientEvent::Message { message }
            if message.peer == pj && message.file.as_ref().is_some_and(|f| f.preview) =>
        {
            Some(message.clone())
        }
        ClientEvent::AccountState { state, .. } if !is_connected(state) => {
            panic!("the connection dropped: {state:?}")
        }
        _ => None,
    })
    .await;
    assert_eq!(
        m.file.unwrap().state,
        FileState::Remote,
        "900 MB: not fetched"
    );
    t.client
        .send_message(&me, &pj, "still connected", None)
        .await
        .unwrap();
    friend
        .event(|e| e["event"] == "message" && e["body"] == "still connected")
        .await;
}

/// The server refuses the slot (a type it does not take): the message
/// fails with the server's words and can be sent again, which fails the
/// same way; the peer gets nothing, and later messages are not held back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_refused_slot_fails_with_the_servers_reason() {
    let server = Server::prosody_with(ProsodyOptions {
        upload_allowed_types: vec!["image/png".into()],
        ..Default::default()
    });
    let (mut t, me, _) = tern(&server).await;
    let peer = peer(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "notes.txt", b"not a picture");
    let sent = t
        .client
        .send_files(&me, &peer.bare(), &[f], Some("see the notes"), None)
        .await
        .unwrap();
    let id = sent[0].id;
    let failed = wait_event(
        &mut t.events,
        T,
        "the refusal",
        any_message(|message| message.id == id && message.state == "failed"),
    )
    .await;
    let text = failed.failure_text.clone().unwrap_or_default();
    assert!(text.contains("File type not allowed"), "{failed:?}");
    let f = failed.file.unwrap();
    assert_eq!(f.state, FileState::Failed);
    assert_eq!(f.error_text.as_deref(), Some(text.as_str()));
    // The caption held behind it goes on.
    peer.event(|e| e["event"] == "message" && e["body"] == "see the notes")
        .await;
    // Again: the same refusal, nothing sent twice.
    t.client.resend_message(&me, id).await.unwrap();
    wait_event(&mut t.events, T, "the second refusal", |ev| match ev {
        ClientEvent::Message { message } if message.id == id && message.state == "failed" => {
            Some(())
        }
        _ => None,
    })
    .await;
    let got_file = peer
        .run(|s| {
            s.wait_for(Duration::from_millis(500), |e| {
                e["event"] == "message" && !e["oob_url"].is_null()
            })
            .is_ok()
        })
        .await;
    assert!(!got_file, "a refused file reached the peer");
}

/// Received files are kept within the cache size: the least recently
/// shown goes first and comes back on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_the_cache_keeps_to_its_size() {
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    t.client.set_file_prefs(tern_core::FilePrefs {
        cache_bytes: 1_500_000,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for i in 0..3u64 {
        let name = format!("part-{i}.bin");
        let bytes = random_bytes(700_000, 40 + i);
        let path = write(dir.path(), &name, &bytes);
        let (me2, id) = (me.clone(), format!("cache-{i}"));
        friend
            .run(move |s| {
                s.upload_send(&me2, &path, "application/octet-stream", &id, true)
                    .unwrap()
            })
            .await;
        let m = wait_event(
            &mut t.events,
            T,
            "the file",
            any_message(|message| message.file.as_ref().is_some_and(|f| f.name == name)),
        )
        .await;
        t.client.download_file(&me, m.id).await.unwrap();
        file_state(&mut t, m.id, FileState::Local).await;
        ids.push(m.id);
    }
    // The first went back to the server's copy; the others stay.
    let first = file_state(&mut t, ids[0], FileState::Remote).await;
    assert!(!first.file.unwrap().local);
    assert!(t.client.file_path(&me, ids[0]).await.is_err());
    assert!(t.client.file_path(&me, ids[2]).await.is_ok());
    // Asked for again, it comes back.
    t.client.download_file(&me, ids[0]).await.unwrap();
    file_state(&mut t, ids[0], FileState::Local).await;
}

/// In a private group: Tern's photo reaches the other member as a
/// groupchat message with its link and metadata; the member's photo is
/// fetched at once (a private group is not strangers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_in_a_private_group() {
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let p = peer(&server).await;
    let bob = p.bare();
    let group = server.room("files");
    t.client
        .create_room(
            &me,
            "Files",
            Some(&group),
            tern_core::RoomKind::PrivateGroup,
        )
        .await
        .unwrap();
    t.client
        .set_affiliation(&me, &group, &bob, "member", None)
        .await
        .unwrap();
    let g = group.clone();
    p.run(move |p| p.muc_join(&g, "bob").unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    let photo = write(dir.path(), "team.jpg", &sideways_photo_with_gps(600, 400));
    t.client
        .send_files(&me, &group, &[photo], None, None)
        .await
        .unwrap();
    let ev = peer_file(&p, "team.jpg").await;
    assert_eq!(ev["type"], "groupchat", "{ev}");
    assert_eq!(ev["body"], ev["oob_url"]);
    assert_eq!(
        (ev["file"]["width"].as_u64(), ev["file"]["height"].as_u64()),
        (Some(400), Some(600))
    );

    let theirs = sideways_photo_with_gps(320, 240);
    let path = write(dir.path(), "from-bob.jpg", &theirs);
    let g = group.clone();
    p.run(move |s| {
        let opts = UploadOptions {
            sfs: true,
            groupchat: true,
            ..UploadOptions::new("image/jpeg")
        };
        s.upload_send_with(&g, &path, "bob-photo", &opts).unwrap()
    })
    .await;
    let m = wait_event(
        &mut t.events,
        T,
        "bob's photo, fetched",
        any_message(|message| {
            message.peer == group
                && message
                    .file
                    .as_ref()
                    .is_some_and(|f| f.name == "from-bob.jpg" && f.state == FileState::Local)
        }),
    )
    .await;
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(local).unwrap(), theirs);
}

/// Dino's way: the file's metadata in one message (no body, no source),
/// its link attached by a second one (XEP-0447 §4.2). One file, with the
/// name and size from the first and the link from the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_sources_attached_later_join_their_file() {
    use tern_testkit::web::{Reply, WebServer};
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    t.client.add_contact(&me, &pj, None, &[]).await.unwrap();
    let web = blocking(|| WebServer::start().unwrap()).await;
    let bytes = sideways_photo_with_gps(200, 100);
    web.route("/dino.jpg", Reply::file(bytes.clone(), "image/jpeg"));
    let url = web.localhost_url("/dino.jpg");
    let first = format!(
        "<message to='{me}' type='chat' id='dino-1'>\
         <file-sharing xmlns='urn:xmpp:sfs:0' id='share-1'>\
         <file xmlns='urn:xmpp:file:metadata:0'><media-type>image/jpeg</media-type>\
         <name>from-dino.jpg</name><size>{}</size></file></file-sharing>\
         <store xmlns='urn:xmpp:hints'/></message>",
        bytes.len()
    );
    let second = format!(
        "<message to='{me}' type='chat' id='dino-2'><body>{url}</body>\
         <x xmlns='jabber:x:oob'><url>{url}</url></x>\
         <attach-to xmlns='urn:xmpp:message-attaching:1' id='dino-1'/>\
         <sources xmlns='urn:xmpp:sfs:0' id='share-1'>\
         <url-data xmlns='http://jabber.org/protocol/url-data' target='{url}'/></sources></message>"
    );
    friend
        .run(move |s| {
            s.raw(&first).unwrap();
            s.raw(&second).unwrap();
        })
        .await;
    let m = wait_event(
        &mut t.events,
        T,
        "the file, fetched",
        any_message(|message| {
            message.peer == pj
                && message
                    .file
                    .as_ref()
                    .is_some_and(|f| f.state == FileState::Local)
        }),
    )
    .await;
    assert_eq!(m.file.as_ref().unwrap().name, "from-dino.jpg");
    assert_eq!(m.uid, "dino-1");
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(local).unwrap(), bytes);
    let listed = t.client.files(&me, None, 10).await.unwrap();
    assert_eq!(listed.len(), 1, "one file, not two: {listed:#?}");
}

/// A download cut off by quitting Tern is not left "downloading": after
/// the restart the file can be downloaded again, and arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_a_download_cut_by_quitting_can_start_again() {
    use tern_testkit::web::{Reply, WebServer};
    let server = Server::prosody();
    let (mut t, me, _) = tern(&server).await;
    let (pj, pp) = server.user();
    let friend = peer_as(&server, &pj, &pp).await;
    let web = blocking(|| WebServer::start().unwrap()).await;
    let bytes = random_bytes(3_000_000, 9);
    web.route(
        "/slow.bin",
        Reply::Sequence(vec![
            Reply::Stall {
                body: bytes.clone(),
                after: 100_000,
            },
            Reply::file(bytes.clone(), "application/octet-stream"),
        ]),
    );
    let url = web.localhost_url("/slow.bin");
    let xml = format!(
        "<message to='{me}' type='chat' id='slow'><body>{url}</body>\
         <x xmlns='jabber:x:oob'><url>{url}</url></x></message>"
    );
    friend.run(move |s| s.raw(&xml).unwrap()).await;
    let m = wait_event(
        &mut t.events,
        T,
        "the link",
        any_message(|message| message.peer == pj && message.file.is_some()),
    )
    .await;
    t.client.download_file(&me, m.id).await.unwrap();
    file_state(&mut t, m.id, FileState::Downloading).await;
    let mut t = reopen(t).await;
    let f = t.client.files(&me, None, 5).await.unwrap()[0]
        .file
        .clone()
        .unwrap();
    assert_eq!(f.state, FileState::Remote, "{f:?}");
    t.client.download_file(&me, m.id).await.unwrap();
    file_state(&mut t, m.id, FileState::Local).await;
    let local = t.client.file_path(&me, m.id).await.unwrap();
    assert_eq!(std::fs::read(local).unwrap(), bytes);
}
