//! The runtime at the head of Tern's AppImage.
//!
//! An AppImage (type 2) is an ELF program followed by a SquashFS image of
//! the application's directory. This runtime finds the image appended to
//! itself, unpacks it once into the user's cache (one directory per build,
//! reused on later starts) and runs the `AppRun` inside. It needs no FUSE,
//! so it runs in containers and sandboxes where mounting is not allowed.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use backhand::{FilesystemReader, InnerNode};

/// The SquashFS magic, at the start of the appended image.
const SQUASHFS_MAGIC: &[u8; 4] = b"hsqs";
/// Size of a SquashFS 4 superblock.
const SUPERBLOCK_LEN: usize = 96;
/// How much of the image's end (its inode, directory and fragment tables)
/// goes into [`image_id`].
const TAIL_LEN: u64 = 64 * 1024;
/// Written last into an unpacked directory: without it, the directory is
/// an interrupted unpacking and is not used.
pub const COMPLETE_MARK: &str = ".tern-complete";

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

/// A name for the image at `offset` that changes with every build: a hash of
/// its superblock (size, creation time, table positions), of its last 64 KiB
/// (the inode and directory tables, which hold every file's size and place)
/// and of its length. Reading these few kilobytes keeps starts fast where
/// hashing the whole image would read 100 MB each time.
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
    let mut hash = Fnv::default();
    hash.write(&size.to_le_bytes());
    hash.write(&superblock);
    hash.write(&tail);
    Ok(format!("{:016x}", hash.0))
}

/// FNV-1a, 64 bits: stable across builds of the runtime, unlike std's
/// hasher. It tells builds apart; it is not a defence against tampering
/// (whoever can change the AppImage can change the runtime too).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
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
/// must not exist yet. Files keep their permission bits (without set-id
/// bits); symbolic links are made as they are; device nodes, pipes and
/// sockets are skipped. Returns the number of entries written.
pub fn extract(appimage: &Path, offset: u64, dest: &Path) -> Result<usize, Error> {
    let file = BufReader::new(File::open(appimage)?);
    let image = FilesystemReader::from_reader_with_offset(file, offset)
        .map_err(|e| Error::BadImage(e.to_string()))?;
    fs::create_dir(dest)?;
    let mut count = 0;
    // Directories get their own permissions last: a read-only directory
    // would otherwise refuse its own files.
    let mut dirs = Vec::new();
    for node in image.files() {
        let rel = relative(&node.fullpath)?;
        let path = dest.join(&rel);
        let mode = u32::from(node.header.permissions) & 0o777;
        match &node.inner {
            InnerNode::Dir(_) => {
                if !rel.as_os_str().is_empty() {
                    fs::create_dir(&path)?;
                }
                dirs.push((path, mode));
            }
            InnerNode::File(f) => {
                let mut out = File::create(&path)?;
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
        fs::set_permissions(&path, fs::Permissions::from_mode(mode | 0o700))?;
    }
    Ok(count)
}

/// Makes sure the image of `appimage` is unpacked below `cache` and returns
/// its directory. A complete directory from an earlier start is reused.
/// Unpacking goes to a temporary sibling that is renamed when complete, so
/// an interrupted start leaves nothing half-made behind the final name, and
/// two starts at once both end up with the same directory.
pub fn unpacked(appimage: &Path, cache: &Path) -> Result<PathBuf, Error> {
    let offset = image_offset(appimage)?;
    let id = image_id(&mut File::open(appimage)?, offset)?;
    let dir = cache.join(&id);
    let mark = dir.join(COMPLETE_MARK);
    if mark.exists() {
        // Its modification time says when this build was last started.
        let _ = touch(&mark);
        return Ok(dir);
    }
    fs::create_dir_all(cache)?;
    let tmp = cache.join(format!(".{id}.{}", std::process::id()));
    if tmp.exists() {
        remove_all(&tmp)?;
    }
    let result = extract(appimage, offset, &tmp).and_then(|_| {
        File::create(tmp.join(COMPLETE_MARK))?;
        Ok(())
    });
    if let Err(e) = result {
        let _ = remove_all(&tmp);
        return Err(e);
    }
    if let Err(e) = fs::rename(&tmp, &dir) {
        // Another start finished first: use its directory.
        let _ = remove_all(&tmp);
        if !mark.exists() {
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
