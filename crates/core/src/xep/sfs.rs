//! XEP-0447: Stateless File Sharing, with the XEP-0446 file metadata it
//! carries (XEP-0300 hashes, XEP-0264 thumbnails) and XEP-0367 attached
//! sources.
//!
//! What other clients send and read:
//!
//! - Dino (main branch, not 0.4) shares an unencrypted upload in two
//!   messages. First, with no body: `<file-sharing xmlns='urn:xmpp:sfs:0'
//!   id='<uuid>'>` holding `<file xmlns='urn:xmpp:file:metadata:0'>` (name,
//!   `media-type` and the old misspelling `media_type`, size, date, width,
//!   height, sha-256 and sha-512 `<hash xmlns='urn:xmpp:hashes:2'>`, and
//!   for images a thumbnail) and no sources, plus `<store
//!   xmlns='urn:xmpp:hints'/>`. After the upload, a second message with the
//!   URL as body, `<x xmlns='jabber:x:oob'>` with the same URL, `<attach-to
//!   xmlns='urn:xmpp:message-attaching:1' id='<first message's id; its
//!   stanza-id in a group chat>'/>` and `<sources xmlns='urn:xmpp:sfs:0'
//!   id='<uuid>'>` holding `<url-data xmlns='http://jabber.org/protocol/url-data'
//!   target='<URL>'/>`. No `disposition`. Encrypted (OMEMO) files carry no
//!   SFS at all: the body is the `aesgcm://` URL.
//! - Dino takes a `<file-sharing/>` only when its file has a hash it knows
//!   (sha-1, sha-256, sha-384, sha-512); otherwise the message is read as
//!   text. Of the sources it reads the first `url-data` only, inline or
//!   attached later. A thumbnail's `uri` must start with exactly
//!   `data:image/png;base64,` (or be a `cid:…@bob.xmpp.org` it already
//!   holds); its own thumbnails are PNGs of at most 8 pixels a side (a
//!   blurred placeholder), `media-type='image/png'`. A message whose body
//!   equals its OOB URL (https, no fragment) or is an `aesgcm://` URL is a
//!   file without SFS.
//! - Conversations sends no SFS, file metadata or thumbnails: the body is
//!   the URL and `<x xmlns='jabber:x:oob'><url>` repeats it (a message is a
//!   file when both are equal); with OMEMO, the `aesgcm://` URL is the
//!   encrypted body, with a 12-byte IV since 2020 (16 bytes before).
//!   Some clients derived from it add, in the same message, a
//!   `<file-sharing disposition='inline'>` with `media-type`, `size`, the
//!   pre-0.2 `<dimensions>WxH</dimensions>`, a sha-256 hash, a
//!   `data:image/jpeg;base64,` thumbnail and an inline `url-data` source.
//! - The XEP's own examples put thumbnails as `cid:` URIs for XEP-0231
//!   Bits of Binary.
//!
//! So Tern shares a file in one message: the URL as body with the OOB
//! element (for Conversations and older clients), and [`file_sharing`]
//! with a sha-256 hash, a PNG `data:` thumbnail and the source inline (for
//! Dino, which then ignores the body). [`read`] takes all of the above.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use xmpp_parsers::minidom::Element;

use super::oob::has_scheme;
use super::{bounded_id, clean_text, with_attr, xml_text};

/// XEP-0447: the namespace of stateless file sharing.
pub(crate) const NS_SFS: &str = "urn:xmpp:sfs:0";
/// XEP-0446: the namespace of file metadata.
pub(crate) const NS_FILE_META: &str = "urn:xmpp:file:metadata:0";
/// XEP-0300: the namespace of hashes.
pub(crate) const NS_HASHES: &str = "urn:xmpp:hashes:2";
/// XEP-0264: the namespace of thumbnails.
pub(crate) const NS_THUMBS: &str = "urn:xmpp:thumbs:1";
/// XEP-0103: the namespace of URL sources.
pub(crate) const NS_URL_DATA: &str = "http://jabber.org/protocol/url-data";
/// XEP-0367: the namespace of attaching to a message.
pub(crate) const NS_ATTACHING: &str = "urn:xmpp:message-attaching:1";
/// XEP-0231: the namespace of Bits of Binary.
pub(crate) const NS_BOB: &str = "urn:xmpp:bob";

/// Longest file name kept, in bytes.
pub(crate) const MAX_NAME_BYTES: usize = 255;
/// Largest file size believed, in bytes (1 TiB).
pub(crate) const MAX_FILE_SIZE: u64 = 1 << 40;
/// Largest width or height believed, in pixels.
pub(crate) const MAX_DIMENSION: u32 = 1 << 20;
/// Most thumbnails kept from one file.
pub(crate) const MAX_THUMBNAILS: usize = 4;
/// Longest `data:` URI read, in bytes.
pub(crate) const MAX_DATA_URI: usize = 64 * 1024;
/// Most sources kept from one file.
pub(crate) const MAX_SOURCES: usize = 8;
/// Longest source URL kept, in bytes.
pub(crate) const MAX_URL_LEN: usize = 4096;
/// Longest description shown, in characters.
const MAX_DESC: usize = 4000;
/// Longest thumbnail URI sent, in bytes. rxml's default parser settings
/// (which published tokio-xmpp uses) refuse an attribute value over 8 KiB
/// and with it the whole stream, so a larger thumbnail would cut off
/// clients built on them (Tern's own parser takes 256 KiB).
pub(crate) const MAX_SENT_THUMBNAIL_URI: usize = 8000;
/// Longest `cid:` URI kept, in bytes.
const MAX_CID: usize = 256;
/// Longest media type kept, in bytes (RFC 6838: 127 a part).
const MAX_MEDIA_TYPE: usize = 255;

