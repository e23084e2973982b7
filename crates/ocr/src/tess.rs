//! A small safe wrapper over Tesseract's C API: one engine, one language
//! set, recognition under a deadline (Tesseract's cancel callback is asked
//! between words and stops the page when the deadline has passed).

use std::ffi::{c_void, CStr, CString};
use std::os::raw::{c_char, c_int};
use std::time::{Duration, Instant};

use tesseract_sys as sys;

#[derive(Debug, thiserror::Error)]
pub enum TessError {
    #[error("cannot load languages '{0}'")]
    Init(String),
    #[error("recognition failed")]
    Recognize,
    #[error("the page took longer than {0:?}")]
    Deadline(Duration),
}

pub struct Engine(*mut sys::TessBaseAPI);

// SAFETY: an engine is used by one thread at a time (its worker).
unsafe impl Send for Engine {}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: the handle came from TessBaseAPICreate and is dropped once.
        unsafe { sys::TessBaseAPIDelete(self.0) }
    }
}

/// Text owned by Tesseract, copied out and freed.
fn take_text(ptr: *mut c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: Tesseract returned a NUL-terminated string that we now own.
    let text = unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: freed once, with Tesseract's own deallocator.
    unsafe { sys::TessDeleteText(ptr) };
    Some(text)
}

unsafe extern "C" fn past_deadline(deadline: *mut c_void, _words: c_int) -> bool {
    // SAFETY: `deadline` points at the Instant that `recognize` keeps alive
    // for the whole call.
    let deadline = unsafe { &*(deadline as *const Instant) };
    Instant::now() >= *deadline
}

impl Engine {
    /// Load `languages` (e.g. `fra+eng`) from `tessdata` or the default path.
    pub fn new(tessdata: Option<&str>, languages: &str) -> Result<Self, TessError> {
        let bad = || TessError::Init(languages.to_owned());
        let data = tessdata.map(CString::new).transpose().map_err(|_| bad())?;
        let lang = CString::new(languages).map_err(|_| bad())?;
        // SAFETY: plain C calls on a handle we own; strings outlive the call.
        unsafe {
            let handle = sys::TessBaseAPICreate();
            let data_ptr = data.as_ref().map_or(std::ptr::null(), |d| d.as_ptr());
            if sys::TessBaseAPIInit3(handle, data_ptr, lang.as_ptr()) != 0 {
                sys::TessBaseAPIDelete(handle);
                return Err(bad());
            }
            Ok(Self(handle))
        }
    }

    /// Recognize an 8-bit grey image. Must finish within `limit`.
    pub fn recognize(
        &mut self,
        gray: &[u8],
        width: u32,
        height: u32,
        dpi: u32,
        psm: u32,
        limit: Duration,
    ) -> Result<(), TessError> {
        if gray.len() < (width as usize) * (height as usize) {
            return Err(TessError::Recognize);
        }
        let deadline = Instant::now() + limit;
        let (w, h) = (width as c_int, height as c_int);
        // SAFETY: the image buffer (w*h bytes) and the deadline outlive the
        // recognition; the monitor is deleted before returning.
        let status = unsafe {
            sys::TessBaseAPISetImage(self.0, gray.as_ptr(), w, h, 1, w);
            sys::TessBaseAPISetSourceResolution(self.0, dpi as c_int);
            sys::TessBaseAPISetPageSegMode(self.0, psm as sys::TessPageSegMode);
            let monitor = sys::TessMonitorCreate();
            sys::TessMonitorSetCancelFunc(monitor, Some(past_deadline));
            sys::TessMonitorSetCancelThis(monitor, &deadline as *const Instant as *mut c_void);
            let status = sys::TessBaseAPIRecognize(self.0, monitor);
            sys::TessMonitorDelete(monitor);
            status
        };
        if Instant::now() >= deadline {
            // SAFETY: drop the partial results of the cancelled page.
            unsafe { sys::TessBaseAPIClear(self.0) };
            return Err(TessError::Deadline(limit));
        }
        if status != 0 {
            return Err(TessError::Recognize);
        }
        Ok(())
    }

    pub fn text(&mut self) -> String {
        // SAFETY: called after a successful recognition.
        take_text(unsafe { sys::TessBaseAPIGetUTF8Text(self.0) }).unwrap_or_default()
    }

    pub fn tsv(&mut self, page_number: i32) -> String {
        // SAFETY: as above.
        take_text(unsafe { sys::TessBaseAPIGetTsvText(self.0, page_number) }).unwrap_or_default()
    }

    pub fn mean_confidence(&mut self) -> i32 {
        // SAFETY: as above.
        unsafe { sys::TessBaseAPIMeanTextConf(self.0) }
    }
}
