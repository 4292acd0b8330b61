//! `tern-media://` serves files from the data folder to the window, so that
//! images never cross the IPC as JSON:
//!
//! - `tern-media://localhost/avatar/<sha1>`: the engine's cached avatar for
//!   that hash (40 lowercase hex digits);
//! - `tern-media://localhost/file/<message id>/preview` and `/full`: the
//!   preview of a shared file, or the image itself (a decimal id; the engine
//!   says which file, if any).
//!
//! On Windows the same paths come as `http://tern-media.localhost/…`.
//! Nothing else in a request reaches the file system, and only raster
//! images are served, checked by their first bytes (never SVG, which could
//! carry script), with `nosniff`.

use std::borrow::Cow;
use std::path::PathBuf;

use tauri::http::{header, Request, Response, StatusCode};
use tern_core::MediaPart;

/// The scheme's name.
pub const SCHEME: &str = "tern-media";
/// The largest avatar served.
const MAX_AVATAR_BYTES: u64 = 1024 * 1024;
/// The largest preview served.
const MAX_PREVIEW_BYTES: u64 = 4 * 1024 * 1024;
/// The largest image served whole.
const MAX_FULL_BYTES: u64 = 64 * 1024 * 1024;

/// An avatar hash the scheme accepts: 40 lowercase hex digits.
pub fn valid_hash(hash: &str) -> bool {
    hash.len() == 40
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The image type from the first bytes; `None` for anything not a raster image.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// The avatar hash a request asks for (`tern-media://avatar/<hash>` or, on
/// Windows, `http://tern-media.localhost/avatar/<hash>`).
pub fn requested_avatar(path: &str) -> Option<&str> {
    path.strip_prefix("/avatar/").filter(|h| valid_hash(h))
}

/// The message id and part a file request asks for (`/file/<id>/preview`
/// or `/file/<id>/full`): the id in decimal digits only, at most 18 of them.
pub fn requested_file(path: &str) -> Option<(i64, MediaPart)> {
    let (id, part) = path.strip_prefix("/file/")?.split_once('/')?;
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = match part {
        "preview" => MediaPart::Preview,
        "full" => MediaPart::Full,
        _ => return None,
    };
    Some((id.parse().ok()?, part))
}

fn status(code: StatusCode) -> Response<Cow<'static, [u8]>> {
    let mut r = Response::new(Cow::Borrowed(&[][..]));
    *r.status_mut() = code;
    r
}

/// Answers one request from the window; `avatar_file` finds the file of a
/// (valid) hash.
pub fn serve(
    request: &Request<Vec<u8>>,
    avatar_file: impl FnOnce(&str) -> Option<PathBuf>,
) -> Response<Cow<'static, [u8]>> {
    let Some(hash) = requested_avatar(request.uri().path()) else {
        return status(StatusCode::NOT_FOUND);
    };
    // Named by content: never changes.
    serve_path(
        avatar_file(hash),
        MAX_AVATAR_BYTES,
        "max-age=31536000, immutable",
    )
}

/// Answers one request from the window, avatars and shared files, without
/// holding up the window's thread (the engine looks the file up, the disk
/// is read on a blocking thread).
pub async fn answer(
    request: Request<Vec<u8>>,
    client: Option<tern_core::Client>,
) -> Response<Cow<'static, [u8]>> {
    let path = request.uri().path();
    let Some(client) = client else {
        return status(StatusCode::SERVICE_UNAVAILABLE);
    };
    if let Some(hash) = requested_avatar(path) {
        let file = client.avatar_file(hash);
        return blocking(move || serve_path(file, MAX_AVATAR_BYTES, "max-age=31536000, immutable"))
            .await;
    }
    let Some((id, part)) = requested_file(path) else {
        return status(StatusCode::NOT_FOUND);
    };
    let file = client.media_file(id, part).await;
    let max = match part {
        MediaPart::Preview => MAX_PREVIEW_BYTES,
        MediaPart::Full => MAX_FULL_BYTES,
    };
    // A file may come (downloaded) or go (the cache cleaned up): asked
    // again each time.
    blocking(move || serve_path(file, max, "no-cache")).await
}

