//! `tern-media://` serves files from the data folder to the window, so that
//! images never cross the IPC as JSON. Only avatars for now:
//! `tern-media://localhost/avatar/<sha1>` is the engine's cached file for
//! that hash. The hash must be 40 lowercase hex digits (nothing else reaches
//! the file system), and only raster images are served (no SVG, which could
//! carry script).

use std::borrow::Cow;
use std::path::PathBuf;

use tauri::http::{header, Request, Response, StatusCode};

/// The scheme's name.
pub const SCHEME: &str = "tern-media";
/// The largest avatar served.
const MAX_AVATAR_BYTES: u64 = 1024 * 1024;

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
    let Some(file) = avatar_file(hash) else {
        return status(StatusCode::NOT_FOUND);
    };
    let bytes = match std::fs::metadata(&file) {
        Ok(m) if m.is_file() && m.len() <= MAX_AVATAR_BYTES => std::fs::read(&file).ok(),
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
    // Named by content: never changes.
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("max-age=31536000, immutable"),
    );
    r
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
