//! The runtime at the head of Tern's AppImage.
//!
//! An AppImage (type 2) is an ELF program followed by a SquashFS image of
//! the application's directory. This runtime finds the image appended to
//! itself, unpacks it once into the user's cache (one directory per build,
//! reused on later starts) and runs the `AppRun` inside. It needs no FUSE,
//! so it runs in containers and sandboxes where mounting is not allowed.
//!
//! What it runs must be what the image holds: the cache folder and every
//! unpacked file and folder belong to the user and are writable by them
//! only (modes from the image lose their group and other write bits), and
//! an unpacked build is reused only while it matches the record written
//! when it was unpacked ([`COMPLETE_MARK`]: each entry's type, mode, size,
//! inode and change time). Anything else is unpacked again.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use backhand::{FilesystemReader, InnerNode};
use sha2::{Digest, Sha256};

/// The SquashFS magic, at the start of the appended image.
const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
/// Size of a SquashFS 4 superblock.
const SUPERBLOCK_LEN: usize = 96;
/// How much of the image's end (its inode, directory and fragment tables)
/// goes into [`image_id`].
const TAIL_LEN: u64 = 64 * 1024;
/// Written last into an unpacked directory: the record of what was
/// unpacked ([`record`]). Without it the directory is an interrupted
/// unpacking; when the directory no longer matches it, it was changed. In
/// both cases it is not used.
pub const COMPLETE_MARK: &str = ".tern-complete";
/// First line of the record.
const RECORD_HEADER: &str = "tern-appimage record 1";
/// The permission bits an unpacked entry may keep: no set-id or sticky
/// bits, and no writing by group or others.
const KEEP_BITS: u32 = 0o755;

