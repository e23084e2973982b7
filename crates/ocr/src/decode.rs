//! From uploaded bytes to grey pages, with every limit checked from the
//! header before any pixel buffer is allocated (a decompression bomb is
//! refused, not decoded).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{ImageFormat, ImageReader};

use crate::leptonica;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    Tiff,
    Webp,
    Bmp,
    Gif,
    Pdf,
}

impl Format {
    /// Recognise a document by its first bytes, whatever the client claims.
    pub fn sniff(b: &[u8]) -> Option<Self> {
        Some(match b {
            [0x89, b'P', b'N', b'G', ..] => Self::Png,
            [0xFF, 0xD8, 0xFF, ..] => Self::Jpeg,
            [b'I', b'I', 42, 0, ..] | [b'M', b'M', 0, 42, ..] => Self::Tiff,
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Self::Webp,
            [b'B', b'M', ..] => Self::Bmp,
            [b'G', b'I', b'F', b'8', ..] => Self::Gif,
            [b'%', b'P', b'D', b'F', ..] => Self::Pdf,
            _ => return None,
        })
    }

    fn image_format(self) -> Option<ImageFormat> {
        Some(match self {
            Self::Png => ImageFormat::Png,
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Webp => ImageFormat::WebP,
            Self::Bmp => ImageFormat::Bmp,
            Self::Gif => ImageFormat::Gif,
            Self::Tiff | Self::Pdf => return None,
        })
    }
}

/// One page, eight-bit grey, row-major.
#[derive(Clone)]
pub struct Page {
    pub width: u32,
    pub height: u32,
    pub gray: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_pixels: u64,
    pub max_side: u32,
    pub max_pages: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("the file is empty")]
    Empty,
    #[error("unsupported file type (PDF, PNG, JPEG, TIFF, WebP, BMP and GIF are accepted)")]
    Unsupported,
    #[error("PDF input is unavailable on this server (PDFium is not installed)")]
    PdfUnavailable,
    #[error("too many PDFs waiting")]
    Busy,
    #[error("page {page} is {width}x{height}: more than {max} pixels")]
    TooManyPixels {
        page: usize,
        width: u32,
        height: u32,
        max: u64,
    },
    #[error("page {page} is {width}x{height}: a side is longer than {max} pixels")]
    SideTooLong {
        page: usize,
        width: u32,
        height: u32,
        max: u32,
    },
    #[error("more than {max} pages")]
    TooManyPages { max: usize },
    /// A well-formed file whose encoding this server cannot read, named.
    #[error("{0}")]
    UnsupportedEncoding(String),
    /// What is wrong, in the user's terms; the decoder's own words (which
    /// name library internals) go to the log only.
    #[error("{0}")]
    Corrupt(String),
}

/// The detail of an image that its decoder refused.
pub(crate) const UNDECODABLE: &str = "the image is damaged or truncated and could not be decoded";

/// An image its decoder refused: logged with the decoder's error, told to
/// the user as [`UNDECODABLE`].
fn undecodable<E: std::fmt::Display>(e: E) -> DecodeError {
    tracing::warn!(error = %e, "an uploaded image could not be decoded");
    DecodeError::Corrupt(UNDECODABLE.into())
}

impl Limits {
    pub(crate) fn check(&self, page: usize, width: u32, height: u32) -> Result<(), DecodeError> {
        if page > self.max_pages {
            return Err(DecodeError::TooManyPages {
                max: self.max_pages,
            });
        }
        if width == 0 || height == 0 {
            return Err(DecodeError::Corrupt(format!("page {page} has no pixels")));
        }
        if width > self.max_side || height > self.max_side {
            return Err(DecodeError::SideTooLong {
                page,
                width,
                height,
                max: self.max_side,
            });
        }
        if u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::TooManyPixels {
                page,
                width,
                height,
                max: self.max_pixels,
            });
        }
        Ok(())
    }
}

/// What a page's header says: its size, and the bytes its decoding needs at
/// most (the decoder's buffer, plus the grey copy when that is another).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub width: u32,
    pub height: u32,
    pub need: u64,
}