/// What a file is, as its sender describes it (XEP-0446).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FileMeta {
    /// The file's name, without any directory.
    pub(crate) name: Option<String>,
    /// Its media type, lowercase (`image/jpeg`).
    pub(crate) media_type: Option<String>,
    /// Its size in bytes.
    pub(crate) size: Option<u64>,
    /// The width of an image or video, in pixels.
    pub(crate) width: Option<u32>,
    /// The height of an image or video, in pixels.
    pub(crate) height: Option<u32>,
    /// The SHA-256 of its content.
    pub(crate) sha256: Option<[u8; 32]>,
    /// What it shows, in the sender's words.
    pub(crate) desc: Option<String>,
    /// Small previews (at most [`MAX_THUMBNAILS`]).
    pub(crate) thumbnails: Vec<Thumbnail>,
}

/// A preview of a file (XEP-0264).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Thumbnail {
    /// Where the preview is: a `data:` URI (see [`read_data_uri`]) or a
    /// `cid:` URI for Bits of Binary (see [`read_bob`]).
    pub(crate) uri: String,
    /// The preview's media type.
    pub(crate) media_type: Option<String>,
    /// Its width, in pixels.
    pub(crate) width: Option<u32>,
    /// Its height, in pixels.
    pub(crate) height: Option<u32>,
}

/// A file shared in a message (XEP-0447).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shared {
    /// What the file is.
    pub(crate) meta: FileMeta,
    /// Where to get it: `https` or `aesgcm` URLs, in the sender's order
    /// (none yet when the sources are attached later).
    pub(crate) sources: Vec<String>,
    /// The share's id, which later attached sources refer to.
    pub(crate) id: Option<String>,
}

/// Sources attached to a file shared in an earlier message (XEP-0447 §4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AttachedSources {
    /// The id of the message the file was shared in (its stanza-id in a
    /// group chat).
    pub(crate) message_id: String,
    /// The share's id within that message, if given.
    pub(crate) id: Option<String>,
    /// The new sources (at least one).
    pub(crate) sources: Vec<String>,
}

/// The `<file-sharing/>` element sharing a file described by `meta`,
/// downloadable from `sources`, with the share id `id` (which Dino keeps
/// to match sources attached later). Images, videos and sound are marked
/// to be shown inline.
pub(crate) fn file_sharing(meta: &FileMeta, sources: &[String], id: Option<&str>) -> Element {
    let mut b = Element::builder("file-sharing", NS_SFS);
    if let Some(id) = id {
        b = with_attr(b, "id", id);
    }
    let inline = meta.media_type.as_deref().is_some_and(|m| {
        m.starts_with("image/") || m.starts_with("video/") || m.starts_with("audio/")
    });
    if inline {
        b = with_attr(b, "disposition", "inline");
    }
    b = b.append(file_element(meta));
    if !sources.is_empty() {
        b = b.append(sources_element(sources, None));
    }
    b.build()
}

/// The XEP-0446 `<file/>` element for `meta`. Thumbnails with a URI over
/// [`MAX_SENT_THUMBNAIL_URI`] bytes are left out.
pub(crate) fn file_element(meta: &FileMeta) -> Element {
    let child = |name: &str, text: &str| {
        Element::builder(name, NS_FILE_META)
            .append(xml_text(text))
            .build()
    };
    let mut b = Element::builder("file", NS_FILE_META);
    if let Some(t) = &meta.media_type {
        b = b.append(child("media-type", t));
    }
    if let Some(n) = &meta.name {
        b = b.append(child("name", n));
    }
    if let Some(s) = meta.size {
        b = b.append(child("size", &s.to_string()));
    }
    if let Some(w) = meta.width {
        b = b.append(child("width", &w.to_string()));
    }
    if let Some(h) = meta.height {
        b = b.append(child("height", &h.to_string()));
    }
    if let Some(d) = &meta.desc {
        b = b.append(child("desc", d));
    }
    if let Some(hash) = &meta.sha256 {
        b = b.append(
            with_attr(Element::builder("hash", NS_HASHES), "algo", "sha-256")
                .append(STANDARD.encode(hash))
                .build(),
        );
    }
    for t in meta
        .thumbnails
        .iter()
        .filter(|t| t.uri.len() <= MAX_SENT_THUMBNAIL_URI)
    {
        let mut tb = with_attr(Element::builder("thumbnail", NS_THUMBS), "uri", &t.uri);
        if let Some(m) = &t.media_type {
            tb = with_attr(tb, "media-type", m);
        }
        if let Some(w) = t.width {
            tb = with_attr(tb, "width", &w.to_string());
        }
        if let Some(h) = t.height {
            tb = with_attr(tb, "height", &h.to_string());
        }
        b = b.append(tb.build());
    }
    b.build()
}

/// A `<sources/>` element listing `sources` as `url-data`; `id` names the
/// share when it is sent on its own (attached).
fn sources_element(sources: &[String], id: Option<&str>) -> Element {
    let mut b = Element::builder("sources", NS_SFS);
    if let Some(id) = id {
        b = with_attr(b, "id", id);
    }
    for s in sources {
        b = b.append(with_attr(Element::builder("url-data", NS_URL_DATA), "target", s).build());
    }
    b.build()
}