/// Why the runtime cannot go on, in words for the person who started it.
#[derive(Debug)]
pub enum Error {
    /// The file is not a 64-bit little-endian ELF program.
    NotElf,
    /// Nothing that looks like a SquashFS image follows the program.
    NoImage(u64),
    /// The image is there but cannot be read (truncated or corrupt).
    BadImage(String),
    /// A path in the image leaves the directory it is unpacked into.
    UnsafePath(PathBuf),
    /// The cache folder cannot be trusted (another user's, or not a folder).
    UnsafeCache(PathBuf, String),
    /// Reading the AppImage or writing the unpacked files failed.
    Io(io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotElf => write!(f, "this file is not an AppImage for this kind of computer"),
            Error::NoImage(at) => write!(
                f,
                "this AppImage is damaged: no application image at byte {at}; download it again"
            ),
            Error::BadImage(why) => {
                write!(f, "this AppImage is damaged ({why}); download it again")
            }
            Error::UnsafePath(p) => write!(
                f,
                "this AppImage is damaged: it holds a path outside its folder ({})",
                p.display()
            ),
            Error::UnsafeCache(p, why) => write!(
                f,
                "cannot unpack into {}: {why}; remove it, or set XDG_CACHE_HOME to a folder of your own",
                p.display()
            ),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

fn u16_at(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

/// Where the ELF program at the start of `file` ends: the larger of the end
/// of its section header table and the end of its last segment. The
/// SquashFS image starts there.
pub fn elf_end(file: &mut (impl Read + Seek)) -> Result<u64, Error> {
    let len = file.seek(SeekFrom::End(0))?;
    let mut header = [0u8; 64];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut header).map_err(|_| Error::NotElf)?;
    // ELF magic, 64-bit, little-endian.
    if &header[..4] != b"\x7fELF" || header[4] != 2 || header[5] != 1 {
        return Err(Error::NotElf);
    }
    let phoff = u64_at(&header, 0x20);
    let shoff = u64_at(&header, 0x28);
    let phentsize = u16_at(&header, 0x36);
    let phnum = u16_at(&header, 0x38);
    let shentsize = u16_at(&header, 0x3a);
    let shnum = u16_at(&header, 0x3c);
    // Products of 16-bit numbers and sums with 64-bit offsets: checked,
    // since a damaged header must not wrap around.
    let sections = shoff.checked_add(shentsize * shnum).ok_or(Error::NotElf)?;
    let headers = phoff.checked_add(phentsize * phnum).ok_or(Error::NotElf)?;
    let mut end = sections.max(headers);
    if headers > len || phentsize < 0x28 {
        return Err(Error::NotElf);
    }
    let mut ph = vec![0u8; usize::try_from(phentsize * phnum).map_err(|_| Error::NotElf)?];
    file.seek(SeekFrom::Start(phoff))?;
    file.read_exact(&mut ph)?;
    for entry in ph.chunks_exact(usize::try_from(phentsize).map_err(|_| Error::NotElf)?) {
        let offset = u64_at(entry, 0x08);
        let size = u64_at(entry, 0x20);
        end = end.max(offset.checked_add(size).ok_or(Error::NotElf)?);
    }
    if end > len {
        return Err(Error::NotElf);
    }
    Ok(end)
}

/// Checks that a SquashFS image starts at `offset`.
pub fn check_image(file: &mut (impl Read + Seek), offset: u64) -> Result<(), Error> {
    let mut magic = [0u8; 4];
    file.seek(SeekFrom::Start(offset))?;
    match file.read_exact(&mut magic) {
        Ok(()) if &magic == SQUASHFS_MAGIC => Ok(()),
        _ => Err(Error::NoImage(offset)),
    }
}

/// Where the SquashFS image of the AppImage at `appimage` starts, checked.
pub fn image_offset(appimage: &Path) -> Result<u64, Error> {
    let mut file = File::open(appimage)?;
    let offset = elf_end(&mut file)?;
    check_image(&mut file, offset)?;
    Ok(offset)
}

/// A name for the image at `offset` that changes with every build: the
/// SHA-256 of its length, its superblock (size, creation time, table
/// positions) and its last 64 KiB (the inode and directory tables, which
/// hold every file's size and place). Reading these few kilobytes keeps
/// starts fast where hashing the whole image would read 100 MB each time.
/// It names a build; what is run is checked against the unpacked files'
/// record ([`verify`]).
pub fn image_id(file: &mut (impl Read + Seek), offset: u64) -> Result<String, Error> {
    let len = file.seek(SeekFrom::End(0))?;
    let size = len.checked_sub(offset).ok_or(Error::NoImage(offset))?;
    let mut superblock = [0u8; SUPERBLOCK_LEN];
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(&mut superblock)
        .map_err(|_| Error::BadImage("it ends early".into()))?;
    let tail_start = len - size.min(TAIL_LEN);
    let mut tail = Vec::new();
    file.seek(SeekFrom::Start(tail_start))?;
    file.read_to_end(&mut tail)?;
    let mut hash = Sha256::new();
    hash.update(size.to_le_bytes());
    hash.update(superblock);
    hash.update(&tail);
    Ok(hex(&hash.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The path of an image entry below the directory it is unpacked into, or
/// an error when it would leave it (`..`, or a root in the middle).
fn relative(full: &Path) -> Result<PathBuf, Error> {
    let mut out = PathBuf::new();
    for c in full.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(name) => out.push(name),
            Component::ParentDir | Component::Prefix(_) => {
                return Err(Error::UnsafePath(full.to_path_buf()))
            }
        }
    }
    Ok(out)
}

/// Unpacks the SquashFS image at `offset` of `appimage` into `dest`, which
/// must not exist yet. Files and directories keep their permission bits
/// except set-id, sticky, and group and other write bits ([`KEEP_BITS`]);
/// directories are always usable by their owner. Symbolic links are made
/// as they are; device nodes, pipes and sockets are skipped. Returns the
/// number of entries written.
pub fn extract(appimage: &Path, offset: u64, dest: &Path) -> Result<usize, Error> {
    let file = BufReader::new(File::open(appimage)?);
    let image = FilesystemReader::from_reader_with_offset(file, offset)
        .map_err(|e| Error::BadImage(e.to_string()))?;
    // Everything is made for the owner alone first and gets its own mode
    // once written, whatever the umask.
    let private_dir = |path: &Path| fs::DirBuilder::new().mode(0o700).create(path);
    private_dir(dest)?;
    let mut count = 0;
    // Directories get their own permissions last: a read-only directory
    // would otherwise refuse its own files.
    let mut dirs = Vec::new();
    for node in image.files() {
        let rel = relative(&node.fullpath)?;
        let path = dest.join(&rel);
        let mode = u32::from(node.header.permissions) & KEEP_BITS;
        match &node.inner {
            InnerNode::Dir(_) => {
                if !rel.as_os_str().is_empty() {
                    private_dir(&path)?;
                }
                dirs.push((path, mode | 0o700));
            }
            InnerNode::File(f) => {
                let mut out = File::options()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                let mut data = image.file(f).reader();
                io::copy(&mut data, &mut out).map_err(|e| match e.kind() {
                    io::ErrorKind::InvalidData
                    | io::ErrorKind::UnexpectedEof
                    | io::ErrorKind::Other => Error::BadImage(format!("{}: {e}", rel.display())),
                    _ => Error::Io(e),
                })?;
                out.set_permissions(fs::Permissions::from_mode(mode))?;
            }
            InnerNode::Symlink(link) => symlink(&link.link, &path)?,
            _ => continue,
        }
        count += 1;
    }
    for (path, mode) in dirs.into_iter().rev() {
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))?;
    }
    Ok(count)
}

/// The effective user id of this process (from `/proc/self/status`).
pub fn effective_uid() -> io::Result<u32> {
    let status = fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| io::Error::other("/proc/self/status has no Uid line"))
}

