//! Transfers against the test kit's scripted HTTPS server.

use std::sync::Mutex;

use tern_testkit::web::{Reply, WebServer};
use tern_testkit::TestCa;

use super::*;
use crate::net::tls::{Pin, Problems};

/// Short enough for stalls to end quickly, long enough for a loaded
/// machine.
const IDLE: Duration = Duration::from_millis(700);

fn trust() -> TlsTrust {
    TlsTrust {
        extra_roots: vec![TestCa::global().ca_cert_der()],
        pin: None,
    }
}

fn client() -> HttpClient {
    client_with(trust(), Vec::new(), IDLE)
}

fn client_with(trust: TlsTrust, pin_hosts: Vec<String>, idle: Duration) -> HttpClient {
    HttpClient::with_timeouts(
        trust,
        pin_hosts,
        Timeouts {
            connect: Duration::from_secs(10),
            idle,
        },
    )
}

/// `n` pseudo-random bytes.
fn data(n: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    let mut out = Vec::with_capacity(n + 4);
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn sha(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A download into a fresh temporary directory: the result, the progress
/// seen, and where the file was to go (kept alive with the directory).
struct Got {
    result: Result<Fetched, TransferError>,
    progress: Vec<(u64, Option<u64>)>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Got {
    fn file(&self) -> Option<Vec<u8>> {
        std::fs::read(&self.path).ok()
    }
}

async fn download(client: &HttpClient, url: &str, max: u64) -> Got {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("download.part");
    let seen = Mutex::new(Vec::new());
    let result = client
        .get_to_file(
            url,
            &path,
            max,
            &|got, total| seen.lock().unwrap().push((got, total)),
            &CancellationToken::new(),
        )
        .await;
    Got {
        result,
        progress: seen.into_inner().unwrap(),
        path,
        _dir: dir,
    }
}

/// Writes `bytes` to a temporary file.
fn temp_file(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload.bin");
    std::fs::write(&path, bytes).unwrap();
    (dir, path)
}

async fn upload(
    client: &HttpClient,
    url: &str,
    path: &Path,
    size: u64,
    transform: Option<&mut dyn ChunkTransform>,
) -> (Result<(), TransferError>, Vec<u64>) {
    let seen = Mutex::new(Vec::new());
    let headers = vec![
        ("Authorization".to_owned(), "Basic dGVybg==".to_owned()),
        ("X-Injected".to_owned(), "no".to_owned()),
        ("Cookie".to_owned(), "a=b\r\nX-Split: yes".to_owned()),
    ];
    let up = Upload {
        url,
        headers: &headers,
        content_type: "image/jpeg",
        path,
        size,
    };
    let result = client
        .put_file(
            &up,
            transform,
            &|n| seen.lock().unwrap().push(n),
            &CancellationToken::new(),
        )
        .await;
    (result, seen.into_inner().unwrap())
}

#[tokio::test]
async fn download_delivers_the_body_its_hash_and_type() {
    let server = WebServer::start().unwrap();
    let body = data(300_000);
    server.route("/photo.jpg", Reply::file(body.clone(), "image/jpeg"));
    let got = download(&client(), &server.url("/photo.jpg#fragment"), 1 << 20).await;
    let fetched = got.result.as_ref().unwrap();
    assert_eq!(fetched.size, body.len() as u64);
    assert_eq!(fetched.sha256, sha(&body));
    assert_eq!(fetched.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(got.file().unwrap(), body);
    assert_eq!(got.progress.first(), Some(&(0, Some(300_000))));
    assert_eq!(got.progress.last(), Some(&(300_000, Some(300_000))));
    let request = &server.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/photo.jpg");
    assert_eq!(
        request.header("host"),
        Some(format!("127.0.0.1:{}", server.port()).as_str())
    );
    assert!(request.header("user-agent").unwrap().starts_with("Tern/"));
}

#[tokio::test]
async fn a_chunked_body_without_length_is_read_to_its_end() {
    let server = WebServer::start().unwrap();
    let body = data(100_000);
    server.route("/c", Reply::Chunked(body.clone()));
    let got = download(&client(), &server.localhost_url("/c"), 1 << 20).await;
    let fetched = got.result.as_ref().unwrap();
    assert_eq!(fetched.sha256, sha(&body));
    assert_eq!(fetched.content_type, None);
    assert_eq!(got.file().unwrap(), body);
    assert_eq!(got.progress.last(), Some(&(100_000, None)));
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_before_the_body() {
    let server = WebServer::start().unwrap();
    server.route("/big", Reply::file(data(200_000), "image/png"));
    let got = download(&client(), &server.url("/big"), 1_000).await;
    assert_eq!(
        got.result,
        Err(TransferError::TooLarge {
            limit: 1_000,
            size: Some(200_000)
        })
    );
    assert!(got.progress.is_empty(), "no body read: {:?}", got.progress);
    assert_eq!(got.file(), None, "the partial file is removed");
}

#[tokio::test]
async fn an_undeclared_body_stops_at_the_limit() {
    let server = WebServer::start().unwrap();
    server.route("/big", Reply::Chunked(data(300_000)));
    let got = download(&client(), &server.url("/big"), 100_000).await;
    assert_eq!(
        got.result,
        Err(TransferError::TooLarge {
            limit: 100_000,
            size: None
        })
    );
    assert!(got.progress.iter().all(|(n, _)| *n <= 100_000));
    assert_eq!(got.file(), None);
}

#[tokio::test]
async fn length_lies_never_deliver_more_than_declared() {
    let server = WebServer::start().unwrap();
    let body = data(2_000);
    // Declares less than it sends: only the declared bytes are taken.
    server.route(
        "/more",
        Reply::LyingLength {
            declared: 1_000,
            body: body.clone(),
        },
    );
    let got = download(&client(), &server.url("/more"), 1 << 20).await;
    let fetched = got.result.as_ref().unwrap();
    assert_eq!(fetched.size, 1_000);
    assert_eq!(fetched.sha256, sha(&body[..1_000]));
    assert_eq!(got.file().unwrap(), &body[..1_000]);

    // Declares more than it sends, then closes properly: cut short.
    server.route(
        "/fewer",
        Reply::LyingLength {
            declared: 5_000,
            body: body.clone(),
        },
    );
    let got = download(&client(), &server.url("/fewer"), 1 << 20).await;
    let err = got.result.clone().unwrap_err();
    assert_eq!(
        err,
        TransferError::SizeMismatch {
            expected: 5_000,
            got: 2_000
        }
    );
    assert!(err.retryable());
    assert_eq!(got.file(), None);
}

#[tokio::test]
async fn a_body_cut_mid_way_is_an_error() {
    let server = WebServer::start().unwrap();
    server.route(
        "/cut",
        Reply::Cut {
            body: data(300_000),
            after: 100_000,
        },
    );
    let got = download(&client(), &server.url("/cut"), 1 << 20).await;
    match got.result {
        Err(ref e @ TransferError::SizeMismatch { expected, got: n }) => {
            assert_eq!(expected, 300_000);
            assert!(n <= 100_000);
            assert!(e.retryable());
        }
        other => panic!("expected a size mismatch, got {other:?}"),
    }
    assert_eq!(got.file(), None);
}

#[tokio::test]
async fn a_stalled_body_times_out() {
    let server = WebServer::start().unwrap();
    server.route(
        "/slow",
        Reply::Stall {
            body: data(300_000),
            after: 50_000,
        },
    );
    let got = download(&client(), &server.url("/slow"), 1 << 20).await;
    assert_eq!(got.result, Err(TransferError::Timeout));
    assert!(TransferError::Timeout.retryable());
    assert!(got.progress.last().is_some_and(|(n, _)| *n > 0));
    assert_eq!(got.file(), None);
}

#[tokio::test]
async fn https_redirects_are_followed_up_to_five() {
    let server = WebServer::start().unwrap();
    let body = data(10_000);
    server.route("/file", Reply::file(body.clone(), "image/gif"));
    // Relative, absolute, and to another host name of the same server.
    server.route("/r1", Reply::redirect(302, "r2"));
    server.route("/r2", Reply::redirect(301, &server.localhost_url("/r3")));
    server.route("/r3", Reply::redirect(307, "/r4?x=1"));
    server.route("/r4", Reply::redirect(308, "/r5"));
    server.route("/r5", Reply::redirect(303, "/file"));
    let got = download(&client(), &server.url("/r1"), 1 << 20).await;
    assert_eq!(got.result.as_ref().unwrap().sha256, sha(&body));
    assert_eq!(server.hits("/file"), 1);
    assert!(server.requests().iter().any(|r| r.target == "/r4?x=1"));

    // One more is too many.
    server.route("/r0", Reply::redirect(302, "/r1"));
    let got = download(&client(), &server.url("/r0"), 1 << 20).await;
    assert!(
        matches!(got.result, Err(TransferError::Redirect(ref m)) if m.contains("more than 5")),
        "{:?}",
        got.result
    );
    assert_eq!(server.hits("/file"), 1);
}

#[tokio::test]
async fn redirects_to_plain_http_and_loops_are_refused() {
    let server = WebServer::start().unwrap();
    server.route("/file", Reply::file(data(10), "image/gif"));
    let http = format!("http://127.0.0.1:{}/file", server.port());
    server.route("/down", Reply::redirect(302, &http));
    let got = download(&client(), &server.url("/down"), 1 << 20).await;
    match &got.result {
        Err(e @ TransferError::Redirect(m)) => {
            assert!(m.contains("not an https:// address"), "{m}");
            assert!(!e.retryable());
        }
        other => panic!("expected a refused redirect, got {other:?}"),
    }
    assert_eq!(server.hits("/file"), 0);

    server.route("/a", Reply::redirect(302, "/b"));
    server.route("/b", Reply::redirect(302, "/a"));
    let got = download(&client(), &server.url("/a"), 1 << 20).await;
    assert!(
        matches!(got.result, Err(TransferError::Redirect(ref m)) if m.contains("loop")),
        "{:?}",
        got.result
    );
    assert_eq!(server.hits("/a"), 1);

    server.route("/nowhere", Reply::Status(302));
    let got = download(&client(), &server.url("/nowhere"), 1 << 20).await;
    assert!(matches!(got.result, Err(TransferError::Redirect(_))));

    // Not https to begin with.
    let got = download(&client(), &http, 1 << 20).await;
    assert!(matches!(got.result, Err(TransferError::Url(_))));
}

#[tokio::test]
async fn server_errors_are_retryable_and_client_errors_are_not() {
    let server = WebServer::start().unwrap();
    let body = data(1_000);
    server.route(
        "/flaky",
        Reply::Sequence(vec![
            Reply::Status(500),
            Reply::file(body.clone(), "image/jpeg"),
        ]),
    );
    let got = download(&client(), &server.url("/flaky"), 1 << 20).await;
    let err = got.result.clone().unwrap_err();
    assert_eq!(err, TransferError::Status(500));
    assert!(err.retryable());
    assert_eq!(got.file(), None);
    let got = download(&client(), &server.url("/flaky"), 1 << 20).await;
    assert_eq!(got.file().unwrap(), body);

    let got = download(&client(), &server.url("/missing"), 1 << 20).await;
    let err = got.result.clone().unwrap_err();
    assert_eq!(err, TransferError::Status(404));
    assert!(!err.retryable());
    assert!(err.to_string().contains("404 (Not Found)"), "{err}");
}

#[tokio::test]
async fn an_unknown_authority_is_refused_unless_pinned_for_that_host() {
    let other_ca = TestCa::generate().unwrap();
    let leaf = other_ca.issue_leaf(&["localhost"]);
    let server = WebServer::start_with_leaf(leaf.clone()).unwrap();
    let body = data(5_000);
    server.route("/f", Reply::file(body.clone(), "image/jpeg"));
    let fingerprint = tls::format_fingerprint(&leaf.sha256_fingerprint());

    let plain = HttpClient::new(trust(), vec!["127.0.0.1".into()]);
    let got = download(&plain, &server.url("/f"), 1 << 20).await;
    match &got.result {
        Err(e @ TransferError::Tls(m)) => {
            assert!(m.contains(&fingerprint), "{m}");
            assert!(m.contains("unknown authority"), "{m}");
            assert!(!e.retryable());
        }
        other => panic!("expected a TLS refusal, got {other:?}"),
    }

    let pinned = TlsTrust {
        extra_roots: trust().extra_roots,
        pin: Some(Pin {
            sha256: leaf.sha256_fingerprint(),
            accepts: Problems::UNTRUSTED,
        }),
    };
    // Pinned, for this host.
    let ok = client_with(pinned.clone(), vec!["LOCALHOST.".into()], IDLE);
    let got = download(&ok, &server.localhost_url("/f"), 1 << 20).await;
    assert_eq!(got.file().unwrap(), body);
    let ok = client_with(pinned.clone(), vec!["127.0.0.1".into()], IDLE);
    let got = download(&ok, &server.url("/f"), 1 << 20).await;
    assert_eq!(got.file().unwrap(), body);

    // Pinned, but this host is not the account's server.
    let other = client_with(pinned, vec!["example.org".into()], IDLE);
    let got = download(&other, &server.localhost_url("/f"), 1 << 20).await;
    assert!(
        matches!(got.result, Err(TransferError::Tls(ref m)) if m.contains(&fingerprint)),
        "{:?}",
        got.result
    );
}

#[tokio::test]
async fn a_large_upload_is_streamed_byte_exact() {
    let server = WebServer::start().unwrap();
    server.route("/slot", Reply::Accept { status: 201 });
    let size = 50 * 1024 * 1024;
    let body = data(size);
    let (_dir, path) = temp_file(&body);
    let (result, progress) = upload(
        &client_with(trust(), Vec::new(), Duration::from_secs(10)),
        &server.url("/slot?token=1"),
        &path,
        size as u64,
        None,
    )
    .await;
    result.unwrap();
    let received = server.received("/slot");
    assert_eq!(received.len(), size);
    assert!(received == body, "the uploaded bytes differ");
    // Sent in pieces of at most CHUNK bytes, never the whole file at once.
    assert_eq!(progress.first(), Some(&0));
    assert_eq!(progress.last(), Some(&(size as u64)));
    assert_eq!(progress.len(), size / CHUNK + 1);
    assert!(progress.windows(2).all(|w| w[1] - w[0] <= CHUNK as u64));

    let request = &server.requests()[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(request.target, "/slot?token=1");
    assert_eq!(
        request.header("content-length"),
        Some(size.to_string().as_str())
    );
    assert_eq!(request.header("content-type"), Some("image/jpeg"));
    assert_eq!(request.header("authorization"), Some("Basic dGVybg=="));
    // Only the headers XEP-0363 allows, without line breaks.
    assert_eq!(request.header("cookie"), Some("a=bX-Split: yes"));
    assert_eq!(request.header("x-injected"), None);
    assert_eq!(request.header("x-split"), None);
}

/// XORs with a byte and appends a fixed trailer, like an encryption that
/// appends its tag.
struct Xor {
    key: u8,
    seen: u64,
}

impl ChunkTransform for Xor {
    fn trailer_len(&self) -> u64 {
        16
    }

    fn apply(&mut self, chunk: &mut [u8]) {
        for b in chunk.iter_mut() {
            *b ^= self.key;
        }
        self.seen += chunk.len() as u64;
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut tag = vec![0xEE; 8];
        tag.extend_from_slice(&self.seen.to_be_bytes());
        tag
    }
}

#[tokio::test]
async fn a_transformed_upload_carries_the_trailer() {
    let server = WebServer::start().unwrap();
    server.route("/slot", Reply::Accept { status: 200 });
    let body = data(200_000);
    let (_dir, path) = temp_file(&body);
    let mut xor = Xor { key: 0x5A, seen: 0 };
    let (result, progress) = upload(
        &client(),
        &server.url("/slot"),
        &path,
        body.len() as u64,
        Some(&mut xor),
    )
    .await;
    result.unwrap();
    let mut expected: Vec<u8> = body.iter().map(|b| b ^ 0x5A).collect();
    expected.extend_from_slice(&[0xEE; 8]);
    expected.extend_from_slice(&200_000u64.to_be_bytes());
    assert!(server.received("/slot") == expected);
    assert_eq!(
        server.requests()[0].header("content-length"),
        Some("200016")
    );
    assert_eq!(progress.last(), Some(&200_016));
}

#[tokio::test]
async fn uploads_refused_cut_or_stalled_half_way_fail() {
    let server = WebServer::start().unwrap();
    let body = data(2 * 1024 * 1024);
    let (_dir, path) = temp_file(&body);
    let size = body.len() as u64;

    server.route(
        "/full",
        Reply::RejectAfter {
            after: 1024 * 1024,
            status: 500,
        },
    );
    let (result, _) = upload(&client(), &server.url("/full"), &path, size, None).await;
    // The answer usually arrives; a connection reset racing it is an
    // acceptable outcome too, as long as it can be retried.
    let err = result.unwrap_err();
    assert!(
        matches!(err, TransferError::Status(500) | TransferError::Connect(_)),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(server.received("/full") == body[..1024 * 1024]);

    server.route("/cut", Reply::CutAfter { after: 1024 * 1024 });
    let (result, _) = upload(&client(), &server.url("/cut"), &path, size, None).await;
    let err = result.unwrap_err();
    assert!(matches!(err, TransferError::Connect(_)), "{err:?}");
    assert!(err.retryable());

    server.route("/stall", Reply::StallAfter { after: 100_000 });
    let (result, _) = upload(&client(), &server.url("/stall"), &path, size, None).await;
    assert_eq!(result, Err(TransferError::Timeout));

    server.route(
        "/forbidden",
        Reply::RejectAfter {
            after: 0,
            status: 403,
        },
    );
    let (result, _) = upload(&client(), &server.url("/forbidden"), &path, size, None).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, TransferError::Status(403) | TransferError::Connect(_)),
        "{err:?}"
    );

    // The file is not the size the slot was asked for.
    let (result, _) = upload(&client(), &server.url("/full"), &path, size + 1, None).await;
    assert!(matches!(result, Err(TransferError::Io(_))), "{result:?}");
}

#[tokio::test]
async fn a_complete_upload_answered_with_a_client_error_is_final() {
    let server = WebServer::start().unwrap();
    server.route("/slot", Reply::Accept { status: 413 });
    let body = data(10_000);
    let (_dir, path) = temp_file(&body);
    let (result, _) = upload(&client(), &server.url("/slot"), &path, 10_000, None).await;
    let err = result.unwrap_err();
    assert_eq!(err, TransferError::Status(413));
    assert!(!err.retryable());
}

#[tokio::test]
async fn cancelling_ends_transfers_and_removes_the_partial_download() {
    let server = WebServer::start().unwrap();
    server.route(
        "/slow",
        Reply::Stall {
            body: data(300_000),
            after: 100_000,
        },
    );
    let patient = client_with(trust(), Vec::new(), Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part");
    let cancel = CancellationToken::new();
    let result = patient
        .get_to_file(
            &server.url("/slow"),
            &path,
            1 << 20,
            &|got, _| {
                if got >= 100_000 {
                    cancel.cancel();
                }
            },
            &cancel,
        )
        .await;
    assert_eq!(result, Err(TransferError::Cancelled));
    assert!(!TransferError::Cancelled.retryable());
    assert!(!path.exists(), "the partial download is removed");

    server.route("/stall", Reply::StallAfter { after: 0 });
    let body = data(4 * 1024 * 1024);
    let (_dir, file) = temp_file(&body);
    let cancel = CancellationToken::new();
    let up = Upload {
        url: &server.url("/stall"),
        headers: &[],
        content_type: "application/octet-stream",
        path: &file,
        size: body.len() as u64,
    };
    let result = patient
        .put_file(
            &up,
            None,
            &|sent| {
                if sent > 0 {
                    cancel.cancel();
                }
            },
            &cancel,
        )
        .await;
    assert_eq!(result, Err(TransferError::Cancelled));
}

#[test]
fn errors_read_well() {
    let e = TransferError::TooLarge {
        limit: 100,
        size: Some(200),
    };
    assert_eq!(
        e.to_string(),
        "the file is too large (200 bytes; the limit is 100 bytes)"
    );
    assert!(!e.retryable());
    assert!(TransferError::Status(503).retryable());
    assert!(TransferError::Status(429).retryable());
    assert!(!TransferError::Status(403).retryable());
    assert!(TransferError::Connect("reset".into()).retryable());
    assert!(!TransferError::Io("disk full".into()).retryable());
}

#[test]
fn slot_headers_are_filtered_and_cleaned() {
    assert!(slot_header("X-Other", "1").is_none());
    assert!(slot_header("Content-Length", "1").is_none());
    let (name, value) = slot_header("Expires", "Tue\r\n, 1").unwrap();
    assert_eq!(name, header::EXPIRES);
    assert_eq!(value, "Tue, 1");
}

#[test]
fn urls_must_be_https() {
    assert!(parse_url("https://example.org/a b/ä.jpg").is_ok());
    assert!(matches!(
        parse_url("http://example.org/a"),
        Err(TransferError::Url(_))
    ));
    assert!(matches!(
        parse_url("aesgcm://example.org/a#key"),
        Err(TransferError::Url(_))
    ));
    assert!(matches!(parse_url("not a url"), Err(TransferError::Url(_))));
    let u = parse_url("https://example.org/x?y=1#secret").unwrap();
    assert_eq!(u.fragment(), None);
    assert_eq!(redact(&u), "https://example.org/…");
}

/// The futures a desktop shell spawns must be `Send`.
#[allow(dead_code)]
fn futures_are_send(client: &HttpClient, sink: &mut FileSink, transform: &mut Xor) {
    fn is_send<T: Send>(_: T) {}
    let cancel = CancellationToken::new();
    let up = Upload {
        url: "",
        headers: &[],
        content_type: "",
        path: Path::new(""),
        size: 0,
    };
    is_send(client.put_file(&up, Some(transform), &|_| {}, &cancel));
    is_send(client.get("", 0, sink, &|_, _| {}, &cancel));
    is_send(client.get_to_file("", Path::new(""), 0, &|_, _| {}, &cancel));
}