/// The elements attaching `sources` to the file shared as `id` in the
/// message `message_id` (its stanza-id in a group chat): an `<attach-to/>`
/// and a `<sources/>`, as Dino sends them after an upload.
#[cfg(test)]
/// (Tern sends sources inline; this builds what Dino sends, for tests.)
pub(crate) fn attach_sources(
    message_id: &str,
    id: Option<&str>,
    sources: &[String],
) -> [Element; 2] {
    let attach = with_attr(
        Element::builder("attach-to", NS_ATTACHING),
        "id",
        message_id,
    )
    .build();
    [attach, sources_element(sources, id)]
}

/// The first file shared among `payloads` (a `<file-sharing/>` with a
/// `<file/>`), its metadata cleaned and bounded, its sources only `https`
/// and `aesgcm` URLs.
pub(crate) fn read(payloads: &[Element]) -> Option<Shared> {
    payloads
        .iter()
        .filter(|p| p.is("file-sharing", NS_SFS))
        .find_map(|fs| {
            let meta = read_file(fs.get_child("file", NS_FILE_META)?);
            let sources = fs
                .get_child("sources", NS_SFS)
                .map(read_sources)
                .unwrap_or_default();
            let id = fs.attr("id").and_then(bounded_id);
            Some(Shared { meta, sources, id })
        })
}

/// Sources attached to an earlier message among `payloads`: an
/// `<attach-to/>` with an id and a `<sources/>` with at least one usable
/// URL.
pub(crate) fn read_attached(payloads: &[Element]) -> Option<AttachedSources> {
    let message_id = payloads
        .iter()
        .find(|p| p.is("attach-to", NS_ATTACHING))?
        .attr("id")
        .and_then(bounded_id)?;
    let (id, sources) = payloads
        .iter()
        .filter(|p| p.is("sources", NS_SFS))
        .map(|s| (s.attr("id").and_then(bounded_id), read_sources(s)))
        .find(|(_, sources)| !sources.is_empty())?;
    Some(AttachedSources {
        message_id,
        id,
        sources,
    })
}

/// The usable URLs in a `<sources/>` element.
fn read_sources(sources: &Element) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for target in sources
        .children()
        .filter(|u| u.is("url-data", NS_URL_DATA))
        .filter_map(|u| u.attr("target"))
    {
        let target = target.trim();
        if target.len() <= MAX_URL_LEN
            && has_scheme(target, &["https://", "aesgcm://"])
            && !out.iter().any(|s| s == target)
        {
            out.push(target.to_string());
            if out.len() == MAX_SOURCES {
                break;
            }
        }
    }
    out
}

/// The metadata in a `<file/>` element, each value dropped when malformed.
pub(crate) fn read_file(file: &Element) -> FileMeta {
    let text = |name: &str| file.get_child(name, NS_FILE_META).map(|c| c.text());
    let number = |name: &str| text(name).and_then(|t| t.trim().parse::<u64>().ok());
    let dimension = |v: u64| {
        u32::try_from(v)
            .ok()
            .filter(|&v| v > 0 && v <= MAX_DIMENSION)
    };
    let mut width = number("width").and_then(dimension);
    let mut height = number("height").and_then(dimension);
    if width.is_none() && height.is_none() {
        // XEP-0446 before 0.2: <dimensions>WxH</dimensions>.
        if let Some((w, h)) = text("dimensions")
            .as_deref()
            .and_then(|d| d.trim().split_once('x'))
        {
            width = w.trim().parse().ok().and_then(dimension);
            height = h.trim().parse().ok().and_then(dimension);
        }
    }
    let sha256 = file
        .children()
        .filter(|h| h.is("hash", NS_HASHES) && h.attr("algo") == Some("sha-256"))
        .find_map(|h| {
            let t = h.text();
            let t = t.trim();
            if t.len() > 64 {
                return None;
            }
            lenient().decode(t).ok()?.try_into().ok()
        });
    let thumbnails = file
        .children()
        .filter(|t| t.is("thumbnail", NS_THUMBS))
        .filter_map(read_thumbnail)
        .take(MAX_THUMBNAILS)
        .collect();
    FileMeta {
        name: text("name").and_then(|n| file_name(&n)),
        media_type: text("media-type")
            .or_else(|| text("media_type"))
            .and_then(|m| media_type(&m)),
        size: number("size").filter(|&s| s <= MAX_FILE_SIZE),
        width,
        height,
        sha256,
        desc: text("desc").and_then(|d| clean_text(&d, MAX_DESC)),
        thumbnails,
    }
}

/// A thumbnail whose URI is a readable `data:` URI or a `cid:` URI.
fn read_thumbnail(t: &Element) -> Option<Thumbnail> {
    let uri = t.attr("uri")?.trim();
    let ok = if starts_with_ignore_case(uri, "data:") {
        read_data_uri(uri).is_some()
    } else {
        starts_with_ignore_case(uri, "cid:")
            && uri.len() > 4
            && uri.len() <= MAX_CID
            && !uri.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    if !ok {
        return None;
    }
    let dimension = |name: &str| {
        t.attr(name)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&v| v > 0 && v <= MAX_DIMENSION)
    };
    Some(Thumbnail {
        uri: uri.to_string(),
        media_type: t.attr("media-type").and_then(media_type),
        width: dimension("width"),
        height: dimension("height"),
    })
}

/// A `data:` URI carrying `bytes` as `media_type`, in base64.
pub(crate) fn data_uri(media_type: &str, bytes: &[u8]) -> String {
    let media_type =
        self::media_type(media_type).unwrap_or_else(|| "application/octet-stream".into());
    format!("data:{media_type};base64,{}", STANDARD.encode(bytes))
}

