//! Searchable PDFs: each recognized word written as invisible text over
//! its box, so that a viewer's selection and copy give the recognized
//! words where they are on the page. Runs on the PDFium thread.
//!
//! The geometry is plain code ([`Geometry::word_matrix`]): a word's box is
//! in the pixels of the upright page OCR read; the text goes into the PDF
//! page's own space, undoing OCR's turn, the rendering's scale and the
//! page's `/Rotate`.

use pdfium_render::prelude::*;
use wire::ocr::BBox;

/// Helvetica's ascender and descender, in em (its font metrics): the
/// text's em is sized so that this span fills the word's box.
const ASCENT: f32 = 0.718;
const DESCENT: f32 = -0.207;

/// A recognized page as the PDF gets it.
#[derive(Debug, Clone)]
pub struct TextLayer {
    /// 0-based page index in the PDF.
    pub index: usize,
    /// Size in pixels of the upright page that the boxes refer to.
    pub upright: (u32, u32),
    /// The clockwise turn OCR undid (0, 90, 180, 270).
    pub rotation: u32,
    pub words: Vec<(String, BBox)>,
}

/// How upright page pixels map to a PDF page's user space.
#[derive(Debug, Clone, Copy)]
pub struct Geometry {
    /// The upright page OCR read, in pixels.
    pub upright: (f32, f32),
    /// The clockwise turn OCR undid.
    pub ocr_rotation: u32,
    /// The page as displayed (after `/Rotate`), in points.
    pub display: (f32, f32),
    /// The page's `/Rotate`, clockwise.
    pub page_rotation: u32,
}

impl Geometry {
    /// An upright page pixel, in the page's user space (points, y up).
    pub fn to_user(&self, (x, y): (f32, f32)) -> (f32, f32) {
        let (wu, hu) = self.upright;
        // The rendered page's size in pixels: the upright one, turned back.
        let (wd, hd) = if self.ocr_rotation % 180 == 90 {
            (hu, wu)
        } else {
            (wu, hu)
        };
        // Undo OCR's counter-clockwise turn of the rendered page.
        let (xd, yd) = match self.ocr_rotation % 360 {
            90 => (wd - y, x),
            180 => (wd - x, hd - y),
            270 => (y, hd - x),
            _ => (x, y),
        };
        // Rendered pixels to displayed points, y still down.
        let (xp, yp) = (xd * self.display.0 / wd, yd * self.display.1 / hd);
        // The displayed page is the user space turned clockwise by /Rotate.
        let (wuser, huser) = if self.page_rotation % 180 == 90 {
            (self.display.1, self.display.0)
        } else {
            self.display
        };
        match self.page_rotation % 360 {
            90 => (yp, xp),
            180 => (wuser - xp, yp),
            270 => (wuser - yp, huser - xp),
            _ => (xp, huser - yp),
        }
    }

    /// The text matrix that lays a word of `natural` width (in em, at font
    /// size 1) over `bbox`: its advance across the box, its ascender to
    /// descender from the box's top to its bottom.
    pub fn word_matrix(&self, bbox: BBox, natural: f32) -> [f32; 6] {
        let [left, top, right, bottom] = bbox.map(|v| v as f32);
        let kx = (right - left).max(1.0) / natural.max(0.01);
        let ky = (bottom - top).max(1.0) / (ASCENT - DESCENT);
        // Text space (x right, y up, baseline at 0) to upright pixels.
        let to_pixels = |xt: f32, yt: f32| (left + xt * kx, bottom - (yt - DESCENT) * ky);
        let at = |xt, yt| self.to_user(to_pixels(xt, yt));
        let (ex, ey) = at(0.0, 0.0);
        let (ax, ay) = at(1.0, 0.0);
        let (cx, cy) = at(0.0, 1.0);
        [ax - ex, ay - ey, cx - ex, cy - ey, ex, ey]
    }
}

/// Write `layer`'s words as invisible text on its page of `doc`.
pub fn add_text_layer(doc: &mut PdfDocument<'_>, layer: &TextLayer) -> Result<(), PdfiumError> {
    let font = doc.fonts_mut().helvetica();
    let mut page = doc.pages().get(layer.index as u16)?;
    page.set_content_regeneration_strategy(PdfPageContentRegenerationStrategy::Manual);
    let page_rotation = page.rotation().map(|r| r.as_degrees() as u32).unwrap_or(0);
    let geometry = Geometry {
        upright: (layer.upright.0 as f32, layer.upright.1 as f32),
        ocr_rotation: layer.rotation,
        display: (page.width().value, page.height().value),
        page_rotation,
    };
    // A text object's bounds are its ink; viewers lay words out by their
    // advance. The advance of `w` is the ink of "XwX" less that of "XX".
    let ink = |s: &str| -> Option<f32> {
        let object = PdfPageTextObject::new(doc, s, font, PdfPoints::new(1.0)).ok()?;
        object.width().ok().map(|w| w.value)
    };
    let pad = ink("XX").unwrap_or(0.0);
    for (text, bbox) in &layer.words {
        if text.trim().is_empty() {
            continue;
        }
        let natural = ink(&format!("X{text}X"))
            .map(|w| w - pad)
            .filter(|w| *w > 0.0)
            .unwrap_or(0.5 * text.chars().count() as f32);
        let mut object = PdfPageTextObject::new(doc, text, font, PdfPoints::new(1.0))?;
        object.set_render_mode(PdfPageTextRenderMode::Invisible)?;
        let [a, b, c, d, e, f] = geometry.word_matrix(*bbox, natural);
        object.apply_matrix(PdfMatrix::new(a, b, c, d, e, f))?;
        page.objects_mut().add_text_object(object)?;
    }
    page.regenerate_content()
}

