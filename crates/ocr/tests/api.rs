//! The OCR API end to end with real Tesseract on images the tests render
//! themselves (DejaVu Sans, English and French).

mod common;

use std::io::Cursor;

use common::start;
use fixtures::cer;
use image::{GrayImage, ImageFormat};
use reqwest::multipart::Form;
use reqwest::StatusCode;
use serde_json::Value;

const ENGLISH: &str = "The quick brown fox jumps over the lazy dog";
const FRENCH: &str = "Élève à l'école, où ça coûte déjà cher";

/// About 13 pt at 300 dpi.
fn render(lines: &[&str]) -> GrayImage {
    fixtures::render(lines, 56.0)
}

fn encode(img: &GrayImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    if format == ImageFormat::Gif {
        // The GIF encoder takes colour images only.
        image::DynamicImage::ImageLuma8(img.clone())
            .to_rgba8()
            .write_to(&mut out, format)
            .unwrap();
    } else {
        img.write_to(&mut out, format).unwrap();
    }
    out.into_inner()
}

fn two_page_tiff(a: &GrayImage, b: &GrayImage) -> Vec<u8> {
    use tiff::encoder::{colortype, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    let mut enc = TiffEncoder::new(&mut out).unwrap();
    for img in [a, b] {
        enc.write_image::<colortype::Gray8>(img.width(), img.height(), img.as_raw())
            .unwrap();
    }
    out.into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn english_and_french_text_with_boxes_and_confidences() {
    let ocr = start(|_| {}).await;
    let img = render(&[ENGLISH, FRENCH]);
    let r = ocr
        .multipart(encode(&img, ImageFormat::Png), "?orientation=none")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["languages"], "fra+eng");
    let text = doc["text"].as_str().unwrap();
    let e = cer(text, &format!("{ENGLISH}\n{FRENCH}"));
    assert!(e < 0.05, "CER {e:.3} for {text:?}");
    let page = &doc["pages"][0];
    assert_eq!(page["width"], img.width());
    let words: Vec<&Value> = page["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["lines"].as_array().unwrap())
        .flat_map(|l| l["words"].as_array().unwrap())
        .collect();
    assert!(words.len() >= 14, "{} words", words.len());
    for w in &words {
        let b: Vec<u64> = w["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert!(
            b[0] < b[2] && b[1] < b[3] && b[2] <= img.width() as u64 && b[3] <= img.height() as u64
        );
        let c = w["confidence"].as_f64().unwrap();
        assert!((0.0..=100.0).contains(&c));
    }
    assert!(
        words.iter().any(|w| w["text"] == "Élève"),
        "accented word recognized"
    );
    assert!(page["mean_confidence"].as_i64().unwrap() > 70);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hocr_is_a_sandboxed_attachment() {
    let ocr = start(|_| {}).await;
    let png = encode(&render(&[ENGLISH]), ImageFormat::Png);
    let r = ocr.multipart(png, "?format=hocr&orientation=none").await;
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers();
    assert_eq!(h["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let disposition = h["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_hocr_tsv_jpeg_and_two_page_tiff() {
    let ocr = start(|_| {}).await;
    let one = render(&[ENGLISH]);
    let two = render(&[FRENCH]);

    let r = ocr
        .multipart(encode(&one, ImageFormat::Png), "?format=text&languages=eng")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert!(cer(&r.text().await.unwrap(), ENGLISH) < 0.05);

    let r = ocr
        .multipart(encode(&one, ImageFormat::Png), "?format=hocr")
        .await;
    let hocr = r.text().await.unwrap();
    assert!(hocr.contains("ocr_page") && hocr.contains("ocrx_word") && hocr.contains("quick"));

    let r = ocr
        .multipart(encode(&one, ImageFormat::Png), "?format=tsv")
        .await;
    let tsv = r.text().await.unwrap();
    assert!(tsv.starts_with("level\tpage_num"));
    assert!(tsv
        .lines()
        .any(|l| l.starts_with("5\t1\t") && l.ends_with("\tfox")));

    let r = ocr.raw(encode(&one, ImageFormat::Jpeg), "image/jpeg").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(cer(doc["text"].as_str().unwrap(), ENGLISH) < 0.05);

    let r = ocr.raw(two_page_tiff(&one, &two), "image/tiff").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    assert!(cer(pages[0]["text"].as_str().unwrap(), ENGLISH) < 0.05);
    assert!(cer(pages[1]["text"].as_str().unwrap(), FRENCH) < 0.05);
    assert_eq!(pages[1]["page"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_the_service_keeps_answering() {
    let ocr = start(|c| c.max_upload_bytes = 2 * 1024 * 1024).await;
    let good = encode(&render(&[ENGLISH]), ImageFormat::Png);

    let bomb = fixtures::png_claiming(100_000, 100_000);

    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("zero bytes", vec![], StatusCode::UNPROCESSABLE_ENTITY),
        (
            "truncated PNG",
            good[..good.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("100000x100000 header", bomb, StatusCode::PAYLOAD_TOO_LARGE),
        (
            "not an image",
            b"just some text, not a scan".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "over the upload limit",
            vec![0u8; 3 * 1024 * 1024],
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (label, bytes, want) in cases {
        for multipart in [true, false] {
            let r = if multipart {
                ocr.multipart(bytes.clone(), "").await
            } else {
                ocr.raw(bytes.clone(), "application/octet-stream").await
            };
            assert_eq!(r.status(), want, "{label} (multipart: {multipart})");
            assert_eq!(
                r.headers()["content-type"],
                "application/problem+json",
                "{label}"
            );
        }
    }
    for query in ["?languages=klingon", "?format=docx", "?psm=42", "?dpi=5"] {
        let r = ocr.multipart(good.clone(), query).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{query}");
    }
    let r = ocr
        .served
        .client
        .post(ocr.url("/v1/ocr"))
        .bearer_auth(&ocr.token)
        .multipart(Form::new().text("languages", "eng"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "multipart without a file"
    );
    // A query parameter of the wrong type is a problem document too.
    let r = ocr.raw_query(good.clone(), "image/png", "?dpi=many").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    let r = ocr.multipart(good, "").await;
    assert_eq!(r.status(), StatusCode::OK, "still answering");
    let metrics = ocr.metrics();
    assert!(metrics.contains("ocr_rejections_total{reason=\"corrupt\"}"));
    assert!(metrics.contains("ocr_pages_total"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_languages_and_a_full_queue() {
    let ocr = start(|c| {
        c.workers = Some(1);
        c.queue_depth = 1;
    })
    .await;
    let png = encode(
        &render(&[ENGLISH, FRENCH, ENGLISH, FRENCH]),
        ImageFormat::Png,
    );

    // A separate client: the server answers 401 without reading the body and
    // closes that connection, which must not be reused.
    let r = reqwest::Client::new()
        .post(ocr.url("/v1/ocr"))
        .body(png.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let langs: Value = ocr
        .served
        .get_auth("/v1/ocr/languages", &ocr.token)
        .await
        .json()
        .await
        .unwrap();
    let installed: Vec<&str> = langs["installed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        installed.contains(&"eng") && installed.contains(&"fra"),
        "{installed:?}"
    );

    // One worker and a queue of one: of six pages sent at once, at most two
    // are taken; the others are refused with 429 and Retry-After.
    let sends = (0..6).map(|_| ocr.raw(png.clone(), "image/png"));
    let answers = futures::future::join_all(sends).await;
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    let full: Vec<_> = answers
        .iter()
        .filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(ok >= 1, "some pages are recognized");
    assert!(!full.is_empty(), "a full queue refuses");
    assert!(full.iter().all(|r| r.headers().contains_key("retry-after")));
    assert_eq!(ok + full.len(), 6);
}

fn a4(lines: &[&str]) -> GrayImage {
    fixtures::render_on(lines, 50.0, Some((2480, 3508)))
}

fn scanned(lines: &[&str]) -> fixtures::PdfPageSpec {
    let img = a4(lines);
    fixtures::PdfPageSpec::Jpeg {
        data: encode(&img, ImageFormat::Jpeg),
        width: img.width(),
        height: img.height(),
    }
}

fn born_digital(lines: &[&str]) -> fixtures::PdfPageSpec {
    fixtures::PdfPageSpec::Text(lines.iter().map(|l| l.to_string()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pdfs_born_digital_scanned_mixed_and_broken() {
    let ocr = start(|_| {}).await;
    let typed = ["A born digital page", "Une page née numérique, déjà prête"];

    // Born-digital: the text layer, no OCR.
    let r = ocr
        .raw(fixtures::pdf(&[born_digital(&typed)]), "application/pdf")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["pages"][0]["source"], "text-layer");
    assert!(
        cer(doc["text"].as_str().unwrap(), &typed.join("\n")) < 0.02,
        "{}",
        doc["text"]
    );
    assert_eq!(doc["pages"][0]["width"], 2479, "A4 at 300 dpi");

    // The same page forced through OCR.
    let forced = ocr
        .served
        .client
        .post(ocr.url("/v1/ocr?mode=force"))
        .bearer_auth(&ocr.token)
        .body(fixtures::pdf(&[born_digital(&typed)]))
        .send()
        .await
        .unwrap();
    let forced: Value = forced.json().await.unwrap();
    assert_eq!(forced["pages"][0]["source"], "ocr");
    assert!(
        cer(forced["text"].as_str().unwrap(), &typed.join("\n")) < 0.1,
        "{}",
        forced["text"]
    );
    // The text layer's words sit where OCR finds them on the rendered page.
    let typed_page: wire::ocr::Document = serde_json::from_value(doc).unwrap();
    let forced: wire::ocr::Document = serde_json::from_value(forced).unwrap();
    let layer_words: Vec<_> = typed_page.pages[0].words().collect();
    assert_eq!(
        layer_words
            .iter()
            .map(|w| w.text.as_str())
            .collect::<Vec<_>>(),
        typed.join(" ").split(' ').collect::<Vec<_>>()
    );
    let mut compared = 0;
    for seen in forced.pages[0].words() {
        // The nearest layer word of the same text ("page" is on both lines).
        let off = layer_words
            .iter()
            .filter(|w| w.text == seen.text)
            .map(|w| {
                (0..4)
                    .map(|i| w.bbox[i].abs_diff(seen.bbox[i]))
                    .max()
                    .unwrap()
            })
            .min();
        let Some(off) = off else { continue };
        assert!(off <= 8, "{} is {off} px from where OCR sees it", seen.text);
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} words in common");

    // Mixed: a typed page then a scanned one.
    let r = ocr
        .raw(
            fixtures::pdf(&[born_digital(&typed), scanned(&[ENGLISH, FRENCH])]),
            "application/pdf",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    assert_eq!(pages[0]["source"], "text-layer");
    assert_eq!(pages[1]["source"], "ocr");
    let e = cer(
        pages[1]["text"].as_str().unwrap(),
        &format!("{ENGLISH}\n{FRENCH}"),
    );
    assert!(e < 0.05, "scanned page CER {e}: {}", pages[1]["text"]);

    // A broken page in the middle fails alone.
    let r = ocr
        .raw(
            fixtures::pdf(&[
                born_digital(&typed),
                fixtures::PdfPageSpec::Broken,
                born_digital(&[ENGLISH]),
            ]),
            "application/pdf",
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    assert!(cer(pages[2]["text"].as_str().unwrap(), ENGLISH) < 0.02);
    let middle = &pages[1];
    assert!(
        middle.get("error").is_some() || middle["text"].as_str().unwrap().trim().is_empty(),
        "{middle}"
    );

    // A corrupt PDF is a 422, and the service keeps answering.
    let mut corrupt = fixtures::pdf(&[born_digital(&typed)]);
    corrupt.truncate(60);
    let r = ocr.raw(corrupt, "application/pdf").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = ocr
        .multipart(fixtures::pdf(&[born_digital(&typed)]), "?mode=nonsense")
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = ocr
        .raw(fixtures::pdf(&[born_digital(&typed)]), "application/pdf")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_uploads_are_described_without_library_internals() {
    let ocr = start(|_| {}).await;
    let mut pdf = fixtures::pdf(&[born_digital(&[ENGLISH])]);
    pdf.truncate(60);
    let mut png = encode(&render(&[ENGLISH]), ImageFormat::Png);
    png.truncate(png.len() / 2);
    for (bytes, said) in [
        (pdf, "the PDF is damaged or is not a PDF"),
        (
            png,
            "the image is damaged or truncated and could not be decoded",
        ),
    ] {
        let r = ocr.raw(bytes, "application/octet-stream").await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["detail"], said);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turned_pages_are_detected_and_turned_back() {
    let ocr = start(|_| {}).await;
    let lines = [ENGLISH, FRENCH, ENGLISH, FRENCH, ENGLISH];
    let upright = render(&lines);
    let want = lines.join("\n");
    for clockwise in [0u32, 90, 180, 270] {
        let turned = match clockwise {
            90 => image::imageops::rotate90(&upright),
            180 => image::imageops::rotate180(&upright),
            270 => image::imageops::rotate270(&upright),
            _ => upright.clone(),
        };
        let r = ocr.multipart(encode(&turned, ImageFormat::Png), "").await;
        assert_eq!(r.status(), StatusCode::OK);
        let doc: Value = r.json().await.unwrap();
        let page = &doc["pages"][0];
        assert_eq!(
            page["rotation"], clockwise,
            "turned {clockwise} degrees: {page}"
        );
        assert_eq!(page["width"], upright.width(), "size after turning back");
        let e = cer(page["text"].as_str().unwrap(), &want);
        assert!(e < 0.05, "turned {clockwise}: CER {e}");
    }
    // A full A4 page at 300 dpi (orientation is found on a halved copy).
    let page = a4(&lines);
    let r = ocr
        .multipart(
            encode(&image::imageops::rotate270(&page), ImageFormat::Png),
            "",
        )
        .await;
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["pages"][0]["rotation"], 270);
    assert!(cer(doc["pages"][0]["text"].as_str().unwrap(), &want) < 0.05);

    // orientation=none leaves the page as it is.
    let r = ocr
        .multipart(
            encode(&image::imageops::rotate180(&upright), ImageFormat::Png),
            "?orientation=none",
        )
        .await;
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["pages"][0]["rotation"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webp_bmp_gif_and_page_and_time_limits() {
    let ocr = start(|c| c.max_pages = 1).await;
    let img = render(&[ENGLISH]);
    for format in [ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Gif] {
        let r = ocr
            .raw(encode(&img, format), "application/octet-stream")
            .await;
        assert_eq!(r.status(), StatusCode::OK, "{format:?}");
        let doc: Value = r.json().await.unwrap();
        let e = cer(doc["text"].as_str().unwrap(), ENGLISH);
        assert!(e < 0.05, "{format:?}: CER {e}");
    }
    // Two pages where one is allowed.
    let r = ocr.raw(two_page_tiff(&img, &img), "image/tiff").await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // A page that cannot finish within the time limit is a 422, and the
    // worker is free again afterwards.
    let slow = start(|c| {
        c.page_timeout_ms = 1;
        c.workers = Some(1);
    })
    .await;
    let big = encode(
        &a4(&[ENGLISH, FRENCH, ENGLISH, FRENCH, ENGLISH, FRENCH]),
        ImageFormat::Png,
    );
    let r = slow.raw(big, "image/png").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://scriptorium.dev/problems/page-timeout");
    let r = ocr.raw(encode(&img, ImageFormat::Png), "image/png").await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// Every word of a JSON answer: its text and its box.
/// Every word's text and box; a box that is not four integers fails.
fn words_of(doc: &Value) -> Vec<(String, [i64; 4])> {
    doc["pages"][0]["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["lines"].as_array().unwrap())
        .flat_map(|l| l["words"].as_array().unwrap())
        .map(|w| {
            let b: Vec<i64> = w["bbox"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect();
            let b: [i64; 4] = b.try_into().unwrap_or_else(|b| panic!("bbox {b:?}"));
            (w["text"].as_str().unwrap().to_owned(), b)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_text_is_read_smaller_with_positions_in_page_pixels() {
    // 12 pt at 300 dpi: lines about 50 px high, read at half scale.
    let lines = fixtures::sentences(7, 10, 7);
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let img = fixtures::render(&refs, 50.0);
    let png = encode(&img, ImageFormat::Png);
    let page = scriptorium_ocr_page(&img);
    let factor = ocr::scale::factor(&page).expect("this page is read smaller");
    assert!(factor <= 0.6, "{factor}");

    let scaled = start(|_| {}).await;
    let full = start(|c| c.rescale_large_text = false).await;
    let a: Value = scaled
        .multipart(png.clone(), "")
        .await
        .json()
        .await
        .unwrap();
    let b: Value = full.multipart(png.clone(), "").await.json().await.unwrap();
    let want = lines.join("\n");
    for doc in [&a, &b] {
        let e = cer(doc["text"].as_str().unwrap(), &want);
        assert!(e < 0.02, "CER {e:.4}");
        assert_eq!(doc["pages"][0]["width"], img.width());
        assert_eq!(doc["pages"][0]["height"], img.height());
    }
    // The same words at the same places, give or take the pixels lost to
    // the smaller scale.
    let (wa, wb) = (words_of(&a), words_of(&b));
    let tolerance = (2.0 / factor).ceil() as i64 + 2;
    let mut matched = 0;
    for (text, boxed) in &wb {
        if wa
            .iter()
            .any(|(t, o)| t == text && o.iter().zip(boxed).all(|(x, y)| (x - y).abs() <= tolerance))
        {
            matched += 1;
        }
    }
    assert!(
        matched * 10 >= wb.len() * 9,
        "{matched} of {} words in place",
        wb.len()
    );

    // hOCR speaks of the page's own size and resolution too.
    let r = scaled.multipart(png, "?format=hocr").await;
    let hocr = r.text().await.unwrap();
    let page_box = format!("bbox 0 0 {} {}", img.width(), img.height());
    assert!(
        hocr.contains(&page_box),
        "{}",
        &hocr[hocr.find("<div class").unwrap_or(0)..][..300]
    );
}

fn scriptorium_ocr_page(img: &GrayImage) -> ocr::decode::Page {
    ocr::decode::Page {
        width: img.width(),
        height: img.height(),
        gray: img.as_raw().clone(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_users_waiting_pages_leave_room_and_turns_for_others() {
    let ocr = start(|c| {
        c.workers = Some(1);
        c.queue_depth = 8; // a quarter, 2 pages, for one user
    })
    .await;
    // Pages long enough that six of them take a while on one engine.
    let lines = [ENGLISH, FRENCH, ENGLISH, FRENCH, ENGLISH, FRENCH];
    let page = render(&lines);
    let tiff = bytes::Bytes::from(two_page_tiff(&page, &page));
    // Six pages of one user, as the library hands them over: each waits
    // for room in the queue rather than failing.
    let options = ocr
        .ocr
        .options(&wire::ocr::OcrOptions {
            languages: Some("fra+eng".into()),
            ..Default::default()
        })
        .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let waiting: Vec<_> = (0..6)
        .map(|i| {
            let (service, tiff, options, done) =
                (ocr.ocr.clone(), tiff.clone(), options.clone(), done.clone());
            tokio::spawn(async move {
                let read = service
                    .run_page("library-user", tiff, &options, i % 2)
                    .await;
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                read.map(|(page, _)| page.text)
            })
        })
        .collect();
    // Once the first of them is read, the other five are waiting.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while done.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no page was read");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    // Another user's synchronous page is taken, not refused, and is read in
    // turn rather than after the six pages queued before it.
    let other = ocr.issuer.token("second-ocr-user");
    let r = ocr
        .served
        .client
        .post(ocr.url("/v1/ocr?languages=fra%2Beng"))
        .bearer_auth(&other)
        .header("content-type", "image/png")
        .body(encode(&page, ImageFormat::Png))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pages_done = done.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        pages_done < 6,
        "the other user's page waited for all six of the first user's"
    );
    // And the first user's pages are all read in the end.
    for page in waiting {
        let text = page.await.unwrap().expect("a waiting page is read");
        assert!(cer(&text, &lines.join("\n")) < 0.05, "{text}");
    }
}

/// `read` (a document or one of its pages) has `want` as its text, within
/// a character error rate of 2%; `what` names it in the failure.
fn reads_as(read: &Value, want: &str, what: &str) {
    let text = read["text"].as_str().unwrap_or_default();
    let e = cer(text, want);
    assert!(e < 0.02, "{what}: CER {e:.3} for {text:?}");
}

/// Runs a command-line tool in `dir`, failing the test with its error
/// output when it fails; its standard output.
fn tool(dir: &std::path::Path, command: &str, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(command)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{command}: {e} (test.sh and scripts/deps.sh install it)"));
    assert!(
        out.status.success(),
        "{command} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Scans as scanners and fax servers write them, made from one rendered
/// page with Debian's ImageMagick and libtiff tools (`scripts/deps.sh`).
struct Scans {
    dir: tempfile::TempDir,
}

impl Scans {
    fn new(img: &GrayImage) -> Self {
        let dir = tempfile::tempdir().unwrap();
        img.save(dir.path().join("page.png")).unwrap();
        let scans = Self { dir };
        // Bilevel pages of either photometric, then every compression
        // libtiff writes, from the bilevel page or from an 8-bit grey one.
        for (polarity, to) in [("min-is-white", "bw.tif"), ("min-is-black", "bw-black.tif")] {
            let polarity = format!("quantum:polarity={polarity}");
            let bilevel = ["page.png", "-threshold", "50%", "-depth", "1", "-define"];
            scans.tool(
                "convert",
                &[&bilevel[..], &[&polarity, "-compress", "none", to]].concat(),
            );
        }
        let grey = ["page.png", "-colorspace", "Gray", "-depth"];
        scans.tool(
            "convert",
            &[&grey[..], &["8", "-compress", "none", "grey.tif"]].concat(),
        );
        scans.tool(
            "convert",
            &[&grey[..], &["16", "-compress", "none", "grey16.tif"]].concat(),
        );
        for (c, from, to) in [
            ("g4", "bw.tif", "g4.tif"),
            ("g3", "bw.tif", "g3.tif"),
            ("g3:2d", "bw.tif", "g3-2d.tif"),
            ("lzw", "grey.tif", "lzw.tif"),
            ("packbits", "grey.tif", "packbits.tif"),
            ("zip", "grey.tif", "zip.tif"),
        ] {
            scans.tool("tiffcp", &["-c", c, from, to]);
        }
        // JPEG strips are whole blocks of 8 rows.
        scans.tool(
            "tiffcp",
            &["-c", "jpeg", "-r", "16", "grey.tif", "jpeg.tif"],
        );
        scans.tool(
            "tiffcp",
            &[
                "-t",
                "-w",
                "256",
                "-l",
                "256",
                "-c",
                "lzw",
                "grey.tif",
                "tiled.tif",
            ],
        );
        scans.tool(
            "tiffcp",
            &["-r", "100000", "-c", "lzw", "grey.tif", "one-strip.tif"],
        );
        scans.tool(
            "convert",
            &[
                "page.png",
                "-type",
                "TrueColor",
                "-compress",
                "lzw",
                "rgb.tif",
            ],
        );
        scans.tool(
            "convert",
            &[
                "page.png",
                "-colorspace",
                "CMYK",
                "-compress",
                "none",
                "cmyk.tif",
            ],
        );
        // A red dot, so that the palette holds a colour and stays a palette.
        let dot = ["-fill", "red", "-draw", "point 1,1"];
        scans.tool(
            "convert",
            &[
                &["page.png"],
                &dot[..],
                &["-type", "Palette", "palette.tif"],
            ]
            .concat(),
        );
        scans
    }

    const ENCODINGS: [(&'static str, &'static str); 16] = [
        ("bw.tif", "1-bit, uncompressed, 0 is white"),
        ("bw-black.tif", "1-bit, uncompressed, 0 is black"),
        ("g4.tif", "1-bit, CCITT Group 4"),
        ("g3.tif", "1-bit, CCITT Group 3"),
        ("g3-2d.tif", "1-bit, CCITT Group 3 2-D"),
        ("grey.tif", "8-bit grey, uncompressed"),
        ("grey16.tif", "16-bit grey"),
        ("lzw.tif", "8-bit grey, LZW"),
        ("packbits.tif", "8-bit grey, PackBits"),
        ("zip.tif", "8-bit grey, Deflate"),
        ("jpeg.tif", "8-bit grey, JPEG"),
        ("tiled.tif", "8-bit grey, LZW, tiled"),
        ("one-strip.tif", "8-bit grey, LZW, one strip"),
        ("rgb.tif", "RGB, LZW"),
        ("cmyk.tif", "CMYK"),
        ("palette.tif", "palette"),
    ];

    fn tool(&self, command: &str, args: &[&str]) {
        tool(self.dir.path(), command, args);
    }

    /// The offset and size of the first strip of `damaged.tif`'s directory
    /// `dir`, as `tiffinfo -s` lists them.
    fn strip(&self, dir: usize) -> (usize, usize) {
        let out = std::process::Command::new("tiffinfo")
            .args(["-s", "damaged.tif"])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        let listing = String::from_utf8_lossy(&out.stdout).into_owned();
        let section = listing
            .split("=== TIFF directory")
            .nth(dir + 1)
            .unwrap_or_else(|| panic!("no directory {dir} in {listing}"));
        let line = section
            .lines()
            .find_map(|l| l.trim().strip_prefix("0: ["))
            .unwrap_or_else(|| panic!("no strip in {section}"));
        let mut numbers = line
            .trim_end_matches(']')
            .split(',')
            .map(|n| n.trim().parse::<usize>().unwrap());
        (numbers.next().unwrap(), numbers.next().unwrap())
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join(name)).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiffs_as_scanners_write_them_are_read_in_one_multi_page_file() {
    let ocr = start(|_| {}).await;
    let scans = Scans::new(&render(&[ENGLISH, FRENCH]));
    let names: Vec<&str> = Scans::ENCODINGS.iter().map(|e| e.0).collect();
    // Every encoding a page of one file: tiffcp keeps each page's own.
    scans.tool("tiffcp", &[&names[..], &["mixed.tif"]].concat());
    let r = ocr
        .multipart(scans.read("mixed.tif"), "?orientation=none")
        .await;
    let status = r.status();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{doc}");
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), Scans::ENCODINGS.len());
    let want = format!("{ENGLISH}\n{FRENCH}");
    for (page, (_, encoding)) in pages.iter().zip(Scans::ENCODINGS) {
        assert!(page["error"].is_null(), "{encoding}: {page}");
        reads_as(page, &want, encoding);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_4_fax_alone_is_read_and_a_damaged_page_fails_alone() {
    let ocr = start(|_| {}).await;
    let scans = Scans::new(&render(&[ENGLISH]));
    let r = ocr
        .multipart(scans.read("g4.tif"), "?orientation=none")
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert!(cer(doc["text"].as_str().unwrap(), ENGLISH) < 0.02, "{doc}");

    // The middle page's only strip, its LZW codes overwritten from a
    // quarter of the way in.
    scans.tool(
        "tiffcp",
        &["g4.tif", "one-strip.tif", "lzw.tif", "damaged.tif"],
    );
    let (offset, size) = scans.strip(1);
    let mut damaged = scans.read("damaged.tif");
    damaged[offset + size / 4..offset + size].fill(0xFF);
    std::fs::write(scans.dir.path().join("damaged.tif"), damaged).unwrap();
    let r = ocr
        .multipart(scans.read("damaged.tif"), "?orientation=none")
        .await;
    let status = r.status();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{doc}");
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 3);
    let error = pages[1]["error"].as_str().unwrap_or_default();
    assert!(error.contains("damaged"), "{}", pages[1]);
    for page in [&pages[0], &pages[2]] {
        assert!(page["error"].is_null(), "{page}");
        assert!(
            cer(page["text"].as_str().unwrap(), ENGLISH) < 0.02,
            "{page}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiff_in_an_encoding_that_cannot_be_read_is_415_naming_it() {
    let ocr = start(|_| {}).await;
    let scans = Scans::new(&render(&[ENGLISH]));
    // A well-formed TIFF that says its strips are JPEG 2000.
    scans.tool("tiffcp", &["-c", "none", "grey.tif", "j2k.tif"]);
    scans.tool("tiffset", &["-s", "259", "34712", "j2k.tif"]);
    let r = ocr.multipart(scans.read("j2k.tif"), "").await;
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let p: Value = r.json().await.unwrap();
    assert!(
        p["type"]
            .as_str()
            .unwrap()
            .ends_with("unsupported-encoding"),
        "{p}"
    );
    assert!(p["detail"].as_str().unwrap().contains("JPEG 2000"), "{p}");
    // A truncated one is damaged, not unsupported.
    let g4 = scans.read("g4.tif");
    let r = ocr.multipart(g4[..g4.len() / 3].to_vec(), "").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_is_read_upright_whatever_its_exif_orientation() {
    use image::metadata::Orientation;
    let ocr = start(|_| {}).await;
    let upright = image::DynamicImage::ImageLuma8(render(&[ENGLISH]));
    let dir = tempfile::tempdir().unwrap();
    for tag in 1..=8u8 {
        // Stored turned the other way, so that the tag turns it upright
        // (6 and 8 undo each other; the others undo themselves).
        let stored_as = match tag {
            6 => 8,
            8 => 6,
            t => t,
        };
        let mut stored = upright.clone();
        stored.apply_orientation(Orientation::from_exif(stored_as).unwrap());
        let name = format!("photo-{tag}.jpg");
        stored.to_luma8().save(dir.path().join(&name)).unwrap();
        let set = format!("-Orientation={tag}");
        tool(
            dir.path(),
            "exiftool",
            &["-n", &set, "-overwrite_original", &name],
        );
        let r = ocr
            .multipart(
                std::fs::read(dir.path().join(&name)).unwrap(),
                "?orientation=none",
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK, "orientation {tag}");
        let doc: Value = r.json().await.unwrap();
        let page = &doc["pages"][0];
        assert_eq!(page["width"], upright.width(), "orientation {tag}");
        let text = page["text"].as_str().unwrap();
        let e = cer(text, ENGLISH);
        assert!(e < 0.02, "orientation {tag}: CER {e:.3} for {text:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_as_cameras_and_editors_write_them_are_read() {
    let ocr = start(|_| {}).await;
    let scans = Scans::new(&render(&[ENGLISH, FRENCH]));
    let made: [(&str, &[&str]); 5] = [
        (
            "grey16.png",
            &["-define", "png:bit-depth=16", "-define", "png:color-type=0"],
        ),
        (
            "rgb16.png",
            &["-define", "png:bit-depth=16", "-define", "png:color-type=2"],
        ),
        // Ink on a transparent page whose pixels are black underneath.
        (
            "alpha.png",
            &[
                "-transparent",
                "white",
                "-background",
                "black",
                "-alpha",
                "background",
            ],
        ),
        ("cmyk.jpg", &["-colorspace", "CMYK"]),
        ("progressive.jpg", &["-interlace", "JPEG"]),
    ];
    let want = format!("{ENGLISH}\n{FRENCH}");
    for (name, how) in made {
        scans.tool("convert", &[&["page.png"], how, &[name]].concat());
        let r = ocr.multipart(scans.read(name), "?orientation=none").await;
        let status = r.status();
        let doc: Value = r.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{name}: {doc}");
        reads_as(&doc, &want, name);
    }
}

/// `pdf` is read as two pages of [`ENGLISH`] and [`FRENCH`], each with a
/// character error rate under 2%.
async fn reads_two_pages_of_english_and_french(ocr: &common::TestOcr, pdf: Vec<u8>) {
    let r = ocr.multipart(pdf, "?orientation=none").await;
    let status = r.status();
    let doc: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{doc}");
    let want = format!("{ENGLISH}\n{FRENCH}");
    let pages = doc["pages"].as_array().unwrap();
    assert_eq!(pages.len(), 2);
    for page in pages {
        let e = cer(page["text"].as_str().unwrap(), &want);
        assert!(e < 0.02, "CER {e:.3}: {page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_of_group_4_fax_pages_is_read() {
    let ocr = start(|_| {}).await;
    let scans = Scans::new(&render(&[ENGLISH, FRENCH]));
    // img2pdf keeps the G4 data as it is: a CCITTFaxDecode image for PDFium.
    let at = ["--imgsize", "300dpix300dpi"];
    scans.tool(
        "img2pdf",
        &[&at[..], &["g4.tif", "g4.tif", "-o", "fax.pdf"]].concat(),
    );
    let pdf = scans.read("fax.pdf");
    assert!(pdf.windows(14).any(|w| w == b"CCITTFaxDecode"));
    reads_two_pages_of_english_and_french(&ocr, pdf).await;
}

/// A PDF of one page per JBIG2 stream (`JBIG2Decode`, each with its
/// global symbol dictionary when it has one), `width` x `height` pixels at
/// 300 dpi.
fn jbig2_pdf(pages: &[(Vec<u8>, Option<Vec<u8>>)], width: u32, height: u32) -> Vec<u8> {
    use lopdf::{dictionary, Document, Object, Stream};
    let mut doc = Document::with_version("1.5");
    let tree = doc.new_object_id();
    let (w, h) = (width as f32 * 0.24, height as f32 * 0.24);
    let mut kids = Vec::new();
    for (data, globals) in pages {
        let mut image = dictionary! {
            "Type" => "XObject", "Subtype" => "Image", "Width" => width, "Height" => height,
            "ColorSpace" => "DeviceGray", "BitsPerComponent" => 1, "Filter" => "JBIG2Decode",
        };
        if let Some(globals) = globals {
            let globals = doc.add_object(Stream::new(dictionary! {}, globals.clone()));
            image.set("DecodeParms", dictionary! { "JBIG2Globals" => globals });
        }
        let image = doc.add_object(Stream::new(image, data.clone()).with_compression(false));
        let content = format!("q {w} 0 0 {h} 0 0 cm /Im0 Do Q");
        let content = doc.add_object(Stream::new(dictionary! {}, content.into_bytes()));
        kids.push(Object::from(doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => tree,
            "MediaBox" => vec![0.into(), 0.into(), Object::Real(w), Object::Real(h)],
            "Contents" => content,
            "Resources" => dictionary! { "XObject" => dictionary! { "Im0" => image } },
        })));
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        tree,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => tree });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_of_jbig2_pages_is_read() {
    let ocr = start(|_| {}).await;
    let img = render(&[ENGLISH, FRENCH]);
    let dir = tempfile::tempdir().unwrap();
    img.save(dir.path().join("page.png")).unwrap();
    // JBIG2 as scanners' PDF makers write it, by the jbig2enc encoder
    // (`cargo install jbig2enc`, test.sh): a generic region, and
    // text regions over a global symbol dictionary.
    let encode = |args: &[&str]| tool(dir.path(), "jbig2enc", args);
    let generic = encode(&["-p", "page.png"]);
    encode(&["-s", "-p", "-b", "symbols", "page.png"]);
    let read = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let pdf = jbig2_pdf(
        &[
            (generic, None),
            (read("symbols.0000"), Some(read("symbols.sym"))),
        ],
        img.width(),
        img.height(),
    );
    reads_two_pages_of_english_and_french(&ocr, pdf).await;
}

/// What the library calls in split mode: one page of a document, a page
/// count, and the searchable PDF from pages already read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_page_a_page_count_and_a_pdf_from_read_pages() {
    let ocr = start(|_| {}).await;
    let tiff = two_page_tiff(&render(&[ENGLISH]), &render(&[FRENCH]));
    let before = ocr.ocr.pages_recognized();
    let r = ocr.raw_query(tiff.clone(), "image/tiff", "?page=2").await;
    assert_eq!(r.status(), StatusCode::OK);
    let doc: wire::ocr::Document = r.json().await.unwrap();
    assert_eq!(doc.pages.len(), 1);
    assert_eq!(doc.pages[0].page, 2);
    assert!(cer(&doc.pages[0].text, FRENCH) < 0.05, "{}", doc.text);
    assert_eq!(ocr.ocr.pages_recognized() - before, 1, "page 2 alone");
    for bad in ["?page=0", "?page=3"] {
        let r = ocr.raw_query(tiff.clone(), "image/tiff", bad).await;
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
    }

    let post = |path: &str, body: reqwest::Body, content_type: String| {
        ocr.served
            .client
            .post(ocr.url(path))
            .bearer_auth(&ocr.token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let r = post("/v1/ocr/count", tiff.clone().into(), "image/tiff".into())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let count: wire::ocr::PageCount = r.json().await.unwrap();
    assert_eq!(count.pages, 2);
    assert_eq!(count.languages, "fra+eng");
    let r = post(
        "/v1/ocr/count",
        b"plain text".to_vec().into(),
        "text/plain".into(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        ocr.ocr.pages_recognized() - before,
        1,
        "counting reads nothing"
    );

    // The PDF of both pages, with page 2 as read above and page 1 blank.
    let pages = vec![wire::ocr::Page::blank(1), doc.pages[0].clone()];
    let pdf = |pages: &[wire::ocr::Page]| {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(tiff.clone()))
            .part(
                "pages",
                reqwest::multipart::Part::bytes(serde_json::to_vec(pages).unwrap()),
            );
        ocr.served
            .client
            .post(ocr.url("/v1/ocr/pdf"))
            .bearer_auth(&ocr.token)
            .multipart(form)
            .send()
    };
    let r = pdf(&pages).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let made = r.bytes().await.unwrap();
    assert!(made.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("made.pdf");
    std::fs::write(&path, &made).unwrap();
    let text = std::process::Command::new("pdftotext")
        .args(["-f", "2", "-l", "2"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils)");
    assert!(cer(&String::from_utf8_lossy(&text.stdout), FRENCH) < 0.05);
    assert_eq!(
        ocr.ocr.pages_recognized() - before,
        1,
        "the PDF reads nothing"
    );

    // Pages that are not what OCR gives are refused before any work.
    let mut misnumbered = pages.clone();
    misnumbered[1].page = 7;
    let mut askew = pages.clone();
    askew[1].rotation = 45;
    for (what, bad) in [("misnumbered", misnumbered), ("askew", askew)] {
        let r = pdf(&bad).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
    }
    let form =
        reqwest::multipart::Form::new().part("file", reqwest::multipart::Part::bytes(tiff.clone()));
    let r = ocr
        .served
        .client
        .post(ocr.url("/v1/ocr/pdf"))
        .bearer_auth(&ocr.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no pages");
}

/// Lines of a page of prose, English and French.
const PROSE: [&str; 6] = [
    "The quick brown fox jumps over the lazy dog",
    "Élève à l'école, où ça coûte déjà cher",
    "Invoices are due thirty days after delivery",
    "La réunion du conseil aura lieu au château",
    "Please return the signed copy before Friday",
    "Nous avons reçu votre lettre du douze mars",
];

/// `POST /v1/ocr` of a PNG file: its first page.
async fn read_png(ocr: &common::TestOcr, path: &std::path::Path) -> Value {
    let r = ocr.multipart(std::fs::read(path).unwrap(), "").await;
    assert_eq!(r.status(), StatusCode::OK, "{}", path.display());
    let doc: Value = r.json().await.unwrap();
    doc["pages"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_pages_read_as_the_straight_page_with_boxes_on_the_skewed_words() {
    let ocr = start(|_| {}).await;
    let plain = start(|c| c.deskew = false).await;
    let want = PROSE.join("\n");
    let img = render(&PROSE);
    let (w, h) = (img.width() as f64, img.height() as f64);
    let dir = tempfile::tempdir().unwrap();
    img.save(dir.path().join("straight.png")).unwrap();
    let straight = read_png(&ocr, &dir.path().join("straight.png")).await;
    let base = cer(straight["text"].as_str().unwrap(), &want);
    assert!(base < 0.02, "straight: CER {base:.3}");
    let box_of = |page: &Value, word: &str| {
        words_of(&serde_json::json!({ "pages": [page] }))
            .into_iter()
            .find(|(t, _)| t == word)
            .map(|(_, b)| b)
    };
    let straight_box = box_of(&straight, "thirty").expect("'thirty' read on the straight page");
    let mut without = Vec::new();
    for degrees in [3.0f64, 6.0, 10.0] {
        // ImageMagick turns clockwise about the centre and grows the
        // canvas to hold the turned page, bringing in white.
        let name = format!("skewed-{degrees}.png");
        let angle = degrees.to_string();
        tool(
            dir.path(),
            "convert",
            &[
                "straight.png",
                "-background",
                "white",
                "-rotate",
                &angle,
                &name,
            ],
        );
        let page = read_png(&ocr, &dir.path().join(&name)).await;
        let e = cer(page["text"].as_str().unwrap(), &want);
        let off = read_png(&plain, &dir.path().join(&name)).await;
        let e_off = cer(off["text"].as_str().unwrap(), &want);
        eprintln!("skewed {degrees} degrees: CER {e:.4} deskewed, {e_off:.4} as it is, {base:.4} straight");
        without.push(e_off);
        assert!(
            e <= base + 0.01,
            "{degrees} degrees: CER {e:.3} against {base:.3} straight"
        );
        // The word's box is where the turn put the word, in the skewed
        // page's pixels.
        let (sw, sh) = (
            page["width"].as_f64().unwrap(),
            page["height"].as_f64().unwrap(),
        );
        let (sin, cos) = degrees.to_radians().sin_cos();
        let [l, t, r, b] = straight_box.map(|v| v as f64);
        let (dx, dy) = ((l + r) / 2.0 - w / 2.0, (t + b) / 2.0 - h / 2.0);
        let expected = (
            sw / 2.0 + dx * cos - dy * sin,
            sh / 2.0 + dx * sin + dy * cos,
        );
        let got =
            box_of(&page, "thirty").unwrap_or_else(|| panic!("'thirty' at {degrees} degrees"));
        let centre = (
            (got[0] + got[2]) as f64 / 2.0,
            (got[1] + got[3]) as f64 / 2.0,
        );
        assert!(
            (centre.0 - expected.0).abs() < 8.0 && (centre.1 - expected.1).abs() < 8.0,
            "{degrees} degrees: 'thirty' at {centre:?}, expected {expected:?}"
        );
        // A level word's box, turned: taller than the word.
        assert!(got[3] - got[1] > b as i64 - t as i64, "{degrees}: {got:?}");
    }
    // Deskewing is what keeps the steepest page readable.
    assert!(
        without[2] > base + 0.01,
        "10 degrees read as well without deskewing (CER {:.3}): the step would not be needed",
        without[2]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_lit_unevenly_reads_as_the_evenly_lit_page() {
    let ocr = start(|_| {}).await;
    let plain = start(|c| c.normalize_background = false).await;
    let want = PROSE.join("\n");
    let img = render(&PROSE);
    let dir = tempfile::tempdir().unwrap();
    img.save(dir.path().join("page.png")).unwrap();
    let size = format!("{}x{}", img.width(), img.height());
    // A phone photo's light: bright on the left, dim on the right, as an
    // ImageMagick gradient multiplied into the page.
    tool(
        dir.path(),
        "convert",
        &[
            "page.png",
            "(",
            "-size",
            &size,
            "-define",
            "gradient:direction=east",
            "gradient:white-gray25",
            ")",
            "-compose",
            "multiply",
            "-composite",
            "-colorspace",
            "gray",
            "lit.png",
        ],
    );
    let even = read_png(&ocr, &dir.path().join("page.png")).await;
    let base = cer(even["text"].as_str().unwrap(), &want);
    let lit = read_png(&ocr, &dir.path().join("lit.png")).await;
    let e = cer(lit["text"].as_str().unwrap(), &want);
    let off = read_png(&plain, &dir.path().join("lit.png")).await;
    let e_off = cer(off["text"].as_str().unwrap(), &want);
    eprintln!("unevenly lit: CER {e:.4} normalized, {e_off:.4} as it is, {base:.4} evenly lit");
    assert!(e <= base + 0.01, "CER {e:.3} against {base:.3} evenly lit");
    assert!(
        e_off > e,
        "the unevenly lit page read as well without normalization (CER {e_off:.3}): the step would not be needed"
    );
}