/// The media type (lowercase, without parameters) and bytes of a base64
/// `data:` URI of at most [`MAX_DATA_URI`] bytes; whitespace in the data
/// and missing padding are forgiven.
pub(crate) fn read_data_uri(uri: &str) -> Option<(String, Vec<u8>)> {
    if uri.len() > MAX_DATA_URI || !starts_with_ignore_case(uri, "data:") {
        return None;
    }
    let (header, data) = uri["data:".len()..].split_once(',')?;
    let (params, last) = header.rsplit_once(';')?;
    if !last.trim().eq_ignore_ascii_case("base64") {
        return None;
    }
    let media = params.split(';').next().unwrap_or_default();
    let media = if media.trim().is_empty() {
        "text/plain".to_string()
    } else {
        media_type(media)?
    };
    let data: Vec<u8> = data.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = lenient().decode(data).ok()?;
    Some((media, bytes))
}

/// The media type and bytes of the Bits of Binary data `uri` (`cid:…`)
/// names, if one of `payloads` carries it (XEP-0231 `<data/>`, at most
/// [`MAX_DATA_URI`] bytes of base64).
pub(crate) fn read_bob(payloads: &[Element], uri: &str) -> Option<(String, Vec<u8>)> {
    if !starts_with_ignore_case(uri, "cid:") {
        return None;
    }
    let cid = &uri["cid:".len()..];
    let data = payloads
        .iter()
        .find(|p| p.is("data", NS_BOB) && p.attr("cid") == Some(cid))?;
    let text = data.text();
    if text.len() > MAX_DATA_URI {
        return None;
    }
    let text: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let bytes = lenient().decode(text).ok()?;
    let media = data
        .attr("type")
        .and_then(media_type)
        .unwrap_or_else(|| "application/octet-stream".into());
    Some((media, bytes))
}

