//! Rendering a recognized document as text, hOCR or TSV.

use crate::service::Document;

/// Plain text, pages separated by form feeds.
pub fn text(doc: &Document) -> String {
    doc.text.clone()
}

/// One XHTML hOCR document holding every page.
pub fn hocr(doc: &Document) -> String {
    let mut out = String::from(concat!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
        "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" ",
        "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n",
        "<html xmlns=\"http://www.w3.org/1999/xhtml\" xml:lang=\"en\" lang=\"en\">\n<head>\n",
        "<title>OCR</title>\n",
        "<meta http-equiv=\"Content-Type\" content=\"text/html;charset=utf-8\"/>\n",
        "<meta name=\"ocr-system\" content=\"scriptorium (tesseract)\"/>\n",
        "<meta name=\"ocr-capabilities\" content=\"ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf\"/>\n",
        "</head>\n<body>\n",
    ));
    for page in &doc.pages {
        out.push_str(page.hocr.as_deref().unwrap_or_default());
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Tesseract's TSV with one header line; `page_num` counts from 1.
pub fn tsv(doc: &Document) -> String {
    let mut out = String::from(
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n",
    );
    for page in &doc.pages {
        for row in page.tsv.lines() {
            let mut fields: Vec<&str> = row.split('\t').collect();
            if fields.len() < 12 {
                continue;
            }
            let n = page.page.page.to_string();
            fields[1] = &n;
            out.push_str(&fields.join("\t"));
            out.push('\n');
        }
    }
    out
}
