//! Pictures the user shares and receives, handled safely: a file is a
//! picture to Tern only when its first bytes say PNG, JPEG, GIF or WebP
//! (never SVG, whatever its name), its size and dimensions are checked
//! from the header before a pixel is decoded, and the decoder gets the
//! same limits. What leaves the device has no metadata (EXIF with GPS,
//! XMP, IPTC, comments, PNG text) and stands upright.
//!
//! Everything here is synchronous and reads the disk: callers run it on a
//! blocking thread.

// The sharing service that calls these lands separately.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Cursor, Read, Seek, SeekFrom, Write};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::{CompressionType, FilterType as PngFilter, PngEncoder};
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ExtendedColorType, ImageDecoder, ImageEncoder, ImageError, ImageFormat};
use sha2::{Digest, Sha256};

/// How big a picture Tern agrees to open. Checked against the file's size
/// and its header before decoding, and handed to the decoder as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Largest file, in bytes.
    pub(crate) max_bytes: u64,
    /// Widest picture, in pixels.
    pub(crate) max_width: u32,
    /// Tallest picture, in pixels.
    pub(crate) max_height: u32,
    /// Most pixels (width times height).
    pub(crate) max_pixels: u64,
    /// Most memory the decoder may take, in bytes.
    pub(crate) max_alloc: u64,
}

impl Limits {
    /// For pictures on disk: files up to 50 MB, sides up to 16384 pixels,
    /// 50 megapixels (a 200 MB RGBA buffer) and 512 MiB for the decoder.
    pub(crate) const DEFAULT: Limits = Limits {
        max_bytes: 50_000_000,
        max_width: 16_384,
        max_height: 16_384,
        max_pixels: 50_000_000,
        max_alloc: 512 * 1024 * 1024,
    };

    /// For thumbnails a peer puts inside a message (XEP-0264 `data:` URIs):
    /// 64 KiB, 2048 pixels a side, 4 megapixels, 64 MiB for the decoder.
    pub(crate) const INLINE: Limits = Limits {
        max_bytes: 64 * 1024,
        max_width: 2048,
        max_height: 2048,
        max_pixels: 4 * 1024 * 1024,
        max_alloc: 64 * 1024 * 1024,
    };

    /// Refuses a file of `bytes` past the size limit.
    fn check_bytes(&self, bytes: u64) -> Result<(), MediaError> {
        if bytes > self.max_bytes {
            return Err(MediaError::TooLarge {
                what: Oversize::File {
                    bytes,
                    max: self.max_bytes,
                },
            });
        }
        Ok(())
    }

    /// Refuses a picture of `width`x`height` past the limits (or empty).
    fn check_dimensions(&self, width: u32, height: u32) -> Result<(), MediaError> {
        if width == 0 || height == 0 {
            return Err(MediaError::Corrupt("the picture has no pixels".into()));
        }
        if width > self.max_width || height > self.max_height {
            return Err(MediaError::TooLarge {
                what: Oversize::Sides {
                    width,
                    height,
                    max_width: self.max_width,
                    max_height: self.max_height,
                },
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(MediaError::TooLarge {
                what: Oversize::Pixels {
                    width,
                    height,
                    max: self.max_pixels,
                },
            });
        }
        Ok(())
    }

    /// The same limits in the decoder's terms.
    fn decoder(&self) -> image::Limits {
        let mut limits = image::Limits::default();
        limits.max_image_width = Some(self.max_width);
        limits.max_image_height = Some(self.max_height);
        limits.max_alloc = Some(self.max_alloc);
        limits
    }

    /// Only the memory limit: for opening a decoder before the header's
    /// dimensions are checked against these limits (which says more).
    fn memory_only(&self) -> image::Limits {
        let mut limits = image::Limits::no_limits();
        limits.max_alloc = Some(self.max_alloc);
        limits
    }
}

/// Why a picture was refused or could not be prepared.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MediaError {
    /// The first bytes are not PNG, JPEG, GIF or WebP (an SVG, a web page,
    /// a document, whatever the file's name says).
    #[error("this file is not a picture Tern can show (PNG, JPEG, GIF or WebP)")]
    NotAnImage,
    /// The file or the picture in it is larger than the limits.
    #[error("the picture is too large: {what}")]
    TooLarge {
        /// What was too large.
        what: Oversize,
    },
    /// The picture is damaged or cut short.
    #[error("the picture is damaged: {0}")]
    Corrupt(String),
    /// The file could not be read or written.
    #[error("the file could not be read or written: {0}")]
    Io(#[from] io::Error),
}

/// What about a picture went past a [`Limits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// The file's size.
    File {
        /// The file's size in bytes.
        bytes: u64,
        /// The limit in bytes.
        max: u64,
    },
    /// A side of the picture.
    Sides {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The widest accepted.
        max_width: u32,
        /// The tallest accepted.
        max_height: u32,
    },
    /// The number of pixels.
    Pixels {
        /// The picture's width.
        width: u32,
        /// The picture's height.
        height: u32,
        /// The most pixels accepted.
        max: u64,
    },
    /// The memory decoding would take.
    Memory {
        /// The memory limit in bytes.
        max: u64,
    },
}

impl fmt::Display for Oversize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Oversize::File { bytes, max } => write!(
                f,
                "the file is {}; pictures up to {} are accepted",
                human_bytes(bytes),
                human_bytes(max)
            ),
            Oversize::Sides {
                width,
                height,
                max_width,
                max_height,
            } => write!(
                f,
                "it is {width} × {height} pixels; pictures up to {max_width} × {max_height} are accepted"
            ),
            Oversize::Pixels { width, height, max } => write!(
                f,
                "it is {width} × {height} pixels ({:.1} megapixels); pictures up to {:.1} megapixels are accepted",
                (u64::from(width) * u64::from(height)) as f64 / 1e6,
                max as f64 / 1e6
            ),
            Oversize::Memory { max } => write!(
                f,
                "opening it would take more than {} of memory",
                human_bytes(max)
            ),
        }
    }
}

/// Sizes as people read them: "812 KB", "3.4 MB".
fn human_bytes(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        let mb = format!("{:.1}", bytes as f64 / 1e6);
        format!("{} MB", mb.trim_end_matches(".0"))
    } else if bytes >= 1000 {
        format!("{} KB", bytes.div_ceil(1000))
    } else {
        format!("{bytes} bytes")
    }
}

/// The picture formats Tern reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// PNG (and APNG, read as its first frame).
    Png,
    /// JPEG.
    Jpeg,
    /// GIF.
    Gif,
    /// WebP.
    WebP,
}

impl Kind {
    /// The kind its first bytes say, if any.
    fn of(first_bytes: &[u8]) -> Option<Kind> {
        match first_bytes {
            [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(Kind::Png),
            [0xFF, 0xD8, 0xFF, ..] => Some(Kind::Jpeg),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Kind::Gif),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Kind::WebP),
            _ => None,
        }
    }

    /// Its media type.
    fn media_type(self) -> &'static str {
        match self {
            Kind::Png => "image/png",
            Kind::Jpeg => "image/jpeg",
            Kind::Gif => "image/gif",
            Kind::WebP => "image/webp",
        }
    }

    /// The file name extension for it.
    fn ext(self) -> &'static str {
        match self {
            Kind::Png => "png",
            Kind::Jpeg => "jpg",
            Kind::Gif => "gif",
            Kind::WebP => "webp",
        }
    }

    /// The `image` crate's name for it.
    fn format(self) -> ImageFormat {
        match self {
            Kind::Png => ImageFormat::Png,
            Kind::Jpeg => ImageFormat::Jpeg,
            Kind::Gif => ImageFormat::Gif,
            Kind::WebP => ImageFormat::WebP,
        }
    }
}

/// The media type of a raster picture by its first bytes (12 are enough):
/// `image/png`, `image/jpeg`, `image/gif` or `image/webp`. Anything else,
/// SVG included, is not a picture to Tern.
#[cfg(test)]
pub(crate) fn sniff(first_bytes: &[u8]) -> Option<&'static str> {
    Kind::of(first_bytes).map(Kind::media_type)
}

/// What a picture is, read from its header alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// Its media type, from [`sniff`].
    pub(crate) media_type: &'static str,
    /// Its width as shown (EXIF orientation applied).
    pub(crate) width: u32,
    /// Its height as shown (EXIF orientation applied).
    pub(crate) height: u32,
    /// A GIF or WebP of more than one frame.
    pub(crate) animated: bool,
}

/// Reads a picture's header: type, upright dimensions and whether it
/// moves, checked against `limits`, without decoding its pixels.
pub(crate) fn probe(path: &Path, limits: &Limits) -> Result<Probe, MediaError> {
    let (kind, mut reader) = open(path, limits)?;
    let animated = animated(kind, &mut reader)?;
    reader.seek(SeekFrom::Start(0))?;
    let (_, header) = open_decoder(reader, kind, limits)?;
    let (width, height) = header.upright();
    Ok(Probe {
        media_type: kind.media_type(),
        width,
        height,
        animated,
    })
}

/// How the user wants a photo sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quality {
    /// Every pixel, at full size.
    Original,
    /// At most [`SMALLER_SIDE`] pixels on the long side, compressed more.
    Smaller,
}

/// The long side of a photo sent as [`Quality::Smaller`].
pub(crate) const SMALLER_SIDE: u32 = 1920;
/// JPEG quality for [`Quality::Smaller`].
const SMALLER_JPEG_QUALITY: u8 = 80;
/// JPEG quality when an original has to be encoded again (to turn it
/// upright).
const ORIGINAL_JPEG_QUALITY: u8 = 92;
/// Opaque PNGs larger than this become JPEG when sent smaller.
const SMALLER_PNG_AS_JPEG_ABOVE: u64 = 1_000_000;
/// JPEG quality of previews.
const PREVIEW_JPEG_QUALITY: u8 = 80;