impl PageInfo {
    /// Bytes the decoded grey page holds.
    pub fn held(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
}

/// Every page's header, with the limits checked (page count, sides,
/// pixels) before a single pixel is decoded.
pub fn probe(bytes: &[u8], limits: &Limits) -> Result<Vec<PageInfo>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    match Format::sniff(bytes).ok_or(DecodeError::Unsupported)? {
        Format::Tiff => probe_tiff(bytes, limits),
        Format::Pdf => Err(DecodeError::Unsupported),
        other => {
            let format = other.image_format().ok_or(DecodeError::Unsupported)?;
            probe_single(bytes, format, limits).map(|p| vec![p])
        }
    }
}

/// Decode page `index` (from 0) of a document that [`probe`] accepted.
pub fn decode_page(bytes: &[u8], index: usize, limits: &Limits) -> Result<Page, DecodeError> {
    match Format::sniff(bytes).ok_or(DecodeError::Unsupported)? {
        Format::Tiff => decode_tiff_page(bytes, index, limits),
        Format::Pdf => Err(DecodeError::Unsupported),
        other => {
            let format = other.image_format().ok_or(DecodeError::Unsupported)?;
            decode_single(bytes, format, limits)
        }
    }
}

/// Decode every page of `bytes`, one after the other.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Vec<Page>, DecodeError> {
    let pages = probe(bytes, limits)?;
    (0..pages.len())
        .map(|i| decode_page(bytes, i, limits))
        .collect()
}

fn probe_single(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
) -> Result<PageInfo, DecodeError> {
    use image::ImageDecoder;

    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(undecodable)?;
    limits.check(1, width, height)?;
    let mut decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(undecodable)?;
    let pixels = u64::from(width) * u64::from(height);
    let decoded = decoder.total_bytes().max(pixels);
    let grey_copy = match decoder.color_type() {
        image::ColorType::L8 => 0,
        // Grey and alpha, then the page on white.
        c if c.has_alpha() => 3 * pixels,
        _ => pixels,
    };
    // Turning the page upright copies the decoded image once.
    let turned = if orientation(&mut decoder) == Orientation::NoTransforms {
        0
    } else {
        decoded
    };
    Ok(PageInfo {
        width,
        height,
        need: decoded + grey_copy + turned,
    })
}

/// The orientation the file's metadata asks for (a phone's EXIF tag);
/// unreadable metadata is no reason to refuse the pixels.
fn orientation(decoder: &mut impl image::ImageDecoder) -> Orientation {
    decoder.orientation().unwrap_or_else(|e| {
        tracing::info!(error = %e, "an image's orientation metadata could not be read");
        Orientation::NoTransforms
    })
}

/// A single-image file, decoded and turned upright as its EXIF orientation
/// says (a phone photo of a page shot sideways reads upright, whatever
/// the orientation pass makes of it); the page's size is the upright one.
fn decode_single(bytes: &[u8], format: ImageFormat, limits: &Limits) -> Result<Page, DecodeError> {
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let (width, height) = reader.into_dimensions().map_err(undecodable)?;
    limits.check(1, width, height)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut guard = image::Limits::default();
    guard.max_image_width = Some(limits.max_side);
    guard.max_image_height = Some(limits.max_side);
    // RGBA of the largest allowed page, plus slack for the decoder.
    guard.max_alloc = Some(limits.max_pixels.saturating_mul(4) + (64 << 20));
    reader.limits(guard);
    let mut decoder = reader.into_decoder().map_err(undecodable)?;
    let turn = orientation(&mut decoder);
    let mut image = image::DynamicImage::from_decoder(decoder).map_err(undecodable)?;
    image.apply_orientation(turn);
    let gray = if image.color().has_alpha() {
        on_white(image.into_luma_alpha8())
    } else {
        image.into_luma8()
    };
    Ok(Page {
        width: gray.width(),
        height: gray.height(),
        gray: gray.into_raw(),
    })
}

/// A page with transparency, as it looks on white paper: what is
/// transparent is white whatever colour its pixels hold (often black).
fn on_white(image: image::GrayAlphaImage) -> image::GrayImage {
    let (width, height) = image.dimensions();
    let gray = image
        .pixels()
        .map(|p| {
            let [v, a] = p.0;
            let (v, a) = (u32::from(v), u32::from(a));
            ((v * a + 255 * (255 - a) + 127) / 255) as u8
        })
        .collect();
    image::GrayImage::from_raw(width, height, gray).expect("one byte per pixel")
}

