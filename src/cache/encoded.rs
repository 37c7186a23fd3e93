//! Compressed forms of cached answers, made once per entry instead of once per response.
//!
//! Browsers send `Accept-Encoding: gzip, deflate, br, zstd` on every request. Compressing each
//! response on the fly would cost more than everything else a memory hit does (brotli at its
//! default quality took about 1 ms of CPU for a 10 KB catalogue page: 940 requests/s against
//! 50,000 uncompressed). So an entry keeps its brotli and gzip forms beside its body, made the
//! first time a client asks for them and dropped with the entry; later hits send them as they
//! are. [`crate::middleware`] picks the form from the request's `Accept-Encoding`.

use std::{
    io::Write,
    sync::{Arc, OnceLock},
};

use axum::http::{HeaderValue, header::HeaderMap};
use bytes::Bytes;

/// Bodies shorter than this are sent as they are: compressing them saves too little.
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// Bodies longer than this are compressed on the blocking pool rather than on the runtime.
const INLINE_COMPRESS_BYTES: usize = 64 * 1024;

/// Brotli quality of cached forms: made once per entry, so better than a per-response level.
const BROTLI_QUALITY: u32 = 6;
/// Brotli window (log2 bytes), the format's default.
const BROTLI_WINDOW: u32 = 22;
/// Gzip level of cached forms.
const GZIP_LEVEL: u32 = 6;

/// A content coding the service sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// `br`.
    Brotli,
    /// `gzip`.
    Gzip,
}

impl Coding {
    /// The `Content-Encoding` value.
    pub fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Brotli => "br",
            Self::Gzip => "gzip",
        })
    }

    /// The coding to answer a request with: brotli when accepted at least as much as gzip,
    /// else gzip, else none. A `q=0` refuses a coding; `*` stands for those not named.
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let (mut br, mut gzip, mut any) = (None::<f32>, None::<f32>, None::<f32>);
        for value in headers.get_all(axum::http::header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for part in value.split(',') {
                let mut it = part.split(';');
                let name = it.next().unwrap_or("").trim();
                let q = it
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .find_map(|q| q.trim().parse::<f32>().ok())
                    .unwrap_or(1.0);
                if name.eq_ignore_ascii_case("br") {
                    br = Some(q);
                } else if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                    gzip = Some(q);
                } else if name == "*" {
                    any = Some(q);
                }
            }
        }
        let br = br.or(any).unwrap_or(0.0);
        let gzip = gzip.or(any).unwrap_or(0.0);
        if br > 0.0 && br >= gzip {
            Some(Self::Brotli)
        } else if gzip > 0.0 {
            Some(Self::Gzip)
        } else {
            None
        }
    }

    /// `body` compressed with this coding.
    pub fn compress(self, body: &[u8]) -> std::io::Result<Bytes> {
        let mut out = Vec::with_capacity(body.len() / 3 + 64);
        match self {
            Self::Brotli => {
                let mut w =
                    brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
                w.write_all(body)?;
                w.flush()?;
            }
            Self::Gzip => {
                let mut w =
                    flate2::write::GzEncoder::new(&mut out, flate2::Compression::new(GZIP_LEVEL));
                w.write_all(body)?;
                w.finish()?;
            }
        }
        Ok(Bytes::from(out))
    }
}

/// The compressed forms of one body, each made on first demand.
#[derive(Debug, Default)]
pub struct Encodings {
    brotli: OnceLock<Bytes>,
    gzip: OnceLock<Bytes>,
}

impl Encodings {
    fn slot(&self, coding: Coding) -> &OnceLock<Bytes> {
        match coding {
            Coding::Brotli => &self.brotli,
            Coding::Gzip => &self.gzip,
        }
    }

    /// `body` in `coding`, made now if this is the first request for it. Two requests racing
    /// for a new form may both compress; the first result is kept and nobody waits.
    pub async fn get_or_make(&self, coding: Coding, body: &Bytes) -> std::io::Result<Bytes> {
        if let Some(done) = self.slot(coding).get() {
            return Ok(done.clone());
        }
        let made = if body.len() <= INLINE_COMPRESS_BYTES {
            coding.compress(body)?
        } else {
            let body = body.clone();
            tokio::task::spawn_blocking(move || coding.compress(&body))
                .await
                .map_err(std::io::Error::other)??
        };
        Ok(self.slot(coding).get_or_init(|| made).clone())
    }
}

/// Marks a response whose body is a cached entry's, long enough to be worth compressing
/// ([`MIN_COMPRESS_BYTES`]), for the middleware that sends the entry's compressed forms.
#[derive(Debug, Clone)]
pub struct Precompressible {
    /// The uncompressed body, as sent.
    pub body: Bytes,
    /// Its compressed forms.
    pub encodings: Arc<Encodings>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> Option<Coding> {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).expect("header"),
        );
        Coding::negotiate(&h)
    }

    #[test]
    fn the_coding_follows_accept_encoding() {
        assert_eq!(Coding::negotiate(&HeaderMap::new()), None);
        assert_eq!(accept("gzip, deflate, br, zstd"), Some(Coding::Brotli));
        assert_eq!(accept("gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0.5, gzip"), Some(Coding::Gzip));
        assert_eq!(accept("br;q=0, gzip;q=0"), None);
        assert_eq!(accept("identity"), None);
        assert_eq!(accept("*"), Some(Coding::Brotli));
        assert_eq!(accept("*;q=0.1, br;q=0"), Some(Coding::Gzip));
    }

    #[test]
    fn compressed_forms_decompress_to_the_body() {
        use std::io::Read;
        let body = br#"{"courses":[{"title":"Rust"}]}"#.repeat(100);
        let br = Coding::Brotli.compress(&body).expect("brotli");
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut back)
            .expect("unbrotli");
        assert_eq!(back, body);
        let gz = Coding::Gzip.compress(&body).expect("gzip");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, body);
        assert!(br.len() < body.len() / 10 && gz.len() < body.len() / 10);
    }
}