/// A page of `size` points made of one JPEG image, for a document built
/// from images.
pub fn add_image_page(
    doc: &mut PdfDocument<'_>,
    jpeg: Vec<u8>,
    size: (f32, f32),
) -> Result<usize, PdfiumError> {
    let mut image = PdfPageImageObject::new_from_jpeg_reader(doc, std::io::Cursor::new(jpeg))?;
    image.apply_matrix(PdfMatrix::new(size.0, 0.0, 0.0, size.1, 0.0, 0.0))?;
    let paper = PdfPagePaperSize::Custom(PdfPoints::new(size.0), PdfPoints::new(size.1));
    let mut page = doc.pages_mut().create_page_at_end(paper)?;
    page.objects_mut().add_image_object(image)?;
    Ok(doc.pages().len() as usize - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: (f32, f32), b: (f32, f32)) -> bool {
        (a.0 - b.0).abs() < 0.01 && (a.1 - b.1).abs() < 0.01
    }

    /// A4 rendered at 300 dpi (2480 x 3508 pixels, 595.2 x 841.92 points),
    /// displayed after `page_rotation`, read after `ocr_rotation`.
    fn a4(ocr_rotation: u32, page_rotation: u32) -> Geometry {
        let (display, rendered) = if page_rotation % 180 == 90 {
            ((841.92, 595.2), (3508.0, 2480.0))
        } else {
            ((595.2, 841.92), (2480.0, 3508.0))
        };
        let upright = if ocr_rotation % 180 == 90 {
            (rendered.1, rendered.0)
        } else {
            rendered
        };
        Geometry {
            upright,
            ocr_rotation,
            display,
            page_rotation,
        }
    }

    #[test]
    fn an_upright_page_flips_y_and_scales_to_points() {
        let g = a4(0, 0);
        assert!(close(g.to_user((0.0, 0.0)), (0.0, 841.92)));
        assert!(close(g.to_user((2480.0, 3508.0)), (595.2, 0.0)));
        assert!(close(g.to_user((1240.0, 0.0)), (297.6, 841.92)));
    }

    #[test]
    fn a_page_ocr_turned_back_maps_to_where_its_pixels_were() {
        // The scan's text ran top to bottom (turned 90 clockwise); OCR read
        // it turned back. The upright page's top-left corner was the
        // scan's top-right one.
        let g = a4(90, 0);
        assert!(close(g.to_user((0.0, 0.0)), (595.2, 841.92)));
        // Its bottom-left corner was the scan's top-left.
        assert!(close(g.to_user((0.0, 2480.0)), (0.0, 841.92)));
        let g = a4(180, 0);
        assert!(close(g.to_user((0.0, 0.0)), (595.2, 0.0)));
        let g = a4(270, 0);
        assert!(close(g.to_user((0.0, 0.0)), (0.0, 0.0)));
    }

    #[test]
    fn a_rotate_entry_is_undone_into_user_space() {
        // Stored portrait, displayed turned 90 clockwise (landscape): the
        // displayed top-left corner is the stored page's bottom-left, its
        // origin; the displayed top-right is the stored top-left.
        let g = a4(0, 90);
        assert!(close(g.to_user((0.0, 0.0)), (0.0, 0.0)));
        assert!(close(g.to_user((3508.0, 0.0)), (0.0, 841.92)));
        let g = a4(0, 180);
        assert!(close(g.to_user((0.0, 0.0)), (595.2, 0.0)));
        let g = a4(0, 270);
        assert!(close(g.to_user((0.0, 0.0)), (595.2, 841.92)));
    }

    #[test]
    fn a_word_fills_its_box() {
        let g = a4(0, 0);
        // 300 px wide, 50 px tall, at (100, 200); 2 em of natural width.
        let [a, b, c, d, e, f] = g.word_matrix([100, 200, 400, 250], 2.0);
        let apply = |x: f32, y: f32| (a * x + c * y + e, b * x + d * y + f);
        let points = |px: f32, py: f32| g.to_user((px, py));
        // The baseline's start and the advance's end.
        let bottom = 250.0 + DESCENT * 50.0 / (ASCENT - DESCENT);
        assert!(close(apply(0.0, 0.0), points(100.0, bottom)));
        assert!(close(apply(2.0, 0.0), points(400.0, bottom)));
        // Ascender at the box's top, descender at its bottom.
        assert!(close(apply(0.0, ASCENT), points(100.0, 200.0)));
        assert!(close(apply(0.0, DESCENT), points(100.0, 250.0)));
        assert!(
            b.abs() < 1e-6 && c.abs() < 1e-6,
            "no shear on an upright page"
        );
    }
}