fn tiff_decoder<'a>(bytes: &'a [u8], limits: &Limits) -> Result<TiffDecoder<'a>, DecodeError> {
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    tiff_limits.intermediate_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    Ok(tiff::decoder::Decoder::new(Cursor::new(bytes))
        .map_err(undecodable)?
        .with_limits(tiff_limits))
}

/// Bytes one pixel of the current TIFF directory takes in Leptonica's
/// image, from its tags (before the grey copy): a bit for bilevel pages, a
/// byte or two for grey and palette, four for colour, which libtiff reads
/// through an RGBA raster of the page as well.
fn tiff_bytes_per_pixel(decoder: &mut TiffDecoder<'_>) -> Result<f64, DecodeError> {
    use tiff::tags::Tag;
    let corrupt = undecodable::<tiff::TiffError>;
    let samples: u32 = decoder
        .find_tag_unsigned(Tag::SamplesPerPixel)
        .map_err(corrupt)?
        .unwrap_or(1);
    let bits: u32 = decoder
        .find_tag_unsigned_vec(Tag::BitsPerSample)
        .map_err(corrupt)?
        .and_then(|b: Vec<u32>| b.into_iter().max())
        .unwrap_or(1);
    Ok(match (samples, bits) {
        (1, 1) => 0.125,
        (1, 0..=8) => 1.0,
        (1, _) => 2.0,
        _ => 8.0,
    })
}

type TiffDecoder<'a> = tiff::decoder::Decoder<Cursor<&'a [u8]>>;

/// Walk the TIFF's directories (tags only, no strip is read).
fn probe_tiff(bytes: &[u8], limits: &Limits) -> Result<Vec<PageInfo>, DecodeError> {
    let corrupt = undecodable::<tiff::TiffError>;
    let mut decoder = tiff_decoder(bytes, limits)?;
    let mut pages = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(corrupt)?;
        limits.check(pages.len() + 1, width, height)?;
        let per_pixel = tiff_bytes_per_pixel(&mut decoder)?;
        let pixels = u64::from(width) * u64::from(height);
        // Leptonica's image, its grey conversion, and the grey page.
        pages.push(PageInfo {
            width,
            height,
            need: (pixels as f64 * per_pixel) as u64 + 2 * pixels,
        });
        if !decoder.more_images() {
            return Ok(pages);
        }
        if pages.len() >= limits.max_pages {
            return Err(DecodeError::TooManyPages {
                max: limits.max_pages,
            });
        }
        decoder.next_image().map_err(corrupt)?;
    }
}

/// Page `index` of a TIFF: its directory checked again by the `tiff`
/// crate, its pixels read by Leptonica ([`crate::leptonica`]).
fn decode_tiff_page(bytes: &[u8], index: usize, limits: &Limits) -> Result<Page, DecodeError> {
    use tiff::tags::Tag;
    let corrupt = undecodable::<tiff::TiffError>;
    let mut decoder = tiff_decoder(bytes, limits)?;
    if index > 0 {
        decoder.seek_to_image(index).map_err(corrupt)?;
    }
    let (width, height) = decoder.dimensions().map_err(corrupt)?;
    limits.check(index + 1, width, height)?;
    let code: u16 = decoder
        .find_tag_unsigned(Tag::Compression)
        .map_err(corrupt)?
        .unwrap_or(1);
    drop(decoder);
    let (name, readable) = leptonica::compression(code);
    if !readable {
        return Err(unsupported_tiff(&name, code));
    }
    match leptonica::tiff_page(bytes, index) {
        Some(page) if (page.width, page.height) == (width, height) => Ok(page),
        Some(page) => {
            tracing::warn!(
                width,
                height,
                read_width = page.width,
                read_height = page.height,
                "a TIFF page read at another size than its header says"
            );
            Err(DecodeError::Corrupt(TIFF_PAGE_DAMAGED.into()))
        }
        None => {
            tracing::warn!(page = index + 1, compression = %name, "libtiff could not read a TIFF page");
            Err(DecodeError::Corrupt(TIFF_PAGE_DAMAGED.into()))
        }
    }
}

/// The detail of a TIFF page libtiff could not read.
const TIFF_PAGE_DAMAGED: &str = "the TIFF page is damaged or truncated and could not be read";

