//! From uploaded bytes to grey pages, with every limit checked from the
//! header before any pixel buffer is allocated (a decompression bomb is
//! refused, not decoded).

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

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
    let decoder = ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(undecodable)?;
    let pixels = u64::from(width) * u64::from(height);
    let grey_copy = if decoder.color_type() == image::ColorType::L8 {
        0
    } else {
        pixels
    };
    Ok(PageInfo {
        width,
        height,
        need: decoder.total_bytes().max(pixels) + grey_copy,
    })
}

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
    let image = reader.decode().map_err(undecodable)?;
    let gray = image.into_luma8();
    Ok(Page {
        width,
        height,
        gray: gray.into_raw(),
    })
}

fn tiff_decoder<'a>(
    bytes: &'a [u8],
    limits: &Limits,
) -> Result<tiff::decoder::Decoder<Cursor<&'a [u8]>>, DecodeError> {
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    tiff_limits.intermediate_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    Ok(tiff::decoder::Decoder::new(Cursor::new(bytes))
        .map_err(undecodable)?
        .with_limits(tiff_limits))
}

/// Bytes per pixel of the TIFF pixel formats read.
fn tiff_bytes_per_pixel(color: tiff::ColorType) -> Result<u64, DecodeError> {
    use tiff::ColorType;
    match color {
        ColorType::Gray(8) => Ok(1),
        ColorType::Gray(16) => Ok(2),
        ColorType::RGB(8) => Ok(3),
        ColorType::RGBA(8) => Ok(4),
        other => {
            tracing::warn!(color = ?other, "an uploaded TIFF has an unsupported pixel format");
            Err(DecodeError::Corrupt(
                "the TIFF's pixel format is not supported (8-bit grey, RGB or RGBA, or 16-bit grey)"
                    .into(),
            ))
        }
    }
}

/// Walk the TIFF's directories (tags only, no strip is read).
fn probe_tiff(bytes: &[u8], limits: &Limits) -> Result<Vec<PageInfo>, DecodeError> {
    let corrupt = undecodable::<tiff::TiffError>;
    let mut decoder = tiff_decoder(bytes, limits)?;
    let mut pages = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(corrupt)?;
        limits.check(pages.len() + 1, width, height)?;
        let per_pixel = tiff_bytes_per_pixel(decoder.colortype().map_err(corrupt)?)?;
        let pixels = u64::from(width) * u64::from(height);
        let grey_copy = if per_pixel == 1 { 0 } else { pixels };
        pages.push(PageInfo {
            width,
            height,
            need: pixels * per_pixel + grey_copy,
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

fn decode_tiff_page(bytes: &[u8], index: usize, limits: &Limits) -> Result<Page, DecodeError> {
    use tiff::decoder::DecodingResult;
    use tiff::ColorType;

    let corrupt = undecodable::<tiff::TiffError>;
    let mut decoder = tiff_decoder(bytes, limits)?;
    if index > 0 {
        decoder.seek_to_image(index).map_err(corrupt)?;
    }
    let (width, height) = decoder.dimensions().map_err(corrupt)?;
    limits.check(index + 1, width, height)?;
    let color = decoder.colortype().map_err(corrupt)?;
    tiff_bytes_per_pixel(color)?;
    let data = decoder.read_image().map_err(corrupt)?;
    let px = (width as usize) * (height as usize);
    let gray: Vec<u8> = match (color, data) {
        (ColorType::Gray(8), DecodingResult::U8(v)) => v,
        (ColorType::Gray(16), DecodingResult::U16(v)) => v.iter().map(|p| (p >> 8) as u8).collect(),
        (ColorType::RGB(8), DecodingResult::U8(v)) => v.chunks_exact(3).map(luma).collect(),
        (ColorType::RGBA(8), DecodingResult::U8(v)) => v.chunks_exact(4).map(luma).collect(),
        _ => return Err(DecodeError::Corrupt(
            "the TIFF's pixel format is not supported (8-bit grey, RGB or RGBA, or 16-bit grey)"
                .into(),
        )),
    };
    if gray.len() < px {
        return Err(DecodeError::Corrupt(
            "the TIFF is damaged: a page is shorter than its size".into(),
        ));
    }
    Ok(Page {
        width,
        height,
        gray,
    })
}

fn luma(p: &[u8]) -> u8 {
    ((u32::from(p[0]) * 299 + u32::from(p[1]) * 587 + u32::from(p[2]) * 114) / 1000) as u8
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
            [(100, 50, 5000), (30, 20, 600)]
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
    fn a_colour_png_needs_its_rgb_buffer_and_a_grey_copy() {
        let img = image::RgbImage::from_pixel(40, 30, image::Rgb([1, 2, 3]));
        let mut out = Cursor::new(Vec::new());
        img.write_to(&mut out, ImageFormat::Png).unwrap();
        let pages = probe(&out.into_inner(), &LIMITS).unwrap();
        assert_eq!(pages[0].need, 40 * 30 * 3 + 40 * 30);
        assert_eq!(probe(&png(40, 30), &LIMITS).unwrap()[0].need, 40 * 30);
    }
}