/// Bytes as text for the record: printable ASCII except `%` as it is,
/// anything else (spaces, line breaks, other bytes) as `%xx`.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// The record of the unpacked build in `root`: one line per entry below it
/// (except [`COMPLETE_MARK`]), in name order, with its type, mode, size
/// (files), inode and change time, and the target of a symbolic link. An
/// entry that belongs to anyone but `uid`, or that others may write to, is
/// an error: such a build is not used.
pub fn record(root: &Path, uid: u32) -> Result<String, String> {
    let mut out = String::from(RECORD_HEADER);
    out.push('\n');
    record_dir(root, root, uid, &mut out)?;
    Ok(out)
}

fn record_dir(root: &Path, dir: &Path, uid: u32, out: &mut String) -> Result<(), String> {
    let failed = |p: &Path, e: io::Error| format!("{}: {e}", p.display());
    let mut names = fs::read_dir(dir)
        .map_err(|e| failed(dir, e))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| failed(dir, e))?;
    names.sort();
    for name in names {
        if dir == root && name == COMPLETE_MARK {
            continue;
        }
        let path = dir.join(&name);
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let m = fs::symlink_metadata(&path).map_err(|e| failed(rel, e))?;
        if m.uid() != uid {
            return Err(format!("{} belongs to another user", rel.display()));
        }
        let kind = m.file_type();
        let (tag, size) = if kind.is_dir() {
            ('d', 0)
        } else if kind.is_file() {
            ('f', m.len())
        } else if kind.is_symlink() {
            ('l', 0)
        } else {
            return Err(format!("{} is not a file, folder or link", rel.display()));
        };
        let mode = m.mode() & 0o7777;
        if tag != 'l' && mode & !KEEP_BITS & 0o7077 != 0 {
            return Err(format!(
                "{} may be changed by others ({mode:o})",
                rel.display()
            ));
        }
        out.push_str(&format!(
            "{tag} {mode:o} {size} {} {}.{:09} {}",
            m.ino(),
            m.ctime(),
            m.ctime_nsec(),
            escaped(rel.as_os_str().as_bytes())
        ));
        if tag == 'l' {
            let target = fs::read_link(&path).map_err(|e| failed(rel, e))?;
            out.push_str(" -> ");
            out.push_str(&escaped(target.as_os_str().as_bytes()));
        }
        out.push('\n');
        if tag == 'd' {
            record_dir(root, &path, uid, out)?;
        }
    }
    Ok(())
}

/// Whether `path` is a folder or file of `uid` that others cannot write to.
fn owned_privately(path: &Path, uid: u32, want_dir: bool) -> Result<(), String> {
    let m = fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if m.file_type().is_dir() != want_dir || m.file_type().is_symlink() {
        return Err(format!(
            "{} is not a {}",
            path.display(),
            if want_dir { "folder" } else { "file" }
        ));
    }
    if m.uid() != uid {
        return Err(format!("{} belongs to another user", path.display()));
    }
    if m.mode() & 0o022 != 0 {
        return Err(format!("{} may be changed by others", path.display()));
    }
    Ok(())
}