fn unsupported_tiff(name: &str, code: u16) -> DecodeError {
    DecodeError::UnsupportedEncoding(format!(
        "the TIFF is compressed with {name} (compression {code}), which this server cannot read; \
         none, CCITT G3/G4, LZW, PackBits, Deflate, JPEG, JBIG, LZMA, Zstandard and WebP are read"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_pixels: 250_000_000,
        max_side: 32_767,
        max_pages: 10,
    };

    fn png(width: u32, height: u32) -> Vec<u8> {
        let img = image::GrayImage::from_pixel(width, height, image::Luma([200]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        out.into_inner()
    }

    #[test]
    fn decodes_a_png() {
        let pages = decode(&png(40, 30), &LIMITS).unwrap();
        assert_eq!((pages[0].width, pages[0].height), (40, 30));
        assert_eq!(pages[0].gray.len(), 1200);
    }

    #[test]
    fn refuses_a_header_claiming_ten_gigapixels_without_decoding() {
        let err = decode(&fixtures::png_claiming(100_000, 100_000), &LIMITS)
            .err()
            .unwrap();
        assert!(matches!(err, DecodeError::SideTooLong { .. }), "{err:?}");
        let err = decode(&fixtures::png_claiming(20_000, 20_000), &LIMITS)
            .err()
            .unwrap();
        assert!(matches!(err, DecodeError::TooManyPixels { .. }), "{err:?}");
    }

    #[test]
    fn empty_truncated_and_unknown_inputs_are_errors() {
        assert_eq!(decode(&[], &LIMITS).err(), Some(DecodeError::Empty));
        assert_eq!(
            decode(b"hello world", &LIMITS).err(),
            Some(DecodeError::Unsupported)
        );
        let bytes = png(300, 300);
        let truncated = &bytes[..bytes.len() / 2];
        assert!(matches!(
            decode(truncated, &LIMITS),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn a_truncated_image_is_said_in_the_users_terms() {
        let bytes = png(300, 300);
        let err = decode(&bytes[..bytes.len() / 2], &LIMITS).err().unwrap();
        assert_eq!(err.to_string(), UNDECODABLE);
    }

    #[test]
    fn a_tiffs_pages_are_probed_from_their_headers_alone() {
        // The shared strip is not deflate at all: only decoding would notice.
        let tiff = fixtures::tiff_sharing_one_strip(&[(100, 50), (30, 20)], b"not a strip", 8);
        let pages = probe(&tiff, &LIMITS).unwrap();
        assert_eq!(
            pages
                .iter()
                .map(|p| (p.width, p.height, p.need))
                .collect::<Vec<_>>(),
            // Leptonica's 8-bit image, its grey conversion, the grey page.
            [(100, 50, 3 * 5000), (30, 20, 3 * 600)]
        );
        assert!(matches!(
            decode_page(&tiff, 1, &LIMITS),
            Err(DecodeError::Corrupt(_))
        ));
    }

    #[test]
    fn a_tiff_with_too_many_pages_is_refused_from_its_headers() {
        let tiff = fixtures::tiff_sharing_one_strip(&[(10, 10); 11], b"not a strip", 8);
        assert_eq!(
            probe(&tiff, &LIMITS).err(),
            Some(DecodeError::TooManyPages { max: 10 })
        );
    }

    #[test]
    fn a_tiffs_last_page_over_the_pixel_limit_is_refused_from_its_headers() {
        let tiff =
            fixtures::tiff_sharing_one_strip(&[(10, 10), (20_000, 20_000)], b"not a strip", 8);
        assert!(matches!(
            probe(&tiff, &LIMITS),
            Err(DecodeError::TooManyPixels { page: 2, .. })
        ));
    }

    #[test]
    fn transparent_pixels_are_white_paper() {
        // Black ink, half-transparent ink, and "transparent black".
        let img = image::GrayAlphaImage::from_raw(3, 1, vec![0, 255, 0, 128, 0, 0]).unwrap();
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let page = decode(&out.into_inner(), &LIMITS).unwrap().remove(0);
        assert_eq!(page.gray, [0, 127, 255]);
    }

    #[test]
    fn a_colour_png_needs_its_rgb_buffer_and_a_grey_copy() {
        let img = image::RgbImage::from_pixel(40, 30, image::Rgb([1, 2, 3]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let pages = probe(&out.into_inner(), &LIMITS).unwrap();
        assert_eq!(pages[0].need, 40 * 30 * 3 + 40 * 30);
        assert_eq!(probe(&png(40, 30), &LIMITS).unwrap()[0].need, 40 * 30);
    }
}
