//! Memory stays bounded whatever a document claims: pages are decoded one
//! at a time under a decode budget, and limits are checked from headers
//! before anything is decoded. Each test sends a hostile file and measures
//! the peak resident memory of this process (the server runs in it) while
//! the server reads it. Tests take turns, so that one's memory is not
//! another's.

mod common;

use std::io::Cursor;
use std::time::Duration;

use common::{start, TestOcr};
use reqwest::StatusCode;
use serde_json::Value;

const MB: u64 = 1 << 20;

/// One measuring test at a time in this binary.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"))
}

/// Bytes the process's resident memory peaked above where it was, while
/// `work` ran: the kernel's high-water mark (reset first) where it can be
/// reset, the highest of samples every 2 ms otherwise.
async fn peak_increase<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = status_kib("VmRSS");
    let exact = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut high = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                high = high.max(status_kib("VmRSS"));
                std::thread::sleep(Duration::from_millis(2));
            }
            high
        })
    };
    let out = work.await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let sampled = sampler.join().unwrap();
    let high = if exact {
        status_kib("VmHWM").max(sampled)
    } else {
        sampled
    };
    (out, high.saturating_sub(before) * 1024)
}

/// `POST /v1/ocr{query}` of `bytes`: the status and the JSON body.
async fn send(ocr: &TestOcr, bytes: Vec<u8>, query: &str) -> (StatusCode, Value) {
    let r = ocr
        .raw_query(bytes, "application/octet-stream", query)
        .await;
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_pdf_asked_at_2400_dpi_is_refused_naming_the_cap() {
    let _turn = TURN.lock().await;
    let ocr = start(|_| {}).await;
    // Four blank 6x8 inch pages: 14400x19200 pixels each at 2400 dpi.
    let pdf = fixtures::blank_pdf(4, 432, 576);
    let ((status, body), grew) = peak_increase(send(&ocr, pdf, "?dpi=2400")).await;
    eprintln!("4-page PDF at 2400 dpi: {status}, peak +{} MB", grew / MB);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("600"), "{body}");
    assert!(grew < 50 * MB, "peak +{} MB", grew / MB);
}

#[tokio::test]
async fn a_hundred_page_pdf_is_rendered_one_page_at_a_time() {
    let _turn = TURN.lock().await;
    let ocr = start(|c| {
        c.workers = Some(2);
        // Measuring a blank page's text size (debug-built here) is most of
        // the time a page takes; it is not what this test is about.
        c.rescale_large_text = false;
    })
    .await;
    // A4 at 300 dpi: 2480x3508, 8.7 MB of grey a page, 870 MB for them all.
    let pdf = fixtures::blank_pdf(100, 595, 842);
    let ((status, body), grew) =
        peak_increase(send(&ocr, pdf, "?mode=force&orientation=none&format=json")).await;
    eprintln!("100-page PDF at 300 dpi: {status}, peak +{} MB", grew / MB);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["pages"].as_array().unwrap().len(), 100);
    assert!(grew < 300 * MB, "peak +{} MB", grew / MB);
}

/// A real deflate strip of a blank 10000x10000 grey page, as TIFF's own
/// encoder writes it.
fn blank_deflate_strip(side: u32) -> Vec<u8> {
    use tiff::encoder::{colortype, compression::Deflate, TiffEncoder};
    let mut out = Cursor::new(Vec::new());
    {
        let mut enc = TiffEncoder::new(&mut out).unwrap();
        let mut image = enc
            .new_image_with_compression::<colortype::Gray8, _>(side, side, Deflate::default())
            .unwrap();
        image.rows_per_strip(side).unwrap();
        image
            .write_data(&vec![255u8; (side * side) as usize])
            .unwrap();
    }
    let bytes = out.into_inner();
    let mut dec = tiff::decoder::Decoder::new(Cursor::new(&bytes)).unwrap();
    let at = dec.get_tag_u32_vec(tiff::tags::Tag::StripOffsets).unwrap();
    let len = dec
        .get_tag_u32_vec(tiff::tags::Tag::StripByteCounts)
        .unwrap();
    assert_eq!(at.len(), 1, "one strip");
    bytes[at[0] as usize..][..len[0] as usize].to_vec()
}