/// A file name fit to save under: only its last path component, without
/// control or bidirectional-override characters, characters Windows
/// refuses turned to `_`, without leading dots or trailing dots and
/// spaces, at most [`MAX_NAME_BYTES`] bytes (keeping a short extension).
pub(crate) fn file_name(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last
        .chars()
        .filter(|&c| {
            !c.is_control()
                && !matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        })
        .map(|c| if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') { '_' } else { c })
        .collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .trim();
    if trimmed.is_empty() {
        return None;
    }
    if trimmed.len() <= MAX_NAME_BYTES {
        return Some(trimmed.to_string());
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 16 => (stem, Some(ext)),
        _ => (trimmed, None),
    };
    let room = MAX_NAME_BYTES - ext.map_or(0, |e| e.len() + 1);
    let mut cut = room.min(stem.len());
    while !stem.is_char_boundary(cut) {
        cut -= 1;
    }
    let stem = stem[..cut].trim_end_matches(['.', ' ']);
    Some(match ext {
        Some(ext) => format!("{stem}.{ext}"),
        None => stem.to_string(),
    })
}

/// `s` as a media type (`type/subtype`, RFC 6838 characters), lowercase,
/// without parameters.
pub(crate) fn media_type(s: &str) -> Option<String> {
    let s = s.split(';').next().unwrap_or_default().trim();
    let (ty, sub) = s.split_once('/')?;
    let part = |p: &str| {
        !p.is_empty()
            && p.len() <= 127
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    (s.len() <= MAX_MEDIA_TYPE && part(ty) && part(sub)).then(|| s.to_ascii_lowercase())
}

/// Whether `s` starts with `prefix`, ignoring ASCII case.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// Standard base64 with or without padding.
fn lenient() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xep::{el, tight, wire};

    fn payloads(message: &str) -> Vec<Element> {
        el(message).children().cloned().collect()
    }

    /// A 1×1 PNG.
    const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

    #[test]
    fn reads_the_xep_examples() {
        // XEP-0447 §4.1, Example 1 (version 0.3).
        let m = payloads("<message xmlns='jabber:client' from='juliet@shakespeare.lit/desktop' to='romeo@montague.lit' id='sharing-a-file'>
  <file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>
    <file xmlns='urn:xmpp:file:metadata:0'>
      <media-type>image/jpeg</media-type>
      <name>summit.jpg</name>
      <size>3032449</size>
      <width>4096</width>
      <height>2160</height>
      <hash xmlns='urn:xmpp:hashes:2' algo='sha3-256'>2XarmwTlNxDAMkvymloX3S5+VbylNrJt/l5QyPa+YoU=</hash>
      <hash xmlns='urn:xmpp:hashes:2' algo='id-blake2b256'>2AfMGH8O7UNPTvUVAM9aK13mpCY=</hash>
      <desc>Photo from the summit.</desc>
      <thumbnail xmlns='urn:xmpp:thumbs:1' uri='cid:sha1+ffd7c8d28e9c5e82afea41f97108c6b4@bob.xmpp.org' media-type='image/png' width='128' height='96'/>
    </file>
    <sources>
      <url-data xmlns='http://jabber.org/protocol/url-data' target='https://download.montague.lit/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/summit.jpg' />
      <jinglepub xmlns='urn:xmpp:jinglepub:1' from='juliet@shakespeare.lit/desktop' id='9559976B-3FBF-4E7E-B457-2DAA225972BB'>
        <description xmlns='urn:xmpp:jingle:apps:file-transfer:5' />
      </jinglepub>
    </sources>
  </file-sharing>
</message>");
        assert_eq!(
            read(&m),
            Some(Shared {
                meta: FileMeta {
                    name: Some("summit.jpg".into()),
                    media_type: Some("image/jpeg".into()),
                    size: Some(3_032_449),
                    width: Some(4096),
                    height: Some(2160),
                    sha256: None,
                    desc: Some("Photo from the summit.".into()),
                    thumbnails: vec![Thumbnail {
                        uri: "cid:sha1+ffd7c8d28e9c5e82afea41f97108c6b4@bob.xmpp.org".into(),
                        media_type: Some("image/png".into()),
                        width: Some(128),
                        height: Some(96),
                    }],
                },
                sources: vec![
                    "https://download.montague.lit/4a771ac1-f0b2-4a4a-9700-f2a26fa2bb67/summit.jpg"
                        .into()
                ],
                id: None,
            })
        );

        // XEP-0447 §4.2, Example 3: sources attached later.
        let m = payloads("<message xmlns='jabber:client' from='juliet@shakespeare.lit/desktop' to='romeo@montague.lit' id='adding-a-source'>
  <attach-to xmlns='urn:xmpp:message-attaching:1' id='sharing-a-file'/>
  <sources xmlns='urn:xmpp:sfs:0'>
    <url-data xmlns='http://jabber.org/protocol/url-data' target='https://download.montague.lit/51078299-d071-46e1-b6d3-3de4a8ab67d6/summit.jpg' />
  </sources>
</message>");
        assert_eq!(read(&m), None);
        assert_eq!(
            read_attached(&m),
            Some(AttachedSources {
                message_id: "sharing-a-file".into(),
                id: None,
                sources: vec![
                    "https://download.montague.lit/51078299-d071-46e1-b6d3-3de4a8ab67d6/summit.jpg"
                        .into()
                ],
            })
        );

        // XEP-0446 §2, Example 1 (a sha-1 hash, which is not kept).
        let f = read_file(&el("<file xmlns='urn:xmpp:file:metadata:0'>
  <media-type>text/plain</media-type>
  <name>test.txt</name>
  <date>2015-07-26T21:46:00+01:00</date>
  <size>6144</size>
  <hash xmlns='urn:xmpp:hashes:2' algo='sha-1'>w0mcJylzCn+AfvuGdqkty2+KP48=</hash>
</file>"));
        assert_eq!(
            f,
            FileMeta {
                name: Some("test.txt".into()),
                media_type: Some("text/plain".into()),
                size: Some(6144),
                ..FileMeta::default()
            }
        );
    }

    #[test]
    fn reads_what_dino_sends() {
        // The announcement: no body, no sources yet, both spellings of the
        // media type, sha-256 and sha-512, a tiny PNG thumbnail.
        let m = payloads(&format!("<message xmlns='jabber:client' type='chat' id='5b4c'>
  <file-sharing xmlns='urn:xmpp:sfs:0' id='0f9a6c5e-8d1b-4c1e-9a62-4ad4e0b0c7a1'>
    <file xmlns='urn:xmpp:file:metadata:0'>
      <name>IMG_2041.png</name>
      <media_type>image/png</media_type>
      <media-type>image/png</media-type>
      <size>48213</size>
      <date>2026-11-30T10:04:12Z</date>
      <width>800</width>
      <height>600</height>
      <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</hash>
      <hash xmlns='urn:xmpp:hashes:2' algo='sha-512'>z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==</hash>
      <thumbnail xmlns='urn:xmpp:thumbs:1' uri='data:image/png;base64,{PNG}' media-type='image/png' width='4' height='3'/>
    </file>
  </file-sharing>
  <store xmlns='urn:xmpp:hints'/>
</message>"));
        let shared = read(&m).unwrap();
        assert_eq!(
            shared.id.as_deref(),
            Some("0f9a6c5e-8d1b-4c1e-9a62-4ad4e0b0c7a1")
        );
        assert!(shared.sources.is_empty());
        assert_eq!(shared.meta.name.as_deref(), Some("IMG_2041.png"));
        assert_eq!(shared.meta.media_type.as_deref(), Some("image/png"));
        assert_eq!(
            (shared.meta.width, shared.meta.height),
            (Some(800), Some(600))
        );
        assert_eq!(
            shared.meta.sha256.map(hex::encode).as_deref(),
            Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
        let thumb = &shared.meta.thumbnails[0];
        let (media, bytes) = read_data_uri(&thumb.uri).unwrap();
        assert_eq!(media, "image/png");
        assert!(bytes.starts_with(b"\x89PNG"));

        // The upload done: body and OOB for older clients, the source
        // attached to the announcement.
        let m = payloads("<message xmlns='jabber:client' type='chat' id='77e1'>
  <body>https://upload.example/ab12/IMG_2041.png</body>
  <x xmlns='jabber:x:oob'><url>https://upload.example/ab12/IMG_2041.png</url></x>
  <attach-to xmlns='urn:xmpp:message-attaching:1' id='5b4c'/>
  <sources xmlns='urn:xmpp:sfs:0' id='0f9a6c5e-8d1b-4c1e-9a62-4ad4e0b0c7a1'>
    <url-data xmlns='http://jabber.org/protocol/url-data' target='https://upload.example/ab12/IMG_2041.png'/>
  </sources>
</message>");
        assert_eq!(
            read_attached(&m),
            Some(AttachedSources {
                message_id: "5b4c".into(),
                id: Some("0f9a6c5e-8d1b-4c1e-9a62-4ad4e0b0c7a1".into()),
                sources: vec!["https://upload.example/ab12/IMG_2041.png".into()],
            })
        );
        // Only the older spelling of the media type.
        let f = read_file(&el(
            "<file xmlns='urn:xmpp:file:metadata:0'><media_type>image/GIF</media_type></file>",
        ));
        assert_eq!(f.media_type.as_deref(), Some("image/gif"));
    }

    #[test]
    fn reads_the_single_message_form() {
        // One message: body and OOB, and a file-sharing with the pre-0.2
        // dimensions, a JPEG data: thumbnail and the source inline.
        let m = payloads("<message xmlns='jabber:client' type='chat'>
  <body>https://share.example/x/cat.jpg</body>
  <x xmlns='jabber:x:oob'><url>https://share.example/x/cat.jpg</url></x>
  <file-sharing xmlns='urn:xmpp:sfs:0' disposition='inline'>
    <file xmlns='urn:xmpp:file:metadata:0'>
      <media-type>image/jpeg</media-type>
      <size>120334</size>
      <dimensions>1920x1080</dimensions>
      <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=</hash>
      <thumbnail xmlns='urn:xmpp:thumbs:1' uri='data:image/jpeg;base64,/9j/4AAQ
SkZJRg' media-type='image/jpeg' width='32' height='18'/>
    </file>
    <sources>
      <url-data xmlns='http://jabber.org/protocol/url-data' target='https://share.example/x/cat.jpg'/>
    </sources>
  </file-sharing>
</message>");
        let shared = read(&m).unwrap();
        assert_eq!(
            (shared.meta.width, shared.meta.height),
            (Some(1920), Some(1080))
        );
        assert_eq!(shared.meta.size, Some(120_334));
        assert!(shared.meta.sha256.is_some());
        assert_eq!(
            shared.sources,
            vec!["https://share.example/x/cat.jpg".to_string()]
        );
        let (media, bytes) = read_data_uri(&shared.meta.thumbnails[0].uri).unwrap();
        assert_eq!(media, "image/jpeg");
        assert!(bytes.starts_with(&[0xFF, 0xD8, 0xFF]));
    }

    fn sample() -> FileMeta {
        FileMeta {
            name: Some("summit.png".into()),
            media_type: Some("image/png".into()),
            size: Some(3_032_449),
            width: Some(4096),
            height: Some(2160),
            sha256: Some([0xAB; 32]),
            desc: Some("Photo from the summit.".into()),
            thumbnails: vec![Thumbnail {
                uri: data_uri("image/png", &STANDARD.decode(PNG).unwrap()),
                media_type: Some("image/png".into()),
                width: Some(8),
                height: Some(4),
            }],
        }
    }

    #[test]
    fn builds_what_dino_reads() {
        let sources = vec!["https://up.example/f/summit.png".to_string()];
        let got = wire(file_sharing(&sample(), &sources, Some("c0ffee")));
        let want = tight(&format!("<file-sharing xmlns='urn:xmpp:sfs:0' id='c0ffee' disposition='inline'>
  <file xmlns='urn:xmpp:file:metadata:0'>
    <media-type>image/png</media-type>
    <name>summit.png</name>
    <size>3032449</size>
    <width>4096</width>
    <height>2160</height>
    <desc>Photo from the summit.</desc>
    <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>{}</hash>
    <thumbnail xmlns='urn:xmpp:thumbs:1' uri='data:image/png;base64,{PNG}' media-type='image/png' width='8' height='4'/>
  </file>
  <sources>
    <url-data xmlns='http://jabber.org/protocol/url-data' target='https://up.example/f/summit.png'/>
  </sources>
</file-sharing>", STANDARD.encode([0xAB; 32])));
        assert_eq!(got, want);
        // Dino's reading: the thumbnail's URI starts with exactly this.
        let thumb = got
            .get_child("file", NS_FILE_META)
            .and_then(|f| f.get_child("thumbnail", NS_THUMBS))
            .and_then(|t| t.attr("uri"))
            .unwrap();
        assert!(thumb.starts_with("data:image/png;base64,"));

        // And it reads back the same.
        assert_eq!(
            read(&[got]),
            Some(Shared {
                meta: sample(),
                sources,
                id: Some("c0ffee".into()),
            })
        );

        // A document: not inline; no sources yet: no <sources/>.
        let doc = FileMeta {
            name: Some("report.pdf".into()),
            media_type: Some("application/pdf".into()),
            ..FileMeta::default()
        };
        let got = wire(file_sharing(&doc, &[], None));
        assert_eq!(got.attr("disposition"), None);
        assert_eq!(got.attr("id"), None);
        assert!(got.get_child("sources", NS_SFS).is_none());
    }

    #[test]
    fn thumbnails_too_large_for_the_stream_are_not_sent() {
        let mut meta = sample();
        meta.thumbnails.push(Thumbnail {
            uri: data_uri("image/png", &[0; 6000]),
            media_type: Some("image/png".into()),
            width: None,
            height: None,
        });
        assert!(meta.thumbnails[1].uri.len() > MAX_SENT_THUMBNAIL_URI);
        let got = wire(file_sharing(&meta, &[], None));
        let file = got.get_child("file", NS_FILE_META).unwrap();
        assert_eq!(
            file.children()
                .filter(|c| c.is("thumbnail", NS_THUMBS))
                .count(),
            1
        );
        // What is sent, the stream's parser takes.
        let mut meta = sample();
        meta.thumbnails[0].uri = data_uri("image/png", &[0; 5900]);
        assert!(meta.thumbnails[0].uri.len() <= MAX_SENT_THUMBNAIL_URI);
        let got = wire(file_sharing(&meta, &[], None));
        assert_eq!(read(&[got]).unwrap().meta.thumbnails.len(), 1);
    }

    #[test]
    fn attaches_sources_as_dino_does() {
        let [attach, sources] = attach_sources(
            "5b4c",
            Some("uuid-1"),
            &["https://up.example/a".to_string()],
        );
        assert_eq!(
            wire(attach.clone()),
            tight("<attach-to xmlns='urn:xmpp:message-attaching:1' id='5b4c'/>")
        );
        assert_eq!(
            wire(sources.clone()),
            tight(
                "<sources xmlns='urn:xmpp:sfs:0' id='uuid-1'>
  <url-data xmlns='http://jabber.org/protocol/url-data' target='https://up.example/a'/>
</sources>"
            )
        );
        assert_eq!(
            read_attached(&[wire(attach), wire(sources)]),
            Some(AttachedSources {
                message_id: "5b4c".into(),
                id: Some("uuid-1".into()),
                sources: vec!["https://up.example/a".into()],
            })
        );
    }

    #[test]
    fn names_are_made_safe() {
        for (given, kept) in [
            ("summit.jpg", Some("summit.jpg")),
            ("../../etc/passwd", Some("passwd")),
            ("..\\..\\Windows\\System32\\evil.dll", Some("evil.dll")),
            ("C:\\Users\\x\\a.txt", Some("a.txt")),
            ("/", None),
            ("..", None),
            ("...", None),
            (" . ", None),
            ("", None),
            (".bashrc", Some("bashrc")),
            ("photo.jpg.", Some("photo.jpg")),
            ("a\u{0}b\u{7}\nc.txt", Some("abc.txt")),
            ("invoice\u{202E}fdp.exe", Some("invoicefdp.exe")),
            ("a:b*c?.txt", Some("a_b_c_.txt")),
            ("dir/", None),
        ] {
            assert_eq!(file_name(given).as_deref(), kept, "{given:?}");
        }
        let long = format!("{}.jpeg", "é".repeat(300));
        let kept = file_name(&long).unwrap();
        assert!(
            kept.len() <= MAX_NAME_BYTES && kept.ends_with("é.jpeg"),
            "{kept}"
        );
        let long = "x".repeat(1000);
        assert_eq!(file_name(&long).unwrap().len(), MAX_NAME_BYTES);
        let f = read_file(&el(
            "<file xmlns='urn:xmpp:file:metadata:0'><name>../../.ssh/authorized_keys</name></file>",
        ));
        assert_eq!(f.name.as_deref(), Some("authorized_keys"));
    }

    #[test]
    fn hostile_metadata_is_dropped() {
        let f = read_file(&el(&format!(
            "<file xmlns='urn:xmpp:file:metadata:0'>
  <media-type>image/png\"&gt;&lt;script&gt;</media-type>
  <size>18446744073709551616</size>
  <width>-1</width>
  <height>99999999</height>
  <desc>{}</desc>
  <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>not base64!</hash>
  <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>AAAA</hash>
  <hash xmlns='urn:xmpp:hashes:2' algo='sha-256'>{}</hash>
</file>",
            "d".repeat(10_000),
            "A".repeat(100_000)
        )));
        assert_eq!(f.media_type, None);
        assert_eq!(f.size, None);
        assert_eq!((f.width, f.height), (None, None));
        assert_eq!(f.desc.map(|d| d.chars().count()), Some(MAX_DESC));
        assert_eq!(f.sha256, None);

        let f = read_file(&el(&format!(
            "<file xmlns='urn:xmpp:file:metadata:0'><size>{}</size></file>",
            MAX_FILE_SIZE + 1
        )));
        assert_eq!(f.size, None);
        let f = read_file(&el(
            "<file xmlns='urn:xmpp:file:metadata:0'><dimensions>0x99999999999</dimensions></file>",
        ));
        assert_eq!((f.width, f.height), (None, None));
        // Elements of the file in another namespace are not its metadata.
        let f = read_file(&el(
            "<file xmlns='urn:xmpp:file:metadata:0'><name xmlns='urn:x'>a.txt</name></file>",
        ));
        assert_eq!(f.name, None);
    }

    #[test]
    fn hostile_thumbnails_and_sources_are_dropped() {
        let thumbs: String = [
            "data:image/png;base64,!!!!",
            "data:image/png,rawbytes",
            "https://tracker.example/pixel.png",
            "file:///etc/passwd",
            "cid:",
            "",
        ]
        .iter()
        .map(|u| format!("<thumbnail xmlns='urn:xmpp:thumbs:1' uri='{u}'/>"))
        .collect();
        let many: String = (0..100)
            .map(|i| format!("<thumbnail xmlns='urn:xmpp:thumbs:1' uri='cid:{i}@bob.xmpp.org' width='0' height='{}'/>", u64::MAX))
            .collect();
        // Too large a data: URI (which only a parser without the stream's
        // limit on attribute values lets through).
        let big = format!("data:image/png;base64,{}", "A".repeat(MAX_DATA_URI));
        let big = with_attr(Element::builder("thumbnail", NS_THUMBS), "uri", &big).build();
        let mut file = el(&format!(
            "<file xmlns='urn:xmpp:file:metadata:0'>{thumbs}{many}</file>"
        ));
        let first = file.children().next().cloned().unwrap();
        file.remove_child("thumbnail", NS_THUMBS);
        let rest: Vec<Element> = file.children().cloned().collect();
        let mut b = Element::builder("file", NS_FILE_META)
            .append(big)
            .append(first);
        for c in rest {
            b = b.append(c);
        }
        let f = read_file(&b.build());
        assert_eq!(f.thumbnails.len(), MAX_THUMBNAILS);
        assert_eq!(f.thumbnails[0].uri, "cid:0@bob.xmpp.org");
        assert_eq!(
            (f.thumbnails[0].width, f.thumbnails[0].height),
            (None, None)
        );

        let sources: String = [
            "http://plain.example/f",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ftp://h.example/f",
            "https://",
            "https://a b/",
        ]
        .iter()
        .map(|u| format!("<url-data xmlns='http://jabber.org/protocol/url-data' target='{u}'/>"))
        .collect();
        let good: String = (0..20)
            .map(|i| format!("<url-data xmlns='http://jabber.org/protocol/url-data' target='https://h.example/{i}'/><url-data xmlns='http://jabber.org/protocol/url-data' target='https://h.example/{i}'/>"))
            .collect();
        let aes = format!("aesgcm://h.example/e#{}", "0".repeat(88));
        let m = el(&format!("<file-sharing xmlns='urn:xmpp:sfs:0' id='{}'><file xmlns='urn:xmpp:file:metadata:0'/><sources>{sources}<url-data xmlns='http://jabber.org/protocol/url-data' target='{aes}'/>{good}</sources></file-sharing>", "i".repeat(1000)));
        let shared = read(&[m]).unwrap();
        assert_eq!(shared.id, None, "overlong id");
        assert_eq!(shared.sources.len(), MAX_SOURCES);
        assert_eq!(shared.sources[0], aes);
        assert_eq!(shared.sources[1], "https://h.example/0");
        assert_eq!(shared.sources[2], "https://h.example/1", "no duplicates");

        // No <file/>: nothing shared. Attached sources need an id and a
        // usable URL.
        assert_eq!(read(&[el("<file-sharing xmlns='urn:xmpp:sfs:0'/>")]), None);
        let attach = el("<attach-to xmlns='urn:xmpp:message-attaching:1' id='m1'/>");
        let bad = el("<sources xmlns='urn:xmpp:sfs:0'><url-data xmlns='http://jabber.org/protocol/url-data' target='http://h/f'/></sources>");
        assert_eq!(read_attached(&[attach.clone(), bad]), None);
        let good = el("<sources xmlns='urn:xmpp:sfs:0'><url-data xmlns='http://jabber.org/protocol/url-data' target='https://h/f'/></sources>");
        assert_eq!(read_attached(std::slice::from_ref(&good)), None);
        assert_eq!(
            read_attached(&[
                el("<attach-to xmlns='urn:xmpp:message-attaching:1'/>"),
                good
            ]),
            None
        );
    }

    #[test]
    fn data_uris() {
        let bytes = STANDARD.decode(PNG).unwrap();
        let uri = data_uri("image/png", &bytes);
        assert_eq!(uri, format!("data:image/png;base64,{PNG}"));
        assert_eq!(
            read_data_uri(&uri),
            Some(("image/png".into(), bytes.clone()))
        );
        // Case, parameters, line breaks and missing padding are forgiven.
        let unpadded = PNG.trim_end_matches('=');
        let wrapped = format!(
            "DATA:Image/PNG;name=a.png;BASE64,{}\n{}",
            &unpadded[..20],
            &unpadded[20..]
        );
        assert_eq!(
            read_data_uri(&wrapped),
            Some(("image/png".into(), bytes.clone()))
        );
        assert_eq!(
            read_data_uri("data:;base64,YQ=="),
            Some(("text/plain".into(), b"a".to_vec()))
        );
        // A media type that is none is not written.
        assert_eq!(
            data_uri("x\"><y", b"a"),
            "data:application/octet-stream;base64,YQ=="
        );
        for bad in [
            "data:image/png,abc",
            "data:image/png;base64",
            "data:image/png;base64,@@@@",
            "data:image/png;base64,YQ=a",
            "data:im age/png;base64,YQ==",
            "data:/png;base64,YQ==",
            "https://h/x.png",
            "dat",
            "",
        ] {
            assert_eq!(read_data_uri(bad), None, "{bad}");
        }
        let huge = format!("data:image/png;base64,{}", "A".repeat(MAX_DATA_URI));
        assert_eq!(read_data_uri(&huge), None);
    }

    #[test]
    fn bits_of_binary_thumbnails() {
        // XEP-0231 §3, Example 2 (the data shortened).
        let m = payloads(&format!("<message xmlns='jabber:client'>
  <data xmlns='urn:xmpp:bob' cid='sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org' max-age='86400' type='image/png'>{PNG}</data>
</message>"));
        let (media, bytes) = read_bob(
            &m,
            "cid:sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org",
        )
        .unwrap();
        assert_eq!(media, "image/png");
        assert!(bytes.starts_with(b"\x89PNG"));
        assert_eq!(read_bob(&m, "cid:other@bob.xmpp.org"), None);
        assert_eq!(
            read_bob(
                &m,
                "sha1+8f35fef110ffc5df08d579a50083ff9308fb6242@bob.xmpp.org"
            ),
            None
        );
        let big = payloads(&format!("<message xmlns='jabber:client'><data xmlns='urn:xmpp:bob' cid='a@bob.xmpp.org'>{}</data></message>", "A".repeat(MAX_DATA_URI + 4)));
        assert_eq!(read_bob(&big, "cid:a@bob.xmpp.org"), None);
    }

    #[test]
    fn media_types() {
        assert_eq!(media_type("Image/JPEG").as_deref(), Some("image/jpeg"));
        assert_eq!(
            media_type("text/plain; charset=utf-8").as_deref(),
            Some("text/plain")
        );
        assert_eq!(
            media_type("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
                .as_deref(),
            Some("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        );
        for bad in [
            "image",
            "image/",
            "/png",
            "a/b/c",
            "image/p ng",
            "image/png\"",
            "",
            &format!("a/{}", "b".repeat(200)),
        ] {
            assert_eq!(media_type(bad), None, "{bad}");
        }
    }
}
