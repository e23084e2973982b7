//! The searchable PDF written compactly: JPEG images deflated inside their
//! streams (`[/FlateDecode /DCTDecode]`: a baseline JPEG's standard Huffman
//! coding leaves a sixth or so to deflate), the invisible words of each
//! page's text layer written as one text object ([`invisible_text`]),
//! content streams left plain by PDFium deflated, the objects' dictionaries
//! in object streams. Images decode to the same bytes as before and the
//! words are where they were, to a hundredth of a point; only the file is
//! smaller.
//!
//! [`invisible_text`]: crate::invisible_text

use lopdf::{Document, LoadOptions, Object};

/// A stream is rewritten only when deflating it saves at least this share.
const MIN_SAVING: f64 = 0.02;

/// Largest decoded content stream that is read to tighten its text layer.
const MAX_CONTENT: usize = 64 << 20;

/// `pdf` written compactly, or as it is when it cannot be read strictly
/// (never a document that reads differently).
pub fn compact(pdf: Vec<u8>) -> Vec<u8> {
    match try_compact(&pdf) {
        Ok(smaller) if smaller.len() < pdf.len() => smaller,
        Ok(_) => pdf,
        Err(e) => {
            tracing::debug!(error = %e, "the PDF is kept as PDFium wrote it");
            pdf
        }
    }
}

fn try_compact(pdf: &[u8]) -> Result<Vec<u8>, lopdf::Error> {
    let options = LoadOptions {
        strict: true,
        ..Default::default()
    };
    let mut doc = Document::load_mem_with_options(pdf, options)?;
    if doc.is_encrypted() {
        return Ok(pdf.to_vec());
    }
    let pages = doc.get_pages();
    let contents: Vec<_> = pages
        .values()
        .flat_map(|&page| doc.get_page_contents(page))
        .collect();
    for id in contents {
        let Ok(Object::Stream(stream)) = doc.get_object_mut(id) else {
            continue;
        };
        let Ok(content) = stream.decompressed_content_with_limit(MAX_CONTENT) else {
            continue;
        };
        if let Some(tight) = crate::invisible_text::tighten(&content) {
            // Deflated below, with the other plain streams.
            stream.set_plain_content(tight);
        }
    }
    let pages = pages.len();
    for object in doc.objects.values_mut() {
        let Object::Stream(stream) = object else {
            continue;
        };
        let only_dct = matches!(stream.filters().as_deref(), Ok([b"DCTDecode"]));
        if !only_dct {
            continue;
        }
        let deflated = deflate(&stream.content);
        if (deflated.len() as f64) < stream.content.len() as f64 * (1.0 - MIN_SAVING) {
            stream.dict.set(
                "Filter",
                vec![Object::from("FlateDecode"), Object::from("DCTDecode")],
            );
            // A DCTDecode's parameters move to its place in the chain.
            if let Ok(params) = stream.dict.get(b"DecodeParms").cloned() {
                stream.dict.set("DecodeParms", vec![Object::Null, params]);
            }
            stream.set_content(deflated);
        }
    }
    // Streams without a filter (content streams, fonts) are deflated, and
    // the objects' dictionaries go into deflated object streams (PDF 1.5).
    doc.compress();
    if doc.version.as_str() < "1.5" {
        doc.version = "1.5".into();
    }
    let mut out = Vec::with_capacity(pdf.len());
    doc.save_modern(&mut out)?;
    // Read back as a check: the same pages, strictly readable.
    let again = Document::load_mem_with_options(
        &out,
        LoadOptions {
            strict: true,
            ..Default::default()
        },
    )?;
    if again.get_pages().len() != pages {
        return Err(lopdf::Error::PageNumberNotFound(pages as u32));
    }
    Ok(out)
}

fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len()),
        flate2::Compression::default(),
    );
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Stream};

    /// A one-page PDF drawing `jpeg`, as PDFium writes one: the image
    /// stream DCT-coded, the page's content stream plain.
    fn pdf_of(jpeg: Vec<u8>, width: i64, height: i64) -> Vec<u8> {
        let mut doc = Document::with_version("1.7");
        let image = doc.add_object(Stream::new(
            dictionary! {
                "Type" => "XObject", "Subtype" => "Image", "Width" => width,
                "Height" => height, "ColorSpace" => "DeviceGray",
                "BitsPerComponent" => 8, "Filter" => "DCTDecode",
            },
            jpeg,
        ));
        let content = b"q 595 0 0 842 0 0 cm /Im0 Do Q\n".repeat(20);
        let content = doc.add_object(Stream::new(dictionary! {}, content));
        let pages = doc.new_object_id();
        let page = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages, "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
            "Contents" => content, "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image } },
        });
        doc.objects.insert(
            pages,
            Object::Dictionary(
                dictionary! { "Type" => "Pages", "Kids" => vec![page.into()], "Count" => 1 },
            ),
        );
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    /// A grey page of dark strokes on white, as a text scan is.
    fn scan_jpeg() -> (Vec<u8>, u32, u32) {
        let (w, h) = (400u32, 300u32);
        let img = image::GrayImage::from_fn(w, h, |x, y| {
            image::Luma([if (x / 3 + y / 7) % 5 == 0 && y % 20 < 12 {
                20
            } else {
                250
            }])
        });
        let mut jpeg = Vec::new();
        img.write_to(
            &mut std::io::Cursor::new(&mut jpeg),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
        (jpeg, w, h)
    }

    #[test]
    fn jpegs_are_deflated_in_place_and_decode_to_the_same_bytes() {
        let (jpeg, w, h) = scan_jpeg();
        let before = pdf_of(jpeg.clone(), w.into(), h.into());
        let after = compact(before.clone());
        assert!(
            after.len() < before.len(),
            "{} -> {}",
            before.len(),
            after.len()
        );

        let doc = Document::load_mem(&after).unwrap();
        let images: Vec<&Stream> = doc
            .objects
            .values()
            .filter_map(|o| o.as_stream().ok())
            .filter(|s| s.dict.get(b"Subtype").and_then(Object::as_name).ok() == Some(b"Image"))
            .collect();
        assert_eq!(images.len(), 1);
        let filters = images[0].filters().unwrap();
        assert_eq!(filters, [b"FlateDecode".as_slice(), b"DCTDecode"]);
        // Undoing the deflate gives the JPEG byte for byte.
        let mut inflated = Vec::new();
        use std::io::Read;
        flate2::read::ZlibDecoder::new(images[0].content.as_slice())
            .read_to_end(&mut inflated)
            .unwrap();
        assert_eq!(inflated, jpeg);
        assert_eq!(doc.get_pages().len(), 1);
    }

    #[test]
    fn what_cannot_be_read_strictly_is_kept_as_it_is() {
        let damaged = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF".to_vec();
        assert_eq!(compact(damaged.clone()), damaged);
    }
}
