//! Sends cached answers in the compressed form the client accepts, made once per cache entry
//! (see [`crate::cache::encoded`]). Other responses pass on to the compression layer.

use axum::{
    body::Body,
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};

use crate::cache::encoded::{Coding, Precompressible};

/// The middleware.
pub async fn send(req: Request, next: Next) -> Response {
    let coding = Coding::negotiate(req.headers());
    let mut response = next.run(req).await;
    let Some(cached) = response.extensions_mut().remove::<Precompressible>() else {
        return response;
    };
    // Shared caches (CDNs) must keep the forms apart, whichever one this answer is.
    response.headers_mut().append(
        header::VARY,
        HeaderValue::from_static(header::ACCEPT_ENCODING.as_str()),
    );
    let Some(coding) = coding else {
        return response;
    };
    match cached.encodings.get_or_make(coding, &cached.body).await {
        Ok(compressed) => {
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_ENCODING, coding.header_value());
            headers.remove(header::CONTENT_LENGTH);
            *response.body_mut() = Body::from(compressed);
        }
        // The uncompressed body is still right.
        Err(error) => tracing::warn!(?error, "could not compress a cached answer"),
    }
    response
}