#[tokio::test]
async fn a_tiff_whose_last_page_is_too_large_is_refused_before_decoding() {
    let _turn = TURN.lock().await;
    let ocr = start(|_| {}).await;
    let strip = blank_deflate_strip(10_000);
    let mut pages = vec![(10_000, 10_000); 20];
    pages.push((20_000, 20_000));
    let tiff = fixtures::tiff_sharing_one_strip(&pages, &strip, 8);
    let ((status, body), grew) = peak_increase(send(&ocr, tiff, "")).await;
    eprintln!(
        "21-page TIFF of 100 MP pages: {status}, peak +{} MB",
        grew / MB
    );
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("page 21"),
        "{body}"
    );
    assert!(grew < 50 * MB, "peak +{} MB", grew / MB);
}

/// A blank 15000x15000 grey PNG, cut short of its last tenth.
fn truncated_huge_png() -> Vec<u8> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    use image::ImageEncoder;
    let side = 15_000u32;
    let mut out = Vec::new();
    PngEncoder::new_with_quality(&mut out, CompressionType::Best, FilterType::NoFilter)
        .write_image(
            &vec![255u8; (side * side) as usize],
            side,
            side,
            image::ExtendedColorType::L8,
        )
        .unwrap();
    out.truncate(out.len() * 9 / 10);
    out
}

#[tokio::test]
async fn concurrent_truncated_huge_pngs_decode_within_the_budget() {
    let _turn = TURN.lock().await;
    const BUDGET: u64 = 300 * MB;
    let ocr = start(|c| c.decode_budget_bytes = BUDGET).await;
    let png = truncated_huge_png();
    let sends = (0..4).map(|_| send(&ocr, png.clone(), ""));
    let (answers, grew) = peak_increase(futures::future::join_all(sends)).await;
    eprintln!(
        "4 truncated 15000x15000 PNGs ({} KB each): peak +{} MB",
        png.len() / 1024,
        grew / MB
    );
    for (status, body) in answers {
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert!(grew < BUDGET + 50 * MB, "peak +{} MB", grew / MB);
}

#[tokio::test]
async fn a_full_queue_refuses_a_huge_page_before_decoding_it() {
    let _turn = TURN.lock().await;
    let ocr = start(|c| {
        c.workers = Some(1);
        c.queue_depth = 1;
    })
    .await;
    // Real pages keep the one worker busy and fill the queue of one.
    let text = fixtures::render_on(
        &["The quick brown fox jumps over the lazy dog"; 40],
        50.0,
        Some((2480, 3508)),
    );
    let mut busy_png = Vec::new();
    text.write_to(&mut Cursor::new(&mut busy_png), image::ImageFormat::Png)
        .unwrap();
    // The first is taken by the worker, the second waits in the queue (a
    // page of forty lines takes seconds to read).
    let busy = futures::future::join_all((0..2u64).map(|i| {
        let png = busy_png.clone();
        let ocr = &ocr;
        async move {
            tokio::time::sleep(Duration::from_millis(200 * i)).await;
            send(ocr, png, "").await
        }
    }));
    // A 15000x15000 PNG would take 225 MB to decode; with the queue full it
    // is refused before that.
    let png = truncated_huge_png();
    let hostile = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak_increase(send(&ocr, png, "")).await
    };
    let (read, ((status, body), grew)) = tokio::join!(busy, hostile);
    eprintln!(
        "a huge PNG against a full queue: {status}, peak +{} MB",
        grew / MB
    );
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(grew < 50 * MB, "peak +{} MB", grew / MB);
    // The pages that filled the queue were read.
    for (status, body) in read {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}