async fn blocking(
    f: impl FnOnce() -> Response<Cow<'static, [u8]>> + Send + 'static,
) -> Response<Cow<'static, [u8]>> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| status(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A raster image file of at most `max` bytes, as a response.
pub fn serve_path(
    file: Option<PathBuf>,
    max: u64,
    cache: &'static str,
) -> Response<Cow<'static, [u8]>> {
    let Some(file) = file else {
        return status(StatusCode::NOT_FOUND);
    };
    let bytes = match std::fs::metadata(&file) {
        Ok(m) if m.is_file() && m.len() <= max => read_at_most(&file, max),
        _ => None,
    };
    let Some(bytes) = bytes else {
        return status(StatusCode::NOT_FOUND);
    };
    let Some(kind) = image_type(&bytes) else {
        return status(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    };
    let mut r = Response::new(Cow::Owned(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, header::HeaderValue::from_static(kind));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(cache),
    );
    r
}

/// The file's bytes, `None` past `max` (it may have grown since its size
/// was read).
fn read_at_most(file: &std::path::Path, max: u64) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .ok()?
        .take(max + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= max).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha1_hex_reaches_the_disk() {
        assert_eq!(
            requested_avatar("/avatar/0123456789abcdef0123456789abcdef01234567"),
            Some("0123456789abcdef0123456789abcdef01234567")
        );
        for bad in [
            "/avatar/../../etc/passwd",
            "/avatar/0123456789ABCDEF0123456789abcdef01234567",
            "/avatar/0123456789abcdef0123456789abcdef0123456",
            "/avatar/0123456789abcdef0123456789abcdef01234567/x",
            "/avatar/..%2f..%2fsecret",
            "/other/0123456789abcdef0123456789abcdef01234567",
            "/avatar/",
        ] {
            assert_eq!(requested_avatar(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_decimal_message_ids_reach_the_engine() {
        assert_eq!(
            requested_file("/file/42/preview"),
            Some((42, MediaPart::Preview))
        );
        assert_eq!(requested_file("/file/7/full"), Some((7, MediaPart::Full)));
        assert_eq!(
            requested_file("/file/999999999999999999/full"),
            Some((999_999_999_999_999_999, MediaPart::Full))
        );
        for bad in [
            "/file/../preview",
            "/file/-1/preview",
            "/file/+1/preview",
            "/file/0x10/full",
            "/file/1e3/full",
            "/file/ 1/full",
            "/file/1/Preview",
            "/file/1/full/x",
            "/file/1/original",
            "/file/1",
            "/file//full",
            "/file/1%2f..%2f/full",
            "/file/1000000000000000000/full",
            "/files/1/full",
            "/avatar/1/full",
        ] {
            assert_eq!(requested_file(bad), None, "{bad}");
        }
    }

    #[test]
    fn file_images_are_bounded_and_raster() {
        let dir = tempfile::tempdir().unwrap();
        let gif = dir.path().join("a.gif");
        std::fs::write(&gif, b"GIF89a....").unwrap();
        let r = serve_path(Some(gif.clone()), 64, "no-cache");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "image/gif");
        assert_eq!(r.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(
            serve_path(Some(gif), 4, "no-cache").status(),
            StatusCode::NOT_FOUND
        );
        let svg = dir.path().join("b.png");
        std::fs::write(
            &svg,
            b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
        )
        .unwrap();
        assert_eq!(
            serve_path(Some(svg), 1024, "no-cache").status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        let html = dir.path().join("c.jpg");
        std::fs::write(&html, b"<html><script>alert(1)</script>").unwrap();
        assert_eq!(
            serve_path(Some(html), 1024, "no-cache").status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            serve_path(Some(dir.path().to_path_buf()), 1024, "no-cache").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            serve_path(None, 1024, "no-cache").status(),
            StatusCode::NOT_FOUND
        );
    }

    #[test]
    fn serves_raster_images_only() {
        let dir = std::env::temp_dir().join(format!("tern-media-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("avatars")).unwrap();
        let png = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let svg = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
        std::fs::write(dir.join("avatars").join(png), b"\x89PNG\r\n\x1a\nrest").unwrap();
        std::fs::write(dir.join("avatars").join(svg), b"<svg onload=alert(1)>").unwrap();
        let get = |path: &str| {
            let req = Request::builder()
                .uri(format!("tern-media://localhost{path}"))
                .body(Vec::new())
                .unwrap();
            serve(&req, |h| Some(dir.join("avatars").join(h)))
        };
        let ok = get(&format!("/avatar/{png}"));
        assert_eq!(ok.status(), StatusCode::OK);
        assert_eq!(ok.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(
            get(&format!("/avatar/{svg}")).status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            get("/avatar/cccccccccccccccccccccccccccccccccccccccc").status(),
            StatusCode::NOT_FOUND
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