/// Checks that the unpacked build in `dir` is as it was unpacked: it and
/// its record belong to `uid` and others cannot write to them, and its
/// entries match the record (nothing added, removed, rewritten, replaced
/// or given other modes). `Err` says what differs.
pub fn verify(dir: &Path, uid: u32) -> Result<(), String> {
    owned_privately(dir, uid, true)?;
    let mark = dir.join(COMPLETE_MARK);
    owned_privately(&mark, uid, false)
        .map_err(|_| "it was not completely unpacked, or its record is gone".to_string())?;
    let recorded = fs::read_to_string(&mark).map_err(|e| format!("its record: {e}"))?;
    let now = record(dir, uid)?;
    if recorded == now {
        return Ok(());
    }
    let differs = recorded
        .lines()
        .zip(now.lines())
        .find(|(a, b)| a != b)
        .map(|(a, b)| if a.len() > b.len() { a } else { b })
        .or_else(|| recorded.lines().nth(now.lines().count()))
        .or_else(|| now.lines().nth(recorded.lines().count()))
        .and_then(|line| line.rsplit(' ').find(|w| !w.is_empty() && *w != "->"))
        .unwrap_or("?");
    Err(format!("{differs} changed after it was unpacked"))
}

/// Makes `dir` (the cache folder) a folder of `uid` that others cannot
/// write to: created 0700 when missing, its mode tightened when others may
/// write to it; another user's folder is refused.
fn own_cache(dir: &Path, uid: u32) -> Result<(), Error> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            if let Some(parent) = dir.parent() {
                fs::create_dir_all(parent)?;
            }
            match fs::DirBuilder::new().mode(0o700).create(dir) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e.into()),
    }
    let m = fs::metadata(dir)?;
    if !m.is_dir() {
        return Err(Error::UnsafeCache(dir.into(), "it is not a folder".into()));
    }
    if m.uid() != uid {
        return Err(Error::UnsafeCache(
            dir.into(),
            "it belongs to another user".into(),
        ));
    }
    if m.mode() & 0o022 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Makes sure the image of `appimage` is unpacked below `cache` and returns
/// its directory. A directory from an earlier start is reused when it is
/// as it was unpacked ([`verify`]); otherwise it is removed and the image
/// unpacked again (saying so on stderr). Unpacking goes to a temporary
/// sibling that is renamed when complete, so an interrupted start leaves
/// nothing half-made behind the final name, and two starts at once both
/// end up with the same directory.
pub fn unpacked(appimage: &Path, cache: &Path) -> Result<PathBuf, Error> {
    let offset = image_offset(appimage)?;
    let id = image_id(&mut File::open(appimage)?, offset)?;
    let uid = effective_uid()?;
    own_cache(cache, uid)?;
    let dir = cache.join(&id);
    let mark = dir.join(COMPLETE_MARK);
    if fs::symlink_metadata(&dir).is_ok() {
        match verify(&dir, uid) {
            Ok(()) => {
                // Its modification time says when this build was last started.
                let _ = touch(&mark);
                return Ok(dir);
            }
            Err(why) => {
                eprintln!(
                    "Tern: the unpacked copy in {} is not as it was unpacked ({why}); unpacking it again",
                    dir.display()
                );
                remove_entry(&dir)?;
            }
        }
    }
    let tmp = cache.join(format!(".{id}.{}", std::process::id()));
    if fs::symlink_metadata(&tmp).is_ok() {
        remove_entry(&tmp)?;
    }
    let result = extract(appimage, offset, &tmp).and_then(|_| {
        let record = record(&tmp, uid).map_err(|why| Error::Io(io::Error::other(why)))?;
        let mut out = File::options()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(tmp.join(COMPLETE_MARK))?;
        out.write_all(record.as_bytes())?;
        out.sync_all()?;
        Ok(())
    });
    if let Err(e) = result {
        let _ = remove_entry(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        // Another start finished first: use its directory.
        let _ = remove_entry(&tmp);
        if verify(&dir, uid).is_err() {
            return Err(e.into());
        }
    }
    Ok(dir)
}

fn touch(path: &Path) -> io::Result<()> {
    File::options()
        .write(true)
        .open(path)?
        .set_modified(std::time::SystemTime::now())
}

/// Removes `path`: a folder with everything in it, or a file or link (a
/// link is never followed).
fn remove_entry(path: &Path) -> io::Result<()> {
    if fs::symlink_metadata(path)?.file_type().is_dir() {
        remove_all(path)
    } else {
        fs::remove_file(path)
    }
}

fn remove_all(dir: &Path) -> io::Result<()> {
    // Unpacked directories are made writable by their owner first, in case
    // an image held a read-only directory.
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o700))?;
            remove_all(&entry.path())?;
        } else {
            fs::remove_file(entry.path())?;
        }
    }
    fs::remove_dir(dir)
}