/// The file written for sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prepared {
    /// Its media type.
    pub(crate) media_type: &'static str,
    /// Its width in pixels (upright).
    pub(crate) width: u32,
    /// Its height in pixels (upright).
    pub(crate) height: u32,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// The SHA-256 of its bytes.
    pub(crate) sha256: [u8; 32],
    /// The file name extension that fits it, without the dot.
    pub(crate) name_ext: &'static str,
}

/// Writes the photo the user sends to `dst`: without metadata and upright,
/// at `quality`. An original JPEG, PNG or WebP that is already upright
/// keeps its encoded pixels (only metadata is cut out); animated GIFs and
/// WebPs are sent as they are (less WebP metadata). A photo sent smaller is
/// never larger than its original when it needed no resizing or turning.
/// On error a `dst` this began to write is removed; one left untouched
/// (the source refused before writing) stays as it was.
pub(crate) fn prepare_photo(
    src: &Path,
    dst: &Path,
    quality: Quality,
    limits: &Limits,
) -> Result<Prepared, MediaError> {
    let mut written = false;
    let prepared = prepare(src, dst, quality, limits, &mut written);
    if prepared.is_err() && written {
        let _ = std::fs::remove_file(dst);
    }
    prepared
}

/// [`prepare_photo`]; `writing` is set once `dst` is opened for writing.
fn prepare(
    src: &Path,
    dst: &Path,
    quality: Quality,
    limits: &Limits,
    writing: &mut bool,
) -> Result<Prepared, MediaError> {
    let (kind, mut reader) = open(src, limits)?;
    let original_size = reader.get_ref().metadata()?.len();
    let moving = animated(kind, &mut reader)?;
    reader.seek(SeekFrom::Start(0))?;
    let (decoder, header) = open_decoder(reader, kind, limits)?;
    let (width, height) = (header.width, header.height);
    let done = |written: Written, kind: Kind, width: u32, height: u32| Prepared {
        media_type: kind.media_type(),
        width,
        height,
        size: written.size,
        sha256: written.sha256,
        name_ext: kind.ext(),
    };
    if moving {
        drop(decoder);
        *writing = true;
        let written = write_stripped(kind, src, dst)?;
        return Ok(done(written, kind, width, height));
    }
    let upright = header.orientation == Orientation::NoTransforms;
    let fits = width.max(height) <= SMALLER_SIDE;
    if upright && (quality == Quality::Original || fits) {
        drop(decoder);
        *writing = true;
        let written = write_stripped(kind, src, dst)?;
        let kept = done(written, kind, width, height);
        // Sent smaller, a JPEG (or a large opaque PNG) is also encoded
        // again and the smaller of the two kept.
        let try_jpeg = quality == Quality::Smaller
            && (kind == Kind::Jpeg
                || (kind == Kind::Png && original_size > SMALLER_PNG_AS_JPEG_ABOVE));
        if !try_jpeg {
            return Ok(kept);
        }
        let (img, icc) = decode(src, limits)?;
        if has_transparency(&img) {
            return Ok(kept);
        }
        let mut jpeg = Vec::new();
        encode_jpeg(&img, SMALLER_JPEG_QUALITY, icc, &mut jpeg)?;
        if jpeg.len() as u64 >= kept.size {
            return Ok(kept);
        }
        let written = write_file(dst, |w| Ok(w.write_all(&jpeg)?))?;
        return Ok(done(written, Kind::Jpeg, width, height));
    }
    let icc = header.icc.clone();
    let img = decode_with(decoder, &header, kind, src, limits)?;
    let img = match quality {
        Quality::Original => img,
        Quality::Smaller => fit(img, SMALLER_SIDE),
    };
    let alpha = has_transparency(&img);
    let out = match (kind, quality) {
        (Kind::Png, Quality::Smaller) if !alpha && original_size > SMALLER_PNG_AS_JPEG_ABOVE => {
            Kind::Jpeg
        }
        (Kind::Png | Kind::Gif, _) => Kind::Png,
        (_, _) if alpha => Kind::Png,
        (_, _) => Kind::Jpeg,
    };
    let jpeg_quality = match quality {
        Quality::Original => ORIGINAL_JPEG_QUALITY,
        Quality::Smaller => SMALLER_JPEG_QUALITY,
    };
    let (w, h) = (img.width(), img.height());
    *writing = true;
    let written = write_file(dst, |wr| match out {
        Kind::Jpeg => encode_jpeg(&img, jpeg_quality, icc, wr),
        _ => encode_png(&img, icc, wr),
    })?;
    Ok(done(written, out, w, h))
}

/// A small picture in memory: a preview or an inline thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Thumb {
    /// The encoded picture.
    pub(crate) bytes: Vec<u8>,
    /// Its media type (`image/jpeg` or `image/png`).
    pub(crate) media_type: &'static str,
    /// Its width in pixels.
    pub(crate) width: u32,
    /// Its height in pixels.
    pub(crate) height: u32,
}

/// A preview of the picture at `path`, upright, fitting `max_side` pixels
/// (never enlarged): JPEG when opaque, PNG when it has transparency. For
/// the preview cache on disk (480 is a good side for a chat). The `image`
/// crate's JPEG decoder cannot decode at a reduced scale, so a photo is
/// decoded once at full size and shrunk.
pub(crate) fn thumbnail(path: &Path, max_side: u32, limits: &Limits) -> Result<Thumb, MediaError> {
    let (img, _) = decode(path, limits)?;
    let img = shrink(img, max_side.max(1));
    let mut bytes = Vec::new();
    let media_type = if has_transparency(&img) {
        encode_png(&img, None, &mut bytes)?;
        Kind::Png.media_type()
    } else {
        encode_jpeg(&img, PREVIEW_JPEG_QUALITY, None, &mut bytes)?;
        Kind::Jpeg.media_type()
    };
    Ok(Thumb {
        bytes,
        media_type,
        width: img.width(),
        height: img.height(),
    })
}

/// Inline thumbnails (XEP-0264) Tern sends are never larger than this.
#[cfg(test)]
pub(crate) const TINY_MAX_BYTES: usize = 4096;

/// The shapes of an inline thumbnail, as (width, height).
///
/// Dino sends a PNG of one of these five shapes, whichever has the aspect
/// ratio nearest the picture's, scaled bilinearly, as a
/// `data:image/png;base64,` URI, and it reads only `data:image/png` URIs;
/// on receipt it stretches the few pixels to the file's size, which makes
/// a soft placeholder of the picture's colours. Tern sends the same, so
/// both show the same placeholder (Tern picks the shape from the upright
/// picture).
const TINY_SHAPES: [(u32, u32); 5] = [(1, 8), (2, 4), (3, 3), (4, 2), (8, 1)];

/// The inline thumbnail (XEP-0264) to send inside the message with a
/// picture: a PNG of a few pixels (see [`TINY_SHAPES`]), upright, well
/// under [`TINY_MAX_BYTES`].
pub(crate) fn tiny_thumbnail(path: &Path, limits: &Limits) -> Result<Thumb, MediaError> {
    let (img, _) = decode(path, limits)?;
    let ratio = f64::from(img.width()) / f64::from(img.height());
    let mut shape = TINY_SHAPES[0];
    for candidate in TINY_SHAPES {
        let diff = |(w, h): (u32, u32)| (f64::from(w) / f64::from(h) - ratio).abs();
        if diff(candidate) < diff(shape) {
            shape = candidate;
        }
    }
    // Averaging down to a few dozen pixels first keeps every part of the
    // picture in the few that remain.
    let img = shrink(img, 64).resize_exact(shape.0, shape.1, FilterType::Triangle);
    let img = if has_transparency(&img) {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    };
    let mut bytes = Vec::new();
    encode_png(&img, None, &mut bytes)?;
    Ok(Thumb {
        bytes,
        media_type: Kind::Png.media_type(),
        width: shape.0,
        height: shape.1,
    })
}

/// Received inline thumbnails are shown at most this many pixels a side.
const INLINE_SIDE: u32 = 256;

