//! The avatar cache: one file per image, `avatars/<sha1>` in the data
//! folder, written only once the bytes match their hash and decode as a
//! picture of sane size; and which downloads are under way.

use super::*;

/// Avatar downloads in progress for one account: at most one per image
/// and one per person (someone announcing a new hash in every presence
/// gets one download at a time, not one per presence).
#[derive(Default, Debug)]
pub(crate) struct Fetching(Mutex<HashSet<String>>);

impl Fetching {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Starts downloading `hash` for `jid`, unless either is under way.
    pub(super) fn start(&self, jid: &str, hash: &str) -> bool {
        let mut g = self.lock();
        let by_jid = format!("jid {jid}");
        if g.contains(hash) || g.contains(&by_jid) {
            return false;
        }
        g.insert(hash.to_string());
        g.insert(by_jid);
        true
    }

    pub(super) fn done(&self, jid: &str, hash: &str) {
        let mut g = self.lock();
        g.remove(hash);
        g.remove(&format!("jid {jid}"));
    }

    /// Downloads under way.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len() / 2
    }
}

/// Whether `s` is a SHA-1 in lowercase hex (what names avatar files).
pub fn is_avatar_hash(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

pub(super) fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The file an avatar is cached in.
pub(crate) fn avatar_path(data_dir: &Path, hash: &str) -> Option<PathBuf> {
    is_avatar_hash(hash).then(|| data_dir.join("avatars").join(hash))
}

/// Checks that `bytes` is a picture of sane size: (width, height, MIME type).
pub(super) fn inspect(
    bytes: &[u8],
    max_bytes: usize,
) -> std::result::Result<(u32, u32, String), String> {
    if bytes.len() > max_bytes {
        return Err(format!("{} bytes is too large", bytes.len()));
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    let format = reader
        .format()
        .ok_or_else(|| "not a PNG, JPEG, GIF or WebP image".to_string())?;
    let (w, h) = reader.into_dimensions().map_err(|e| e.to_string())?;
    if w == 0 || h == 0 || w > MAX_AVATAR_SIDE || h > MAX_AVATAR_SIDE {
        return Err(format!("{w}x{h} pixels is not a usable size"));
    }
    Ok((w, h, format.to_mime_type().to_string()))
}

/// Writes a verified avatar to the cache. `false` (with a log line) when
/// the bytes are not the announced hash or not a usable image.
pub(super) async fn save(ctx: &Ctx, hash: &str, bytes: Vec<u8>) -> bool {
    let Some(path) = avatar_path(&ctx.data_dir, hash) else {
        return false;
    };
    if sha1_hex(&bytes) != hash {
        tracing::warn!(hash, "avatar data does not match its hash; ignored");
        return false;
    }
    let checked = tokio::task::spawn_blocking(move || {
        inspect(&bytes, MAX_AVATAR_BYTES)?;
        write_atomically(&path, &bytes).map_err(|e| e.to_string())
    })
    .await;
    match checked {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(hash, "avatar ignored: {e}");
            false
        }
        Err(e) => {
            tracing::warn!(hash, "avatar check failed: {e}");
            false
        }
    }
}

pub(super) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{:08x}.part",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("avatar"),
        rand::random::<u32>()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

pub(super) fn cached(ctx: &Ctx, hash: &str) -> bool {
    avatar_path(&ctx.data_dir, hash).is_some_and(|p| p.exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_download_per_person_and_per_image() {
        let f = Fetching::default();
        let started = (0..100_000)
            .filter(|i| f.start("mallory@evil.example", &format!("{i:040x}")))
            .count();
        assert_eq!(started, 1);
        assert!(
            !f.start("romeo@montague.lit", &format!("{:040x}", 0)),
            "the same image"
        );
        assert!(f.start("romeo@montague.lit", &format!("{:040x}", 1)));
        assert_eq!(f.len(), 2);
        f.done("mallory@evil.example", &format!("{:040x}", 0));
        assert!(f.start("mallory@evil.example", &format!("{:040x}", 2)));
    }
}