/// Removes the unpacked builds in `cache` other than `keep` that were last
/// started more than `max_age` ago, and interrupted unpackings as old.
/// Returns how many went. Errors are skipped: an old directory that cannot
/// be removed now can be next time.
pub fn remove_stale(cache: &Path, keep: &Path, max_age: std::time::Duration) -> usize {
    let Ok(entries) = fs::read_dir(cache) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let mark = path.join(COMPLETE_MARK);
        let last_used = fs::metadata(&mark)
            .or_else(|_| fs::metadata(&path))
            .and_then(|m| m.modified());
        let stale = last_used
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > max_age);
        if stale && remove_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn elf(phdrs: &[(u64, u64)], shoff: u64, shnum: u16, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x28..0x30].copy_from_slice(&shoff.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        b[0x3a..0x3c].copy_from_slice(&64u16.to_le_bytes());
        b[0x3c..0x3e].copy_from_slice(&shnum.to_le_bytes());
        for (i, (off, size)) in phdrs.iter().enumerate() {
            let at = 64 + i * 56;
            b[at + 8..at + 16].copy_from_slice(&off.to_le_bytes());
            b[at + 0x20..at + 0x28].copy_from_slice(&size.to_le_bytes());
        }
        b
    }

    #[test]
    fn the_program_ends_after_its_sections_or_its_last_segment() {
        let b = elf(&[(0, 1000), (1000, 500)], 2000, 3, 4096);
        assert_eq!(elf_end(&mut Cursor::new(b)).unwrap(), 2000 + 3 * 64);
        let b = elf(&[(0, 1000), (1000, 3000)], 2000, 3, 4096);
        assert_eq!(elf_end(&mut Cursor::new(b)).unwrap(), 4000);
    }

    #[test]
    fn hostile_headers_are_refused_without_a_panic() {
        assert!(matches!(
            elf_end(&mut Cursor::new(b"#!/bin/sh\n".to_vec())),
            Err(Error::NotElf)
        ));
        assert!(matches!(
            elf_end(&mut Cursor::new(Vec::new())),
            Err(Error::NotElf)
        ));
        // Offsets that overflow, or point past the end of the file.
        let b = elf(&[(u64::MAX - 10, 100)], 100, 1, 4096);
        assert!(matches!(elf_end(&mut Cursor::new(b)), Err(Error::NotElf)));
        let b = elf(&[], u64::MAX, 2, 4096);
        assert!(matches!(elf_end(&mut Cursor::new(b)), Err(Error::NotElf)));
        let b = elf(&[(0, 100_000)], 100, 1, 4096);
        assert!(matches!(elf_end(&mut Cursor::new(b)), Err(Error::NotElf)));
        // 32-bit and big-endian programs are not ours.
        let mut b = elf(&[], 100, 1, 4096);
        b[4] = 1;
        assert!(matches!(elf_end(&mut Cursor::new(b)), Err(Error::NotElf)));
    }

    #[test]
    fn paths_that_leave_the_directory_are_refused() {
        assert_eq!(
            relative(Path::new("/usr/bin/tern")).unwrap(),
            PathBuf::from("usr/bin/tern")
        );
        assert_eq!(relative(Path::new("/")).unwrap(), PathBuf::new());
        assert!(matches!(
            relative(Path::new("/usr/../../etc/passwd")),
            Err(Error::UnsafePath(_))
        ));
    }

    #[test]
    fn the_record_names_every_entry_safely() {
        assert_eq!(escaped(b"usr/lib/libx.so.1"), "usr/lib/libx.so.1");
        assert_eq!(escaped(b"a b\n%c\xff"), "a%20b%0a%25c%ff");
    }

    #[test]
    fn the_id_changes_with_the_image_and_not_with_the_program() {
        let mut image = vec![7u8; 200_000];
        image[..4].copy_from_slice(SQUASHFS_MAGIC);
        let with = |program: usize, image: &[u8]| {
            let mut b = vec![1u8; program];
            b.extend_from_slice(image);
            image_id(&mut Cursor::new(b), program as u64).unwrap()
        };
        let a = with(100, &image);
        assert_eq!(a, with(5000, &image));
        let mut changed = image.clone();
        *changed.last_mut().unwrap() = 8;
        assert_ne!(a, with(100, &changed));
        let mut changed = image.clone();
        changed[20] = 9; // the superblock's creation time
        assert_ne!(a, with(100, &changed));
        assert!(matches!(
            image_id(&mut Cursor::new(vec![0u8; 50]), 10),
            Err(Error::BadImage(_))
        ));
    }
}