/// Reads an inline thumbnail a peer sent (the bytes of a XEP-0264 `data:`
/// URI), checked against `limits` (meant: [`Limits::INLINE`]), and encodes
/// it again as a PNG of at most [`INLINE_SIDE`] pixels a side, upright, so
/// the page never gets the peer's bytes.
pub(crate) fn decode_data_image(bytes: &[u8], limits: &Limits) -> Result<Thumb, MediaError> {
    let kind = Kind::of(bytes).ok_or(MediaError::NotAnImage)?;
    limits.check_bytes(bytes.len() as u64)?;
    let (decoder, header) = open_decoder(Cursor::new(bytes), kind, limits)?;
    if kind == Kind::Jpeg {
        jpeg_strip(&mut Cursor::new(bytes), &mut io::sink())?;
    }
    let img = shrink(decode_decoder(decoder, &header, limits)?, INLINE_SIDE);
    let img = if has_transparency(&img) {
        DynamicImage::ImageRgba8(img.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(img.to_rgb8())
    };
    let mut out = Vec::new();
    encode_png(&img, None, &mut out)?;
    Ok(Thumb {
        bytes: out,
        media_type: Kind::Png.media_type(),
        width: img.width(),
        height: img.height(),
    })
}

// ---------------------------------------------------------------------------
// Opening and decoding

/// Opens a picture file: its size checked and its kind told by its first
/// bytes, the reader back at the start.
fn open(path: &Path, limits: &Limits) -> Result<(Kind, BufReader<File>), MediaError> {
    let file = File::open(path)?;
    limits.check_bytes(file.metadata()?.len())?;
    let mut reader = BufReader::new(file);
    let mut first = Vec::with_capacity(12);
    (&mut reader).take(12).read_to_end(&mut first)?;
    let kind = Kind::of(&first).ok_or(MediaError::NotAnImage)?;
    reader.seek(SeekFrom::Start(0))?;
    Ok((kind, reader))
}

/// What the header says, checked against the limits.
struct Header {
    /// Width as stored.
    width: u32,
    /// Height as stored.
    height: u32,
    /// The turn that shows it upright.
    orientation: Orientation,
    /// Its colour profile.
    icc: Option<Vec<u8>>,
}

impl Header {
    /// Width and height as shown, the orientation applied.
    fn upright(&self) -> (u32, u32) {
        match self.orientation {
            Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH => (self.height, self.width),
            _ => (self.width, self.height),
        }
    }
}

/// A decoder for a picture whose header was read and checked against
/// `limits`, with the limits set on it; no pixel is decoded yet.
fn open_decoder<'a, R: BufRead + Seek + 'a>(
    reader: R,
    kind: Kind,
    limits: &Limits,
) -> Result<(impl ImageDecoder + 'a, Header), MediaError> {
    let mut reader = image::ImageReader::with_format(reader, kind.format());
    reader.limits(limits.memory_only());
    let mut decoder = reader.into_decoder().map_err(|e| image_error(e, limits))?;
    let (width, height) = decoder.dimensions();
    limits.check_dimensions(width, height)?;
    // `DynamicImage::from_decoder` allocates the whole picture without
    // asking the limits (only `ImageReader::decode` does), so the picture's
    // own buffer is counted here and the decoder gets what remains.
    let mut decoder_limits = limits.decoder();
    decoder_limits
        .reserve(decoder.total_bytes())
        .and_then(|()| decoder.set_limits(decoder_limits))
        .map_err(|e| image_error(e, limits))?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc = decoder.icc_profile().ok().flatten();
    Ok((
        decoder,
        Header {
            width,
            height,
            orientation,
            icc,
        },
    ))
}

/// Decodes the picture at `path`, upright; with its colour profile.
fn decode(path: &Path, limits: &Limits) -> Result<(DynamicImage, Option<Vec<u8>>), MediaError> {
    let (kind, reader) = open(path, limits)?;
    let (decoder, header) = open_decoder(reader, kind, limits)?;
    let icc = header.icc.clone();
    Ok((decode_with(decoder, &header, kind, path, limits)?, icc))
}

/// Decodes a picture from the decoder [`open_decoder`] made, upright. A
/// JPEG's structure is walked first: the decoder reads a JPEG cut in half
/// without an error, making up the missing part.
fn decode_with(
    decoder: impl ImageDecoder,
    header: &Header,
    kind: Kind,
    path: &Path,
    limits: &Limits,
) -> Result<DynamicImage, MediaError> {
    if kind == Kind::Jpeg {
        jpeg_strip(&mut BufReader::new(File::open(path)?), &mut io::sink())?;
    }
    decode_decoder(decoder, header, limits)
}

/// Decodes from `decoder` and turns the picture upright.
fn decode_decoder(
    decoder: impl ImageDecoder,
    header: &Header,
    limits: &Limits,
) -> Result<DynamicImage, MediaError> {
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| image_error(e, limits))?;
    img.apply_orientation(header.orientation);
    Ok(img)
}

/// The decoder's errors in Tern's terms.
fn image_error(e: ImageError, limits: &Limits) -> MediaError {
    match e {
        ImageError::Limits(_) => MediaError::TooLarge {
            what: Oversize::Memory {
                max: limits.max_alloc,
            },
        },
        ImageError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            MediaError::Corrupt("the file is cut short".into())
        }
        ImageError::IoError(e) => MediaError::Io(e),
        other => MediaError::Corrupt(other.to_string()),
    }
}

