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

/// Decode every page of `bytes`.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Vec<Page>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    match Format::sniff(bytes).ok_or(DecodeError::Unsupported)? {
        Format::Tiff => decode_tiff(bytes, limits),
        Format::Pdf => Err(DecodeError::Unsupported),
        other => {
            let format = other.image_format().ok_or(DecodeError::Unsupported)?;
            decode_single(bytes, format, limits).map(|p| vec![p])
        }
    }
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

fn decode_tiff(bytes: &[u8], limits: &Limits) -> Result<Vec<Page>, DecodeError> {
    use tiff::decoder::{Decoder, DecodingResult};
    use tiff::ColorType;

    let corrupt = undecodable::<tiff::TiffError>;
    let mut tiff_limits = tiff::decoder::Limits::default();
    tiff_limits.decoding_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    tiff_limits.intermediate_buffer_size = (limits.max_pixels as usize).saturating_mul(4);
    let mut decoder = Decoder::new(Cursor::new(bytes))
        .map_err(corrupt)?
        .with_limits(tiff_limits);
    let mut pages = Vec::new();
    loop {
        let (width, height) = decoder.dimensions().map_err(corrupt)?;
        limits.check(pages.len() + 1, width, height)?;
        let color = decoder.colortype().map_err(corrupt)?;
        let data = decoder.read_image().map_err(corrupt)?;
        let px = (width as usize) * (height as usize);
        let gray: Vec<u8> = match (color, data) {
            (ColorType::Gray(8), DecodingResult::U8(v)) => v,
            (ColorType::Gray(16), DecodingResult::U16(v)) => {
                v.iter().map(|p| (p >> 8) as u8).collect()
            }
            (ColorType::RGB(8), DecodingResult::U8(v)) => v.chunks_exact(3).map(luma).collect(),
            (ColorType::RGBA(8), DecodingResult::U8(v)) => v.chunks_exact(4).map(luma).collect(),
            (other, _) => {
                tracing::warn!(color = ?other, "an uploaded TIFF has an unsupported pixel format");
                return Err(DecodeError::Corrupt(
                    "the TIFF's pixel format is not supported (8-bit grey, RGB or RGBA, or 16-bit grey)"
                        .into(),
                ));
            }
        };
        if gray.len() < px {
            return Err(DecodeError::Corrupt(
                "the TIFF is damaged: a page is shorter than its size".into(),
            ));
        }
        pages.push(Page {
            width,
            height,
            gray,
        });
        if !decoder.more_images() {
            break;
        }
        decoder.next_image().map_err(corrupt)?;
    }
    Ok(pages)
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
}