/// Whether the picture has any pixel that is not fully opaque.
fn has_transparency(img: &DynamicImage) -> bool {
    match img {
        DynamicImage::ImageLumaA8(b) => b.pixels().any(|p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(b) => b.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(b) => b.pixels().any(|p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(b) => b.pixels().any(|p| p.0[3] < u16::MAX),
        DynamicImage::ImageRgba32F(b) => b.pixels().any(|p| p.0[3] < 1.0),
        _ => false,
    }
}

/// The size `(w, h)` scaled so its long side is `max_side` (never up).
fn fitted(w: u32, h: u32, max_side: u32) -> (u32, u32) {
    let long = w.max(h);
    if long <= max_side {
        return (w, h);
    }
    let scale = |v: u32| {
        ((u64::from(v) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long)).max(1) as u32
    };
    (scale(w), scale(h))
}

/// Scales a photo down to `max_side` on its long side. By half or more,
/// pixels are averaged by area (about three times faster than Lanczos on
/// a 12-megapixel photo: 0.16 s against 0.53 s in a release build); by
/// less, Catmull-Rom keeps it from going soft.
fn fit(img: DynamicImage, max_side: u32) -> DynamicImage {
    let (w, h) = fitted(img.width(), img.height(), max_side);
    if (w, h) == (img.width(), img.height()) {
        return img;
    }
    if img.width() >= 2 * w && img.height() >= 2 * h {
        img.thumbnail_exact(w, h)
    } else {
        img.resize_exact(w, h, FilterType::CatmullRom)
    }
}

/// Scales a picture down to `max_side` on its long side by averaging
/// (fast; for previews).
fn shrink(img: DynamicImage, max_side: u32) -> DynamicImage {
    let (w, h) = fitted(img.width(), img.height(), max_side);
    if (w, h) == (img.width(), img.height()) {
        return img;
    }
    img.thumbnail_exact(w, h)
}

/// The encoder's errors (writing failed) in Tern's terms.
fn encode_error(e: ImageError) -> MediaError {
    match e {
        ImageError::IoError(e) => MediaError::Io(e),
        other => MediaError::Io(io::Error::other(other.to_string())),
    }
}

/// Encodes as JPEG (grey stays grey, anything else becomes RGB), with the
/// colour profile when there is one.
fn encode_jpeg(
    img: &DynamicImage,
    quality: u8,
    icc: Option<Vec<u8>>,
    out: &mut dyn Write,
) -> Result<(), MediaError> {
    let mut encoder = JpegEncoder::new_with_quality(out, quality);
    if let Some(icc) = icc {
        // A profile the encoder does not take leaves the default (sRGB).
        let _ = encoder.set_icc_profile(icc);
    }
    let (w, h) = (img.width(), img.height());
    match img {
        DynamicImage::ImageLuma8(b) => encoder.write_image(b, w, h, ExtendedColorType::L8),
        _ => encoder.write_image(&img.to_rgb8(), w, h, ExtendedColorType::Rgb8),
    }
    .map_err(encode_error)
}

/// Encodes as PNG, keeping 16-bit depth, with the colour profile.
fn encode_png(
    img: &DynamicImage,
    icc: Option<Vec<u8>>,
    out: &mut dyn Write,
) -> Result<(), MediaError> {
    let mut encoder =
        PngEncoder::new_with_quality(out, CompressionType::Default, PngFilter::Adaptive);
    if let Some(icc) = icc {
        let _ = encoder.set_icc_profile(icc);
    }
    let img = match img {
        DynamicImage::ImageRgb32F(_) => &DynamicImage::ImageRgb16(img.to_rgb16()),
        DynamicImage::ImageRgba32F(_) => &DynamicImage::ImageRgba16(img.to_rgba16()),
        _ => img,
    };
    encoder
        .write_image(
            img.as_bytes(),
            img.width(),
            img.height(),
            img.color().into(),
        )
        .map_err(encode_error)
}

// ---------------------------------------------------------------------------
// Writing

/// Size and hash of a file written.
struct Written {
    /// Bytes written.
    size: u64,
    /// Their SHA-256.
    sha256: [u8; 32],
}

/// A writer that counts and hashes what passes through it.
struct Hashing<W> {
    /// Where the bytes go.
    inner: W,
    /// The hash so far.
    hasher: Sha256,
    /// The count so far.
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Creates (or replaces) `dst` and lets `fill` write it, buffered.
fn write_file(
    dst: &Path,
    fill: impl FnOnce(&mut dyn Write) -> Result<(), MediaError>,
) -> Result<Written, MediaError> {
    let mut out = Hashing {
        inner: BufWriter::new(File::create(dst)?),
        hasher: Sha256::new(),
        size: 0,
    };
    fill(&mut out)?;
    out.flush()?;
    Ok(Written {
        size: out.size,
        sha256: out.hasher.finalize().into(),
    })
}

/// Writes `src` to `dst` without its metadata, the pixels as encoded.
fn write_stripped(kind: Kind, src: &Path, dst: &Path) -> Result<Written, MediaError> {
    let mut reader = BufReader::new(File::open(src)?);
    write_file(dst, |w| match kind {
        Kind::Jpeg => jpeg_strip(&mut reader, w),
        Kind::Png => png_strip(&mut reader, w),
        Kind::WebP => webp_strip(&mut reader, w),
        // GIF has no EXIF; its extensions belong to its animation.
        Kind::Gif => {
            io::copy(&mut reader, w)?;
            Ok(())
        }
    })
}

/// An end of file where more was due is a damaged file.
fn cut_short(e: io::Error) -> MediaError {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        MediaError::Corrupt("the file is cut short".into())
    } else {
        MediaError::Io(e)
    }
}

/// Reads exactly `N` bytes.
fn read_array<const N: usize>(r: &mut impl Read) -> Result<[u8; N], MediaError> {
    let mut buf = [0; N];
    r.read_exact(&mut buf).map_err(cut_short)?;
    Ok(buf)
}

/// Copies exactly `n` bytes.
fn copy_exact(r: &mut impl Read, w: &mut dyn Write, n: u64) -> Result<(), MediaError> {
    let copied = io::copy(&mut r.take(n), w)?;
    if copied < n {
        return Err(MediaError::Corrupt("the file is cut short".into()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// JPEG

/// Copies a JPEG's segments but its metadata: APP1 to APP15 (EXIF, XMP,
/// MPF with its extra pictures, IPTC) and comments go, as does anything
/// after the end marker (Motion Photo videos, appended previews). What
/// stays: the JFIF APP0, the ICC profile (APP2) and Adobe's APP14, which
/// says how the colours are encoded. Fails on a JPEG cut short.
fn jpeg_strip(r: &mut impl BufRead, w: &mut dyn Write) -> Result<(), MediaError> {
    if read_array::<2>(r)? != [0xFF, 0xD8] {
        return Err(MediaError::Corrupt("not a JPEG".into()));
    }
    w.write_all(&[0xFF, 0xD8])?;
    let mut marker = jpeg_next_marker(r)?;
    loop {
        match marker {
            0xD9 => {
                w.write_all(&[0xFF, 0xD9])?;
                return Ok(());
            }
            0xD8 => return Err(MediaError::Corrupt("a JPEG starts twice".into())),
            0x01 | 0xD0..=0xD7 => {
                w.write_all(&[0xFF, marker])?;
                marker = jpeg_next_marker(r)?;
            }
            _ => {
                let len = u16::from_be_bytes(read_array::<2>(r)?);
                let Some(payload_len) = len.checked_sub(2) else {
                    return Err(MediaError::Corrupt("a JPEG segment is too short".into()));
                };
                let mut payload = vec![0; usize::from(payload_len)];
                r.read_exact(&mut payload).map_err(cut_short)?;
                let keep = match marker {
                    0xE0 => payload.starts_with(b"JFIF\0"),
                    0xE2 => payload.starts_with(b"ICC_PROFILE\0"),
                    0xEE => payload.starts_with(b"Adobe"),
                    0xE1..=0xEF | 0xFE => false,
                    _ => true,
                };
                if keep {
                    w.write_all(&[0xFF, marker])?;
                    w.write_all(&len.to_be_bytes())?;
                    w.write_all(&payload)?;
                }
                marker = if marker == 0xDA {
                    jpeg_copy_scan(r, w)?
                } else {
                    jpeg_next_marker(r)?
                };
            }
        }
    }
}

/// Reads up to and including the next marker's code, skipping fill bytes
/// and any stray bytes before it.
fn jpeg_next_marker(r: &mut impl BufRead) -> Result<u8, MediaError> {
    loop {
        let [b] = read_array::<1>(r)?;
        if b != 0xFF {
            continue;
        }
        loop {
            let [code] = read_array::<1>(r)?;
            match code {
                0xFF => continue,
                0x00 => break,
                code => return Ok(code),
            }
        }
    }
}

/// Copies entropy-coded data (with its stuffed bytes and restart markers)
/// up to the next marker, whose code it returns unwritten.
fn jpeg_copy_scan(r: &mut impl BufRead, w: &mut dyn Write) -> Result<u8, MediaError> {
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Err(MediaError::Corrupt("the file is cut short".into()));
        }
        match buf.iter().position(|&b| b == 0xFF) {
            None => {
                let n = buf.len();
                w.write_all(buf)?;
                r.consume(n);
            }
            Some(at) => {
                w.write_all(&buf[..at])?;
                r.consume(at + 1);
                let code = loop {
                    let [code] = read_array::<1>(r)?;
                    if code != 0xFF {
                        break code;
                    }
                };
                match code {
                    0x00 | 0xD0..=0xD7 => w.write_all(&[0xFF, code])?,
                    code => return Ok(code),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// PNG

/// Ancillary PNG chunks that are kept: how to show the pixels (colour,
/// transparency, density) and APNG's frames. Text, eXIf, time and
/// anything unknown go.
const PNG_KEPT: [&[u8; 4]; 14] = [
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"cICP", b"mDCv",
    b"cLLi", b"acTL", b"fcTL", b"fdAT",
];

/// Copies a PNG's chunks but its metadata, up to and with IEND.
fn png_strip(r: &mut impl BufRead, w: &mut dyn Write) -> Result<(), MediaError> {
    let signature = read_array::<8>(r)?;
    if Kind::of(&signature) != Some(Kind::Png) {
        return Err(MediaError::Corrupt("not a PNG".into()));
    }
    w.write_all(&signature)?;
    loop {
        let head = read_array::<8>(r)?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let critical = kind[0].is_ascii_uppercase();
        // Data and CRC.
        let rest = u64::from(len) + 4;
        if critical || PNG_KEPT.contains(&&kind) {
            w.write_all(&head)?;
            copy_exact(r, w, rest)?;
        } else {
            copy_exact(r, &mut io::sink(), rest)?;
        }
        if &kind == b"IEND" {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------
// WebP

/// A chunk of a WebP file.
struct RiffChunk {
    /// Its type.
    fourcc: [u8; 4],
    /// Where its data starts.
    offset: u64,
    /// Its data's size (without the pad byte).
    size: u32,
}

/// The chunks of a WebP file (headers only).
fn webp_chunks(r: &mut (impl Read + Seek)) -> Result<Vec<RiffChunk>, MediaError> {
    r.seek(SeekFrom::Start(0))?;
    let head = read_array::<12>(r)?;
    let riff_size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let end = 8 + u64::from(riff_size);
    let file_len = r.seek(SeekFrom::End(0))?;
    if end > file_len {
        return Err(MediaError::Corrupt("the file is cut short".into()));
    }
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= end {
        r.seek(SeekFrom::Start(at))?;
        let h = read_array::<8>(r)?;
        let size = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let next = at + 8 + u64::from(size) + u64::from(size & 1);
        if at + 8 + u64::from(size) > end {
            return Err(MediaError::Corrupt("a WebP chunk runs past the end".into()));
        }
        chunks.push(RiffChunk {
            fourcc: [h[0], h[1], h[2], h[3]],
            offset: at + 8,
            size,
        });
        at = next;
    }
    Ok(chunks)
}

/// WebP chunks that are kept: the picture, its alpha, animation and
/// colour profile. EXIF, XMP and unknown chunks go.
const WEBP_KEPT: [&[u8; 4]; 7] = [
    b"VP8 ", b"VP8L", b"VP8X", b"ALPH", b"ANIM", b"ANMF", b"ICCP",
];

/// Copies a WebP but its EXIF and XMP chunks (their flags cleared).
fn webp_strip(r: &mut (impl Read + Seek), w: &mut dyn Write) -> Result<(), MediaError> {
    let chunks: Vec<RiffChunk> = webp_chunks(r)?
        .into_iter()
        .filter(|c| WEBP_KEPT.contains(&&c.fourcc))
        .collect();
    let body: u64 = chunks
        .iter()
        .map(|c| 8 + u64::from(c.size) + u64::from(c.size & 1))
        .sum();
    let riff_size =
        u32::try_from(4 + body).map_err(|_| MediaError::Corrupt("the WebP is too large".into()))?;
    w.write_all(b"RIFF")?;
    w.write_all(&riff_size.to_le_bytes())?;
    w.write_all(b"WEBP")?;
    for c in &chunks {
        w.write_all(&c.fourcc)?;
        w.write_all(&c.size.to_le_bytes())?;
        r.seek(SeekFrom::Start(c.offset))?;
        if &c.fourcc == b"VP8X" && c.size >= 1 {
            // Flags: ICC 0x20, alpha 0x10, EXIF 0x08, XMP 0x04, animation 0x02.
            let [flags] = read_array::<1>(r)?;
            w.write_all(&[flags & !(0x08 | 0x04)])?;
            copy_exact(r, w, u64::from(c.size) - 1)?;
        } else {
            copy_exact(r, w, u64::from(c.size))?;
        }
        if c.size & 1 == 1 {
            w.write_all(&[0])?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Animation

/// Whether a GIF or WebP has more than one frame, from its structure (no
/// frame is decoded).
fn animated(kind: Kind, r: &mut (impl BufRead + Seek)) -> Result<bool, MediaError> {
    match kind {
        Kind::Gif => gif_has_frames(r, 2),
        Kind::WebP => {
            let chunks = webp_chunks(r)?;
            Ok(chunks.iter().filter(|c| &c.fourcc == b"ANMF").count() >= 2)
        }
        Kind::Png | Kind::Jpeg => Ok(false),
    }
}

/// Whether a GIF has at least `n` frames, walking its blocks.
fn gif_has_frames(r: &mut (impl BufRead + Seek), n: usize) -> Result<bool, MediaError> {
    r.seek(SeekFrom::Start(0))?;
    let head = read_array::<13>(r)?;
    let packed = head[10];
    if packed & 0x80 != 0 {
        skip(r, 3 << ((packed & 0x07) + 1))?;
    }
    let mut frames = 0;
    loop {
        let mut introducer = [0u8; 1];
        if r.read(&mut introducer)? == 0 {
            // No trailer: what frames there are count.
            return if frames > 0 {
                Ok(false)
            } else {
                Err(MediaError::Corrupt("the file is cut short".into()))
            };
        }
        match introducer[0] {
            // Extension: label, then sub-blocks.
            0x21 => {
                read_array::<1>(r)?;
                gif_skip_sub_blocks(r)?;
            }
            // Image: descriptor, local colour table, LZW code size, data.
            0x2C => {
                let descriptor = read_array::<9>(r)?;
                let packed = descriptor[8];
                if packed & 0x80 != 0 {
                    skip(r, 3 << ((packed & 0x07) + 1))?;
                }
                read_array::<1>(r)?;
                gif_skip_sub_blocks(r)?;
                frames += 1;
                if frames >= n {
                    return Ok(true);
                }
            }
            0x3B => return Ok(false),
            _ => return Err(MediaError::Corrupt("a GIF block is unknown".into())),
        }
    }
}

/// Skips a GIF's data sub-blocks up to their terminator.
fn gif_skip_sub_blocks(r: &mut (impl BufRead + Seek)) -> Result<(), MediaError> {
    loop {
        let [len] = read_array::<1>(r)?;
        if len == 0 {
            return Ok(());
        }
        skip(r, u64::from(len))?;
    }
}

/// Skips exactly `n` bytes.
fn skip(r: &mut impl Read, n: u64) -> Result<(), MediaError> {
    copy_exact(r, &mut io::sink(), n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage, Rgba, RgbaImage};

    // ---- fixtures ----------------------------------------------------------

    /// Left half red, right half blue.
    fn halves(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, _| {
            if x < w / 2 {
                Rgb([255, 0, 0])
            } else {
                Rgb([0, 0, 255])
            }
        })
    }

    /// A smooth picture that compresses like a photo.
    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            Rgb([
                (x * 255 / w) as u8,
                (y * 255 / h) as u8,
                ((x + y) % 256) as u8,
            ])
        })
    }

    /// Pixels no encoder can squeeze.
    fn noise(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_f491_u32;
        RgbImage::from_fn(w, h, |_, _| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state as u8
            };
            Rgb([next(), next(), next()])
        })
    }

    fn jpeg(img: &RgbImage, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, quality)
            .encode_image(img)
            .unwrap();
        out
    }

    fn png(img: &DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    fn segment(marker: u8, payload: &[u8]) -> Vec<u8> {
        let len = u16::try_from(payload.len() + 2).unwrap();
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&len.to_be_bytes());
        s.extend_from_slice(payload);
        s
    }

    /// `jpeg` with `segments` right after its start marker and `trailer`
    /// after its end.
    fn with_segments(jpeg: &[u8], segments: &[Vec<u8>], trailer: &[u8]) -> Vec<u8> {
        let mut out = jpeg[..2].to_vec();
        for s in segments {
            out.extend_from_slice(s);
        }
        out.extend_from_slice(&jpeg[2..]);
        out.extend_from_slice(trailer);
        out
    }

    /// A little-endian TIFF block as EXIF carries it: IFD0 with the
    /// orientation and a pointer to a GPS IFD with a latitude and longitude.
    fn tiff(orientation: u16) -> Vec<u8> {
        let mut t = Vec::new();
        let u16le = |t: &mut Vec<u8>, v: u16| t.extend_from_slice(&v.to_le_bytes());
        let u32le = |t: &mut Vec<u8>, v: u32| t.extend_from_slice(&v.to_le_bytes());
        t.extend_from_slice(b"II");
        u16le(&mut t, 42);
        u32le(&mut t, 8);
        // IFD0 at 8: two entries, ends at 38.
        u16le(&mut t, 2);
        u16le(&mut t, 0x0112); // Orientation, SHORT, 1
        u16le(&mut t, 3);
        u32le(&mut t, 1);
        u16le(&mut t, orientation);
        u16le(&mut t, 0);
        u16le(&mut t, 0x8825); // GPS IFD pointer, LONG, 1
        u16le(&mut t, 4);
        u32le(&mut t, 1);
        u32le(&mut t, 38);
        u32le(&mut t, 0);
        // GPS IFD at 38: five entries, ends at 104.
        u16le(&mut t, 5);
        u16le(&mut t, 0x0000); // GPSVersionID, BYTE, 4
        u16le(&mut t, 1);
        u32le(&mut t, 4);
        t.extend_from_slice(&[2, 2, 0, 0]);
        u16le(&mut t, 0x0001); // GPSLatitudeRef, ASCII, 2
        u16le(&mut t, 2);
        u32le(&mut t, 2);
        t.extend_from_slice(b"N\0\0\0");
        u16le(&mut t, 0x0002); // GPSLatitude, RATIONAL, 3, at 104
        u16le(&mut t, 5);
        u32le(&mut t, 3);
        u32le(&mut t, 104);
        u16le(&mut t, 0x0003); // GPSLongitudeRef, ASCII, 2
        u16le(&mut t, 2);
        u32le(&mut t, 2);
        t.extend_from_slice(b"E\0\0\0");
        u16le(&mut t, 0x0004); // GPSLongitude, RATIONAL, 3, at 128
        u16le(&mut t, 5);
        u32le(&mut t, 3);
        u32le(&mut t, 128);
        u32le(&mut t, 0);
        for (n, d) in [(52, 1), (31, 1), (1234, 100), (13, 1), (24, 1), (5678, 100)] {
            u32le(&mut t, n);
            u32le(&mut t, d);
        }
        assert_eq!(t.len(), 152);
        t
    }

    fn exif_app1(orientation: u16) -> Vec<u8> {
        let mut payload = b"Exif\0\0".to_vec();
        payload.extend_from_slice(&tiff(orientation));
        segment(0xE1, &payload)
    }

    const ICC: &[u8] = b"ICC_PROFILE\0\x01\x01not really a profile";

    /// Every kind of metadata a camera or an editor leaves in a JPEG.
    fn camera_jpeg(img: &RgbImage, orientation: u16) -> Vec<u8> {
        with_segments(
            &jpeg(img, 90),
            &[
                exif_app1(orientation),
                segment(
                    0xE1,
                    b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>secret-xmp</x:xmpmeta>",
                ),
                segment(0xE2, ICC),
                segment(0xE2, b"MPF\0secret-mpf"),
                segment(0xED, b"Photoshop 3.0\08BIM\x04\x04secret-iptc"),
                segment(0xFE, b"secret-comment"),
            ],
            b"secret-trailer",
        )
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let crc = crc32(&c[4..]);
        c.extend_from_slice(&crc.to_be_bytes());
        c
    }

    /// `png` with `chunks` right after IHDR.
    fn png_with_chunks(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
        let after_ihdr = 8 + 8 + 13 + 4;
        let mut out = png[..after_ihdr].to_vec();
        for c in chunks {
            out.extend_from_slice(c);
        }
        out.extend_from_slice(&png[after_ihdr..]);
        out
    }

    /// A PNG header claiming `w`x`h` RGB pixels, with a token of data.
    fn png_header_only(w: u32, h: u32) -> Vec<u8> {
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        out.extend(png_chunk(b"IHDR", &ihdr));
        out.extend(png_chunk(
            b"IDAT",
            &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
        ));
        out.extend(png_chunk(b"IEND", &[]));
        out
    }

    /// A JPEG whose frame header claims `w`x`h`.
    fn jpeg_claiming(w: u16, h: u16) -> Vec<u8> {
        let mut j = jpeg(&photo(16, 16), 80);
        let sof = j.windows(2).position(|p| p == [0xFF, 0xC0]).unwrap();
        j[sof + 5..sof + 7].copy_from_slice(&h.to_be_bytes());
        j[sof + 7..sof + 9].copy_from_slice(&w.to_be_bytes());
        j
    }

    fn gif(frames: usize) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = image::codecs::gif::GifEncoder::new(&mut out);
            enc.set_repeat(image::codecs::gif::Repeat::Infinite)
                .unwrap();
            for i in 0..frames {
                let shade = (i * 80) as u8;
                let frame = RgbaImage::from_pixel(12, 8, Rgba([shade, 100, 200, 255]));
                enc.encode_frame(image::Frame::new(frame)).unwrap();
            }
        }
        out
    }

    fn riff_chunk(fourcc: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = fourcc.to_vec();
        c.extend_from_slice(&u32::try_from(data.len()).unwrap().to_le_bytes());
        c.extend_from_slice(data);
        if data.len() % 2 == 1 {
            c.push(0);
        }
        c
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body: Vec<u8> = chunks.concat();
        let mut out = b"RIFF".to_vec();
        out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_le_bytes());
        out.extend_from_slice(b"WEBP");
        out.extend(body);
        out
    }

    fn u24(v: u32) -> [u8; 3] {
        let b = v.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    /// An animated WebP of `frames` lossless frames, 10x6, with an EXIF
    /// chunk carrying GPS.
    fn animated_webp(frames: u8) -> Vec<u8> {
        let (w, h) = (10, 6);
        let mut chunks = Vec::new();
        let mut vp8x = vec![0x02 | 0x08 | 0x10, 0, 0, 0];
        vp8x.extend_from_slice(&u24(w - 1));
        vp8x.extend_from_slice(&u24(h - 1));
        chunks.push(riff_chunk(b"VP8X", &vp8x));
        chunks.push(riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]));
        for i in 0..frames {
            let img = RgbaImage::from_pixel(w, h, Rgba([i * 60, 10, 200, 255]));
            let mut still = Vec::new();
            image::codecs::webp::WebPEncoder::new_lossless(&mut still)
                .encode(img.as_raw(), w, h, ExtendedColorType::Rgba8)
                .unwrap();
            // The VP8L chunk of the still: after "RIFF", size, "WEBP".
            let vp8l = &still[12..];
            assert_eq!(&vp8l[..4], b"VP8L");
            let mut anmf = Vec::new();
            anmf.extend_from_slice(&u24(0));
            anmf.extend_from_slice(&u24(0));
            anmf.extend_from_slice(&u24(w - 1));
            anmf.extend_from_slice(&u24(h - 1));
            anmf.extend_from_slice(&u24(100));
            anmf.push(0);
            anmf.extend_from_slice(vp8l);
            chunks.push(riff_chunk(b"ANMF", &anmf));
        }
        chunks.push(riff_chunk(b"EXIF", &tiff(1)));
        riff(&chunks)
    }

    struct Files(tempfile::TempDir);

    impl Files {
        fn new() -> Files {
            Files(tempfile::tempdir().unwrap())
        }

        fn put(&self, name: &str, bytes: &[u8]) -> std::path::PathBuf {
            let p = self.0.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }

        fn path(&self, name: &str) -> std::path::PathBuf {
            self.0.path().join(name)
        }
    }

    /// The markers of a JPEG's segments before its first scan.
    fn markers(jpeg: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut at = 2;
        while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
            let marker = jpeg[at + 1];
            out.push(marker);
            if marker == 0xDA {
                break;
            }
            at += 2 + usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        }
        out
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// Nothing of the camera's metadata is left.
    fn assert_clean(bytes: &[u8]) {
        for needle in [&b"secret"[..], b"Exif", b"EXIF", b"eXIf", b"tEXt", b"MPF"] {
            assert!(
                !contains(bytes, needle),
                "{:?} left",
                String::from_utf8_lossy(needle)
            );
        }
        let exif = exif::Reader::new().read_from_container(&mut Cursor::new(bytes));
        assert!(exif.is_err(), "EXIF left");
        if Kind::of(bytes) == Some(Kind::Jpeg) {
            let m = markers(bytes);
            assert!(
                m.iter()
                    .all(|&m| !(0xE1..=0xEF).contains(&m) || m == 0xE2 || m == 0xEE),
                "APPn left: {m:x?}"
            );
            assert!(!m.contains(&0xFE), "comment left");
        }
    }

    fn has_gps(bytes: &[u8]) -> bool {
        exif::Reader::new()
            .read_from_container(&mut Cursor::new(bytes))
            .map(|e| {
                e.get_field(exif::Tag::GPSLatitude, exif::In::PRIMARY)
                    .is_some()
            })
            .unwrap_or(false)
    }

    fn decode_bytes(bytes: &[u8]) -> DynamicImage {
        image::load_from_memory(bytes).unwrap()
    }

    /// The file matches what `prepare_photo` said of it.
    fn check_written(p: &Prepared, dst: &Path) -> Vec<u8> {
        let bytes = std::fs::read(dst).unwrap();
        assert_eq!(p.size, bytes.len() as u64);
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        assert_eq!(p.sha256, sha);
        assert_eq!(sniff(&bytes), Some(p.media_type));
        assert_eq!(Kind::of(&bytes).map(Kind::ext), Some(p.name_ext));
        let img = decode_bytes(&bytes);
        assert_eq!((img.width(), img.height()), (p.width, p.height));
        bytes
    }

    fn is_red(p: Rgb<u8>) -> bool {
        p.0[0] > 200 && p.0[2] < 60
    }

    fn is_blue(p: Rgb<u8>) -> bool {
        p.0[2] > 200 && p.0[0] < 60
    }

    // ---- sniffing ----------------------------------------------------------

    #[test]
    fn only_raster_magic_makes_a_picture() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some("image/png"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"GIF89a\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"GIF87a\x01\0"), Some("image/gif"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>"), None);
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>"), None);
        assert_eq!(sniff(b"<!DOCTYPE html><html>"), None);
        assert_eq!(sniff(b"BM\x36\0\0\0"), None);
        assert_eq!(sniff(&[0xFF, 0xD8]), None);
        assert_eq!(sniff(b""), None);
    }

    // ---- orientation and metadata --------------------------------------------

    #[test]
    fn the_exif_fixture_is_real_exif() {
        let j = camera_jpeg(&halves(40, 20), 6);
        assert!(has_gps(&j));
        let mut dec = image::codecs::jpeg::JpegDecoder::new(Cursor::new(&j)).unwrap();
        assert_eq!(dec.orientation().unwrap(), Orientation::Rotate90);
    }

    #[test]
    fn a_turned_photo_is_sent_upright_without_exif() {
        let f = Files::new();
        let src = f.put("sideways.jpg", &camera_jpeg(&halves(40, 20), 6));
        let probe = probe(&src, &Limits::DEFAULT).unwrap();
        assert_eq!((probe.width, probe.height, probe.animated), (20, 40, false));
        for quality in [Quality::Original, Quality::Smaller] {
            let dst = f.path("out");
            let p = prepare_photo(&src, &dst, quality, &Limits::DEFAULT).unwrap();
            assert_eq!((p.width, p.height, p.media_type), (20, 40, "image/jpeg"));
            let bytes = check_written(&p, &dst);
            assert_clean(&bytes);
            // Orientation 6 turns it a quarter clockwise: the left (red)
            // half is now on top.
            let img = decode_bytes(&bytes).to_rgb8();
            assert!(is_red(*img.get_pixel(10, 5)), "{quality:?}");
            assert!(is_blue(*img.get_pixel(10, 35)), "{quality:?}");
        }
    }

    #[test]
    fn every_orientation_comes_out_upright() {
        let f = Files::new();
        for orientation in 1..=8u16 {
            let src = f.put("o.jpg", &camera_jpeg(&halves(40, 20), orientation));
            let p =
                prepare_photo(&src, &f.path("o.out"), Quality::Original, &Limits::DEFAULT).unwrap();
            let sideways = orientation >= 5;
            let expect = if sideways { (20, 40) } else { (40, 20) };
            assert_eq!((p.width, p.height), expect, "orientation {orientation}");
            assert_clean(&std::fs::read(f.path("o.out")).unwrap());
        }
    }

    #[test]
    fn gps_is_gone_in_both_qualities() {
        let f = Files::new();
        let original = camera_jpeg(&photo(64, 48), 1);
        assert!(has_gps(&original));
        let src = f.put("gps.jpg", &original);
        for quality in [Quality::Original, Quality::Smaller] {
            let dst = f.path("gps.out");
            let p = prepare_photo(&src, &dst, quality, &Limits::DEFAULT).unwrap();
            let bytes = check_written(&p, &dst);
            assert!(!has_gps(&bytes));
            assert_clean(&bytes);
            assert!(p.size <= original.len() as u64, "{quality:?}");
        }
    }

    #[test]
    fn an_upright_original_keeps_its_pixels_and_colour_profile() {
        let f = Files::new();
        let original = camera_jpeg(&photo(64, 48), 1);
        let src = f.put("keep.jpg", &original);
        let dst = f.path("keep.out");
        let p = prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        let bytes = check_written(&p, &dst);
        assert_clean(&bytes);
        assert_eq!(decode_bytes(&bytes), decode_bytes(&original));
        assert!(contains(&bytes, ICC));
        // Only the metadata went: the rest is the same bytes.
        let plain = with_segments(&jpeg(&photo(64, 48), 90), &[segment(0xE2, ICC)], b"");
        assert_eq!(bytes, plain);
    }

    #[test]
    fn a_progressive_scan_structure_is_copied_whole() {
        // Restart markers and stuffed bytes inside the scan pass through.
        let mut j = vec![0xFF, 0xD8];
        j.extend(segment(0xE1, b"Exif\0\0junk"));
        j.extend(segment(0xDB, &[0; 65]));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        j.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xFF, 0xD1]);
        j.extend(segment(0xC4, &[0; 17]));
        j.extend(segment(0xFE, b"secret"));
        j.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        j.extend_from_slice(&[0x78, 0xFF, 0xD9]);
        j.extend_from_slice(b"secret-trailer");
        let mut out = Vec::new();
        jpeg_strip(&mut Cursor::new(&j), &mut out).unwrap();
        let mut expect = vec![0xFF, 0xD8];
        expect.extend(segment(0xDB, &[0; 65]));
        expect.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        expect.extend_from_slice(&[0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, 0xD1]);
        expect.extend(segment(0xC4, &[0; 17]));
        expect.extend(segment(0xDA, &[1, 1, 0, 0, 63, 0]));
        expect.extend_from_slice(&[0x78, 0xFF, 0xD9]);
        assert_eq!(out, expect);
    }

    #[test]
    fn png_text_and_exif_chunks_are_removed() {
        let f = Files::new();
        let img = DynamicImage::ImageRgb8(photo(30, 20));
        let original = png_with_chunks(
            &png(&img),
            &[
                png_chunk(b"tEXt", b"Comment\0secret-text"),
                png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0secret-xmp"),
                png_chunk(b"eXIf", &tiff(1)),
                png_chunk(b"tIME", &[7, 232, 1, 1, 0, 0, 0]),
                png_chunk(b"pHYs", &[0, 0, 11, 19, 0, 0, 11, 19, 1]),
            ],
        );
        let src = f.put("text.png", &original);
        for quality in [Quality::Original, Quality::Smaller] {
            let dst = f.path("text.out");
            let p = prepare_photo(&src, &dst, quality, &Limits::DEFAULT).unwrap();
            assert_eq!(p.media_type, "image/png");
            let bytes = check_written(&p, &dst);
            assert_clean(&bytes);
            assert!(!contains(&bytes, b"tIME"));
            assert!(contains(&bytes, b"pHYs"));
            assert_eq!(decode_bytes(&bytes), img);
        }
    }

    #[test]
    fn a_turned_png_is_turned_upright() {
        let f = Files::new();
        let img = DynamicImage::ImageRgb8(halves(40, 20));
        let src = f.put(
            "turned.png",
            &png_with_chunks(&png(&img), &[png_chunk(b"eXIf", &tiff(6))]),
        );
        let dst = f.path("turned.out");
        let p = prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        assert_eq!((p.width, p.height, p.media_type), (20, 40, "image/png"));
        let bytes = check_written(&p, &dst);
        assert_clean(&bytes);
        let out = decode_bytes(&bytes).to_rgb8();
        assert!(is_red(*out.get_pixel(10, 5)));
        assert!(is_blue(*out.get_pixel(10, 35)));
    }

    // ---- sizes -------------------------------------------------------------

    #[test]
    fn smaller_fits_a_large_photo_into_1920() {
        let f = Files::new();
        let src = f.put("big.jpg", &camera_jpeg(&photo(4000, 3000), 1));
        let dst = f.path("big.out");
        let p = prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        assert_eq!(
            (p.width, p.height, p.media_type),
            (1920, 1440, "image/jpeg")
        );
        assert_clean(&check_written(&p, &dst));
        // Original keeps every pixel.
        let p = prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        assert_eq!((p.width, p.height), (4000, 3000));
    }

    #[test]
    fn smaller_never_enlarges_nor_grows_a_small_photo() {
        let f = Files::new();
        // Already at quality 50: encoding it again at 80 would grow it.
        let original = with_segments(&jpeg(&photo(300, 200), 50), &[exif_app1(1)], b"");
        let src = f.put("small.jpg", &original);
        let dst = f.path("small.out");
        let p = prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        assert_eq!((p.width, p.height), (300, 200));
        assert!(p.size < original.len() as u64);
        let bytes = check_written(&p, &dst);
        assert_clean(&bytes);
        // It is the original, less its EXIF.
        assert_eq!(bytes, jpeg(&photo(300, 200), 50));
    }

    #[test]
    fn smaller_keeps_transparent_pngs_as_png() {
        let f = Files::new();
        let img = DynamicImage::ImageRgba8(RgbaImage::from_fn(2400, 1600, |x, y| {
            Rgba([
                (x % 256) as u8,
                (y % 256) as u8,
                90,
                if x < 1200 { 0 } else { 255 },
            ])
        }));
        let src = f.put("alpha.png", &png(&img));
        let dst = f.path("alpha.out");
        let p = prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        assert_eq!((p.width, p.height, p.media_type), (1920, 1280, "image/png"));
        let out = decode_bytes(&check_written(&p, &dst));
        assert!(out.color().has_alpha());
    }

    #[test]
    fn smaller_turns_a_large_opaque_png_into_jpeg() {
        let f = Files::new();
        let original = png(&DynamicImage::ImageRgb8(noise(800, 600)));
        assert!(original.len() as u64 > SMALLER_PNG_AS_JPEG_ABOVE);
        let src = f.put("shot.png", &original);
        let dst = f.path("shot.out");
        let p = prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        assert_eq!(
            (p.width, p.height, p.media_type, p.name_ext),
            (800, 600, "image/jpeg", "jpg")
        );
        assert!(p.size < original.len() as u64);
        check_written(&p, &dst);
        // Original keeps it a PNG, every pixel.
        let p = prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        assert_eq!(p.media_type, "image/png");
        assert_eq!(std::fs::read(&dst).unwrap(), original);
    }

    // ---- animation ---------------------------------------------------------

    #[test]
    fn an_animated_gif_is_sent_as_it_is() {
        let f = Files::new();
        let original = gif(3);
        let src = f.put("moving.gif", &original);
        let probed = probe(&src, &Limits::DEFAULT).unwrap();
        assert_eq!(
            probed,
            Probe {
                media_type: "image/gif",
                width: 12,
                height: 8,
                animated: true
            }
        );
        for quality in [Quality::Original, Quality::Smaller] {
            let dst = f.path("moving.out");
            let p = prepare_photo(&src, &dst, quality, &Limits::DEFAULT).unwrap();
            assert_eq!((p.media_type, p.width, p.height), ("image/gif", 12, 8));
            assert_eq!(check_written(&p, &dst), original);
        }
    }

    #[test]
    fn a_still_gif_is_not_animated() {
        let f = Files::new();
        let src = f.put("still.gif", &gif(1));
        assert!(!probe(&src, &Limits::DEFAULT).unwrap().animated);
    }

    #[test]
    fn an_animated_webp_keeps_its_frames_and_loses_its_exif() {
        let f = Files::new();
        let original = animated_webp(2);
        let src = f.put("moving.webp", &original);
        let probed = probe(&src, &Limits::DEFAULT).unwrap();
        assert_eq!(
            (probed.width, probed.height, probed.animated),
            (10, 6, true)
        );
        let dst = f.path("moving.out");
        let p = prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        assert_eq!(p.media_type, "image/webp");
        let bytes = check_written(&p, &dst);
        assert_clean(&bytes);
        // The VP8X flags no longer announce EXIF; the animation stays.
        assert_eq!(bytes[20] & 0x08, 0);
        assert!(probe(&dst, &Limits::DEFAULT).unwrap().animated);
        assert_eq!(original.len() - bytes.len(), 8 + tiff(1).len());
        assert!(
            !probe(&f.put("one.webp", &animated_webp(1)), &Limits::DEFAULT)
                .unwrap()
                .animated
        );
    }

    // ---- hostile files -----------------------------------------------------

    fn assert_too_large(r: Result<impl fmt::Debug, MediaError>, expect: fn(&Oversize) -> bool) {
        match r {
            Err(MediaError::TooLarge { what }) if expect(&what) => {}
            other => panic!("expected too large, got {other:?}"),
        }
    }

    /// All four readers of a file refuse it the same way.
    fn refused(f: &Files, name: &str, bytes: &[u8], limits: &Limits) -> Vec<MediaError> {
        let src = f.put(name, bytes);
        let dst = f.path("refused.out");
        let mut errors = vec![
            probe(&src, limits).unwrap_err(),
            thumbnail(&src, 480, limits).unwrap_err(),
            tiny_thumbnail(&src, limits).unwrap_err(),
        ];
        for quality in [Quality::Original, Quality::Smaller] {
            errors.push(prepare_photo(&src, &dst, quality, limits).unwrap_err());
            assert!(!dst.exists(), "a refused picture left a file");
        }
        errors
    }

    #[test]
    fn a_png_bomb_is_refused_from_its_header() {
        let f = Files::new();
        // 30000x30000 would be 2.7 GB of pixels.
        let bomb = png_header_only(30_000, 30_000);
        assert!(bomb.len() < 100);
        for e in refused(&f, "bomb.png", &bomb, &Limits::DEFAULT) {
            assert_too_large(Err::<(), _>(e), |w| {
                matches!(w, Oversize::Sides { width: 30_000, .. })
            });
        }
        // Within the sides, too many pixels.
        for e in refused(
            &f,
            "bomb2.png",
            &png_header_only(16_000, 16_000),
            &Limits::DEFAULT,
        ) {
            assert_too_large(Err::<(), _>(e), |w| matches!(w, Oversize::Pixels { .. }));
        }
    }

    #[test]
    fn the_decoder_gets_the_memory_limit() {
        let f = Files::new();
        // 1000x1000 RGBA zeros: a few KB on disk, 4 MB decoded.
        let mut zeros = Vec::new();
        PngEncoder::new_with_quality(&mut zeros, CompressionType::Best, PngFilter::Adaptive)
            .write_image(&[0; 4_000_000], 1000, 1000, ExtendedColorType::Rgba8)
            .unwrap();
        assert!(zeros.len() < 20_000, "{}", zeros.len());
        let tight = Limits {
            max_alloc: 1024 * 1024,
            ..Limits::DEFAULT
        };
        let src = f.put("zeros.png", &zeros);
        assert_too_large(thumbnail(&src, 480, &tight), |w| {
            matches!(w, Oversize::Memory { max: 1_048_576 })
        });
        assert_too_large(
            prepare_photo(&src, &f.path("z.out"), Quality::Smaller, &tight),
            |w| matches!(w, Oversize::Memory { .. }),
        );
        assert!(thumbnail(&src, 480, &Limits::DEFAULT).is_ok());
    }

    #[test]
    fn a_huge_jpeg_header_is_refused() {
        let f = Files::new();
        for e in refused(
            &f,
            "huge.jpg",
            &jpeg_claiming(30_000, 30_000),
            &Limits::DEFAULT,
        ) {
            assert_too_large(Err::<(), _>(e), |w| {
                matches!(w, Oversize::Sides { height: 30_000, .. })
            });
        }
    }

    #[test]
    fn a_file_past_the_size_limit_is_refused_before_reading() {
        let f = Files::new();
        let small = Limits {
            max_bytes: 100,
            ..Limits::DEFAULT
        };
        for e in refused(&f, "big.jpg", &jpeg(&photo(64, 48), 90), &small) {
            assert_too_large(Err::<(), _>(e), |w| {
                matches!(w, Oversize::File { max: 100, .. })
            });
        }
    }

    #[test]
    fn cut_short_pictures_are_corrupt() {
        let f = Files::new();
        let whole_jpeg = jpeg(&photo(200, 150), 90);
        let whole_png = png(&DynamicImage::ImageRgb8(noise(200, 150)));
        let whole_webp = animated_webp(2);
        for (name, whole) in [
            ("cut.jpg", whole_jpeg),
            ("cut.png", whole_png),
            ("cut.webp", whole_webp),
        ] {
            let cut = &whole[..whole.len() / 2];
            let src = f.put(name, cut);
            let dst = f.path("cut.out");
            for quality in [Quality::Original, Quality::Smaller] {
                let e = prepare_photo(&src, &dst, quality, &Limits::DEFAULT).unwrap_err();
                assert!(
                    matches!(e, MediaError::Corrupt(_)),
                    "{name} {quality:?}: {e:?}"
                );
                assert!(!dst.exists());
            }
            if name != "cut.webp" {
                let e = thumbnail(&src, 480, &Limits::DEFAULT).unwrap_err();
                assert!(matches!(e, MediaError::Corrupt(_)), "{name}: {e:?}");
            }
        }
        let cut_gif = gif(2);
        let src = f.put("cut.gif", &cut_gif[..20]);
        let e = prepare_photo(
            &src,
            &f.path("cut.out"),
            Quality::Original,
            &Limits::DEFAULT,
        )
        .unwrap_err();
        assert!(matches!(e, MediaError::Corrupt(_)), "{e:?}");
    }

    #[test]
    fn web_pages_and_svg_are_not_pictures_whatever_their_name() {
        let f = Files::new();
        for (name, bytes) in [
            (
                "page.jpg",
                &b"<!DOCTYPE html><html><script>alert(1)</script></html>"[..],
            ),
            (
                "drawing.png",
                b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script/></svg>",
            ),
            ("empty.gif", b""),
            ("tiny.webp", b"RIFF"),
        ] {
            for e in refused(&f, name, bytes, &Limits::DEFAULT) {
                assert!(matches!(e, MediaError::NotAnImage), "{name}: {e:?}");
            }
        }
        // A file refused before writing leaves the destination alone.
        let src = f.put("page.jpg", b"<html></html>");
        let dst = f.put("kept", b"already here");
        assert!(prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).is_err());
        assert_eq!(std::fs::read(&dst).unwrap(), b"already here");
    }

    #[test]
    fn errors_read_as_sentences() {
        let e = MediaError::TooLarge {
            what: Oversize::Sides {
                width: 30_000,
                height: 30_000,
                max_width: 16_384,
                max_height: 16_384,
            },
        };
        assert_eq!(
            e.to_string(),
            "the picture is too large: it is 30000 × 30000 pixels; pictures up to 16384 × 16384 are accepted"
        );
        let e = MediaError::TooLarge {
            what: Oversize::File {
                bytes: 61_234_567,
                max: 50_000_000,
            },
        };
        assert_eq!(
            e.to_string(),
            "the picture is too large: the file is 61.2 MB; pictures up to 50 MB are accepted"
        );
        assert_eq!(
            MediaError::NotAnImage.to_string(),
            "this file is not a picture Tern can show (PNG, JPEG, GIF or WebP)"
        );
    }

    // ---- thumbnails --------------------------------------------------------

    #[test]
    fn a_preview_is_upright_jpeg_or_png_with_alpha() {
        let f = Files::new();
        let src = f.put("p.jpg", &camera_jpeg(&photo(1600, 1200), 6));
        let t = thumbnail(&src, 480, &Limits::DEFAULT).unwrap();
        assert_eq!((t.width, t.height, t.media_type), (360, 480, "image/jpeg"));
        assert_clean(&t.bytes);
        let img = decode_bytes(&t.bytes);
        assert_eq!((img.width(), img.height()), (360, 480));

        let alpha = DynamicImage::ImageRgba8(RgbaImage::from_pixel(100, 50, Rgba([1, 2, 3, 100])));
        let src = f.put("a.png", &png(&alpha));
        let t = thumbnail(&src, 480, &Limits::DEFAULT).unwrap();
        // Never enlarged.
        assert_eq!((t.width, t.height, t.media_type), (100, 50, "image/png"));
    }

    #[test]
    fn a_tiny_thumbnail_is_a_few_pixels_of_png_like_dino_sends() {
        let f = Files::new();
        for ((w, h), orientation, expect) in [
            ((400, 300), 1, (3, 3)),
            ((640, 360), 1, (4, 2)),
            ((640, 360), 6, (2, 4)),
            ((100, 800), 1, (1, 8)),
            ((900, 100), 1, (8, 1)),
        ] {
            let src = f.put("t.jpg", &camera_jpeg(&photo(w, h), orientation));
            let t = tiny_thumbnail(&src, &Limits::DEFAULT).unwrap();
            assert_eq!((t.width, t.height), expect, "{w}x{h} o{orientation}");
            assert_eq!(t.media_type, "image/png");
            assert!(t.bytes.len() <= TINY_MAX_BYTES, "{} bytes", t.bytes.len());
            assert_clean(&t.bytes);
            let back = decode_data_image(&t.bytes, &Limits::INLINE).unwrap();
            assert_eq!((back.width, back.height), expect);
        }
        // The colours survive: a red/blue photo gives red and blue pixels.
        let src = f.put("rb.png", &png(&DynamicImage::ImageRgb8(halves(800, 100))));
        let t = tiny_thumbnail(&src, &Limits::DEFAULT).unwrap();
        let img = decode_bytes(&t.bytes).to_rgb8();
        assert!(is_red(*img.get_pixel(0, 0)));
        assert!(is_blue(*img.get_pixel(7, 0)));
    }

    #[test]
    fn a_received_inline_thumbnail_is_encoded_again() {
        let theirs = png_with_chunks(
            &png(&DynamicImage::ImageRgb8(halves(3, 3))),
            &[png_chunk(b"tEXt", b"Comment\0secret")],
        );
        let t = decode_data_image(&theirs, &Limits::INLINE).unwrap();
        assert_eq!((t.width, t.height, t.media_type), (3, 3, "image/png"));
        assert_ne!(t.bytes, theirs);
        assert_clean(&t.bytes);
        // A JPEG thumbnail, turned, comes back upright as PNG.
        let jpeg_thumb = camera_jpeg(&halves(40, 20), 6);
        let t = decode_data_image(&jpeg_thumb, &Limits::INLINE).unwrap();
        assert_eq!((t.width, t.height, t.media_type), (20, 40, "image/png"));
        // Larger ones are shown at most 256 a side.
        let big = png(&DynamicImage::ImageRgb8(halves(512, 300)));
        let t = decode_data_image(&big, &Limits::INLINE).unwrap();
        assert_eq!((t.width, t.height), (256, 150));
    }

    #[test]
    fn hostile_inline_thumbnails_are_refused() {
        let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"alert(1)\"/>";
        assert!(matches!(
            decode_data_image(svg, &Limits::INLINE),
            Err(MediaError::NotAnImage)
        ));
        assert_too_large(
            decode_data_image(&png_header_only(30_000, 30_000), &Limits::INLINE),
            |w| matches!(w, Oversize::Sides { .. }),
        );
        assert_too_large(
            decode_data_image(&jpeg_claiming(4000, 3000), &Limits::INLINE),
            |w| matches!(w, Oversize::Sides { .. }),
        );
        let large = png(&DynamicImage::ImageRgb8(noise(200, 200)));
        assert!(large.len() > 64 * 1024);
        assert_too_large(decode_data_image(&large, &Limits::INLINE), |w| {
            matches!(w, Oversize::File { .. })
        });
        let whole = jpeg(&photo(64, 48), 90);
        assert!(matches!(
            decode_data_image(&whole[..whole.len() / 2], &Limits::INLINE),
            Err(MediaError::Corrupt(_))
        ));
    }

    // ---- timing (by hand) ----------------------------------------------------

    /// Prints how long a 12-megapixel photo takes; run with
    /// `cargo test --release -p tern-core --lib media::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        let f = Files::new();
        let src = f.put("t.jpg", &camera_jpeg(&noise(4000, 3000), 1));
        let turned = f.put("t6.jpg", &camera_jpeg(&noise(4000, 3000), 6));
        let dst = f.path("t.out");
        let time = |what: &str, run: &dyn Fn()| {
            let start = std::time::Instant::now();
            run();
            println!("{what}: {:?}", start.elapsed());
        };
        time("decode", &|| {
            decode(&src, &Limits::DEFAULT).unwrap();
        });
        let (img, _) = decode(&src, &Limits::DEFAULT).unwrap();
        time("shrink 64", &|| {
            shrink(img.clone(), 64);
        });
        time("shrink 480", &|| {
            shrink(img.clone(), 480);
        });
        time("fit 1920", &|| {
            fit(img.clone(), 1920);
        });
        let small = fit(img.clone(), 1920);
        time("encode 1920 jpeg", &|| {
            encode_jpeg(&small, 80, None, &mut Vec::new()).unwrap();
        });
        time("probe", &|| {
            probe(&src, &Limits::DEFAULT).unwrap();
        });
        time("smaller", &|| {
            prepare_photo(&src, &dst, Quality::Smaller, &Limits::DEFAULT).unwrap();
        });
        time("original, upright (segments only)", &|| {
            prepare_photo(&src, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        });
        time("original, turned (encoded again)", &|| {
            prepare_photo(&turned, &dst, Quality::Original, &Limits::DEFAULT).unwrap();
        });
        time("thumbnail 480", &|| {
            thumbnail(&src, 480, &Limits::DEFAULT).unwrap();
        });
        time("tiny thumbnail", &|| {
            tiny_thumbnail(&src, &Limits::DEFAULT).unwrap();
        });
    }
}
