//! Images: course covers and free uploads.
//!
//! `POST /api/courses/{id}/image` stores a course's cover, `POST /api/upload-image` any image of
//! a folder (the frontend's fallback when Cloudinary is not configured; it answers Cloudinary's
//! fields). Both keep the original (checked by content, and against the pool's rules: shape,
//! encodable renditions, memory) in PostgreSQL; `GET /api/courses/{id}/image?w=` and
//! `GET /api/images/{id}?w=` serve resized renditions, made on the image pool
//! ([`crate::images`]) and cached in Redis and memory by content hash, width and format, with a
//! strong `ETag` and `If-None-Match` → 304. A rendition that cannot be made is a 422, remembered
//! for a while so a repeat costs nothing.
//!
//! A course's cover is as visible as the course: the cover of a course that is not published
//! is a 404 except to its owner and admins, and never stored by a shared cache.

use axum::{
    extract::{Multipart, OptionalFromRequestParts, multipart::MultipartRejection},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    cache::{CacheKind, CacheStatus, Loaded, Tag, X_CACHE},
    error::{AppError, AppResult, ErrorBody},
    extract::{AppJson, AppQuery, AuthUser, IdPath},
    images::{DEFAULT_WIDTH, Header, Output, WIDTHS},
    legacy,
    state::AppState,
};

/// Image routes. The upload reads its own body with `IMAGE_MAX_BYTES` as the cap, so the
/// generic extractor limit is lifted on it.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_image, upload_image))
        .routes(routes!(upload_any_image))
        .routes(routes!(get_uploaded_image))
        .layer(axum::extract::DefaultBodyLimit::disable())
}

/// The multipart form of an upload: one file.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ImageUpload {
    /// A JPEG, PNG or WebP image (by content), at most `IMAGE_MAX_BYTES`.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
}

/// The stored image.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImageUploaded {
    /// Always true.
    pub success: bool,
    /// The course's new `imageUrl` (this service's path, with the content version).
    pub image_url: String,
    /// SHA-256 of the original, hex.
    pub content_hash: String,
    /// `jpeg`, `png` or `webp`.
    pub format: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size of the original in bytes.
    pub bytes: usize,
}

/// Query of a rendition. Other parameters are ignored: frontends and CDNs add their own
/// (a cache-buster such as `?x=1`), and an image URL must not break on them.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ImageQuery {
    /// Width in pixels: 160, 320, 640 (default), 960 or 1280. Never enlarged.
    pub w: Option<u32>,
    /// The content version from `imageUrl`; with it the answer may be cached for a year.
    pub v: Option<String>,
}

/// Which image a course or an upload has (the `COURSE_IMAGE` cache entry), and for a course
/// who may see it.
#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    hash: String,
    format: String,
    /// The course's status (`published`, `pending_approval`…); `None` for free uploads.
    status: Option<String>,
    /// The course's owner; `None` for free uploads.
    owner: Option<Uuid>,
}

impl Meta {
    /// Whether only the owner and admins may see the image.
    fn private(&self) -> bool {
        self.status.as_deref().is_some_and(|s| s != "published")
    }
}

/// Where an original is stored.
#[derive(Debug, Clone, Copy)]
enum Stored {
    /// A course's cover (`course_image`, by course id).
    Course(Uuid),
    /// A free upload (`uploaded_image`, by its id).
    Upload(Uuid),
}

impl Stored {
    fn meta_key(self) -> String {
        match self {
            Self::Course(id) => format!("course:{id}"),
            Self::Upload(id) => format!("upload:{id}"),
        }
    }

    fn meta_sql(self) -> &'static str {
        match self {
            Self::Course(_) => {
                "select i.content_hash, i.format, c.status, c.instructor_id \
                 from course_image i join course c on c.id = i.course_id where i.course_id = $1"
            }
            Self::Upload(_) => {
                "select content_hash, format, null::text, null::uuid from uploaded_image \
                 where id = $1"
            }
        }
    }

    fn bytes_sql(self) -> &'static str {
        match self {
            Self::Course(_) => {
                "select bytes from course_image where course_id = $1 and content_hash = $2"
            }
            Self::Upload(_) => {
                "select bytes from uploaded_image where id = $1 and content_hash = $2"
            }
        }
    }

    fn id(self) -> Uuid {
        match self {
            Self::Course(id) | Self::Upload(id) => id,
        }
    }
}

/// Folders of `POST /api/upload-image` (the frontend's `UploadFolder`).
pub const FOLDERS: &[&str] = &[
    "course-images",
    "user-avatars",
    "formateur-avatars",
    "community-posts",
];

/// The multipart form of `POST /api/upload-image`.
#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct AnyImageUpload {
    /// A JPEG, PNG or WebP image (by content), at most `IMAGE_MAX_BYTES`.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// `course-images` (formateurs and admins), `user-avatars`, `formateur-avatars` or
    /// `community-posts` (the default).
    folder: Option<String>,
}

/// A stored upload, in the fields the frontend reads from Cloudinary's answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Always true.
    pub success: bool,
    /// Where the image is served (this service's path, with the content version).
    pub url: String,
    /// `<folder>/<id>`.
    pub public_id: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `jpeg`, `png` or `webp`.
    pub format: String,
    /// Size of the original in bytes.
    pub bytes: usize,
}

/// Upload an image into a folder (any signed-in user; `course-images` only formateurs and
/// admins). The same picture uploaded again into the same folder gets the same URL.
#[utoipa::path(post, path = "/api/upload-image", tag = "images",
    request_body(content = AnyImageUpload, content_type = "multipart/form-data"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = Uploaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 413, description = "The file is over `IMAGE_MAX_BYTES`", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "Not a JPEG, PNG or WebP, corrupt or truncated, more than `IMAGE_MAX_PIXELS`, a shape beyond `IMAGE_MAX_ASPECT_RATIO`, a rendition no format could encode, or more memory to resize than `IMAGE_MEMORY_BUDGET_MB`; `details.image` says which", body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "The image pool's queue is full, or its memory budget stayed taken for 5 s; retry after `Retry-After`", body = ErrorBody)))]
pub async fn upload_any_image(
    state: AppState,
    caller: AuthUser,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<(StatusCode, AppJson<Uploaded>)> {
    let multipart = multipart.map_err(|_| {
        AppError::UnsupportedMediaType(
            "expected multipart/form-data with a `file` and an optional `folder`".to_owned(),
        )
    })?;
    let (bytes, folder) = read_form(multipart, state.config.images.image_max_bytes).await?;
    let folder = folder.unwrap_or_else(|| "community-posts".to_owned());
    if !FOLDERS.contains(&folder.as_str()) {
        return Err(AppError::invalid(
            "folder",
            format!("must be one of: {}", FOLDERS.join(", ")),
        ));
    }
    if folder == "course-images" {
        caller.require(&[crate::extract::Role::Formateur, crate::extract::Role::Admin])?;
    }
    let checked = check_upload(&state, &bytes).await?;
    let hash = hex(&Sha256::digest(&bytes));
    let width = i32::try_from(checked.width).unwrap_or(i32::MAX);
    let height = i32::try_from(checked.height).unwrap_or(i32::MAX);
    let db = state.db().await?;
    let stmt = db
        .prepare_cached(
            "insert into uploaded_image (folder, content_hash, format, width, height, bytes, uploaded_by)
             values ($1, $2, $3, $4, $5, $6, $7)
             on conflict (folder, content_hash) do update set folder = excluded.folder
             returning id",
        )
        .await?;
    let id: Uuid = db
        .query_one(
            &stmt,
            &[
                &folder,
                &hash,
                &checked.source.name(),
                &width,
                &height,
                &bytes.as_ref(),
                &caller.id,
            ],
        )
        .await?
        .get(0);
    Ok((
        StatusCode::CREATED,
        AppJson(Uploaded {
            success: true,
            url: format!("/api/images/{id}?v={}", &hash[..16]),
            public_id: format!("{folder}/{id}"),
            width: checked.width,
            height: checked.height,
            format: checked.source.name().to_owned(),
            bytes: bytes.len(),
        }),
    ))
}

/// An uploaded image, resized (`w`), as WebP when `Accept` allows it, else JPEG.
#[utoipa::path(get, path = "/api/images/{id}", tag = "images",
    params(("id" = Uuid, Path, description = "Image id (from the upload's `url`)"), ImageQuery),
    responses((status = 200, description = "The image", content_type = "image/webp", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, description = "`w` is not one of the widths, or this rendition of the stored image cannot be made (too large for the memory budget, or beyond the format's size limit); remembered for 10 minutes", body = ErrorBody),
        (status = 503, description = "The image pool's queue is full, or its memory budget stayed taken for 5 s; retry after `Retry-After`", body = ErrorBody)))]
pub async fn get_uploaded_image(
    state: AppState,
    axum::extract::Path(raw): axum::extract::Path<String>,
    AppQuery(query): AppQuery<ImageQuery>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let id = Uuid::parse_str(&raw).map_err(|_| AppError::NotFound("image"))?;
    let meta = current(&state, Stored::Upload(id)).await?;
    serve(&state, Stored::Upload(id), &meta, &query, &headers).await
}

/// Upload a course's cover image (owner formateur or admin; multipart, one file).
#[utoipa::path(post, path = "/api/courses/{id}/image", tag = "courses",
    params(("id" = Uuid, Path, description = "Course id")),
    request_body(content = ImageUpload, content_type = "multipart/form-data"),
    security(("bearer" = []), ("cookie" = [])),
    responses((status = 201, body = ImageUploaded), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 413, description = "The file is over `IMAGE_MAX_BYTES`", body = ErrorBody),
        (status = 415, body = ErrorBody),
        (status = 422, description = "Not a JPEG, PNG or WebP, corrupt or truncated, more than `IMAGE_MAX_PIXELS`, a shape beyond `IMAGE_MAX_ASPECT_RATIO`, a rendition no format could encode, or more memory to resize than `IMAGE_MEMORY_BUDGET_MB`; `details.image` says which", body = ErrorBody),
        (status = 429, body = ErrorBody),
        (status = 503, description = "The image pool's queue is full, or its memory budget stayed taken for 5 s; retry after `Retry-After`", body = ErrorBody)))]
pub async fn upload_image(
    state: AppState,
    caller: AuthUser,
    IdPath(id, ..): IdPath<legacy::Course>,
    multipart: Result<Multipart, MultipartRejection>,
) -> AppResult<(StatusCode, AppJson<ImageUploaded>)> {
    // Who may change the course, before reading a byte of the body.
    owner_check(&state, caller, id).await?;
    let multipart = multipart.map_err(|_| {
        AppError::UnsupportedMediaType(
            "expected multipart/form-data with one image file".to_owned(),
        )
    })?;
    let (bytes, _) = read_form(multipart, state.config.images.image_max_bytes).await?;
    let checked = check_upload(&state, &bytes).await?;
    let hash = hex(&Sha256::digest(&bytes));
    let image_url = format!("/api/courses/{id}/image?v={}", &hash[..16]);
    let mut db = state.db().await?;
    let tx = db.transaction().await?;
    owner_check_in(&tx, caller, id).await?;
    let width = i32::try_from(checked.width).unwrap_or(i32::MAX);
    let height = i32::try_from(checked.height).unwrap_or(i32::MAX);
    let stmt = tx
        .prepare_cached(
            "insert into course_image (course_id, content_hash, format, width, height, bytes)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (course_id) do update set content_hash = excluded.content_hash,
               format = excluded.format, width = excluded.width, height = excluded.height,
               bytes = excluded.bytes, uploaded_at = now()",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &id,
            &hash,
            &checked.source.name(),
            &width,
            &height,
            &bytes.as_ref(),
        ],
    )
    .await?;
    let stmt = tx
        .prepare_cached("update course set image_url = $2, updated_at = now() where id = $1")
        .await?;
    tx.execute(&stmt, &[&id, &image_url]).await?;
    tx.commit().await?;
    // The course's pages show the new URL, and the old image is unreachable at once on every
    // instance (renditions are keyed by content hash).
    state
        .cache
        .invalidate(&[Tag::Courses, Tag::Course(id)])
        .await;
    Ok((
        StatusCode::CREATED,
        AppJson(ImageUploaded {
            success: true,
            image_url,
            content_hash: hash,
            format: checked.source.name().to_owned(),
            width: checked.width,
            height: checked.height,
            bytes: bytes.len(),
        }),
    ))
}

/// A course's cover image, resized (`w`), as WebP when `Accept` allows it, else JPEG.
///
/// The cover of a course that is not published is seen only by its owner and admins.
#[utoipa::path(get, path = "/api/courses/{id}/image", tag = "courses",
    params(("id" = Uuid, Path, description = "Course id"), ImageQuery),
    security((), ("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The image (`Cache-Control: private, no-store` when the course is not published)", content_type = "image/webp", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 400, body = ErrorBody),
        (status = 404, description = "No such course or cover, or the course is not published and the caller is neither its owner nor an admin", body = ErrorBody),
        (status = 422, description = "`w` is not one of the widths, or this rendition of the stored image cannot be made (too large for the memory budget, or beyond the format's size limit); remembered for 10 minutes", body = ErrorBody),
        (status = 503, description = "The image pool's queue is full, or its memory budget stayed taken for 5 s; retry after `Retry-After`", body = ErrorBody)))]
pub async fn get_image(
    state: AppState,
    IdPath(id, ..): IdPath<legacy::Course>,
    AppQuery(query): AppQuery<ImageQuery>,
    mut parts: Parts,
) -> AppResult<Response> {
    let meta = current(&state, Stored::Course(id)).await?;
    if meta.private() {
        // Credentials are read only here: a published cover costs no token check, and a stale
        // cookie does not break it.
        let viewer = <AuthUser as OptionalFromRequestParts<AppState>>::from_request_parts(
            &mut parts, &state,
        )
        .await
        .ok()
        .flatten();
        if !viewer.is_some_and(|v| v.is_admin() || Some(v.id) == meta.owner) {
            return Err(AppError::NotFound("course"));
        }
    }
    serve(&state, Stored::Course(id), &meta, &query, &parts.headers).await
}

/// A rendition of a stored original, with its caching headers.
async fn serve(
    state: &AppState,
    stored: Stored,
    meta: &Meta,
    query: &ImageQuery,
    headers: &HeaderMap,
) -> AppResult<Response> {
    let width = query.w.unwrap_or(DEFAULT_WIDTH);
    if !WIDTHS.contains(&width) {
        return Err(AppError::invalid(
            "w",
            "must be one of 160, 320, 640, 960, 1280",
        ));
    }
    let output = Output::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let version = &meta.hash[..16];
    let etag = format!("\"{version}-{width}-{}\"", output.name());
    let immutable = query.v.as_deref() == Some(version);
    let cache_control = if meta.private() {
        "private, no-store"
    } else if immutable {
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=300"
    };
    let mut response = if if_none_match(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let cached = rendition(state, stored, meta, width, output).await?;
        let mut response = cached.body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(output.content_type()),
        );
        response
            .headers_mut()
            .insert(X_CACHE, HeaderValue::from_static(cached.status.as_str()));
        response
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept"));
    Ok(response)
}

/// The image a course or an upload has now, through the cache (a new cover invalidates it).
async fn current(state: &AppState, stored: Stored) -> AppResult<Meta> {
    let kind = CacheKind::CourseImage;
    let id = stored.id();
    let cached = state
        .cache
        .get_or_load(
            kind,
            None,
            &stored.meta_key(),
            kind.tags(None, Some(id)),
            || async {
                let client = state.db().await?;
                let stmt = client.prepare_cached(stored.meta_sql()).await?;
                let row = client
                    .query_opt(&stmt, &[&id])
                    .await?
                    .ok_or(AppError::NotFound("image"))?;
                Loaded::json(
                    &Meta {
                        hash: row.get(0),
                        format: row.get(1),
                        status: row.get(2),
                        owner: row.get(3),
                    },
                    vec![],
                )
            },
        )
        .await?;
    serde_json::from_slice(&cached.body).map_err(|e| AppError::Internal(e.into()))
}

/// The rendition, from the cache or made once on the pool (concurrent misses share one load).
/// One that could not be made is answered from the pool's memory of failures while it lasts.
async fn rendition(
    state: &AppState,
    stored: Stored,
    meta: &Meta,
    width: u32,
    output: Output,
) -> AppResult<crate::cache::Cached> {
    let kind = CacheKind::ImageRendition;
    let ttl = std::time::Duration::from_secs(state.config.images.image_cache_ttl);
    let mut policy = kind.policy(None);
    policy.redis_ttl = Some(ttl);
    policy.memory_ttl = Some(ttl);
    let key = format!("{}:{width}:{}", meta.hash, output.name());
    if let Some(failure) = state.images.failed_rendition(&key) {
        return Err(failure);
    }
    let cached = state
        .cache
        .get_or_load_with(kind, policy, &key, vec![], || async {
            let original = state
                .images
                .original(&meta.hash, async {
                    let client = state.db().await?;
                    let stmt = client.prepare_cached(stored.bytes_sql()).await?;
                    // Gone when a new upload replaced it meanwhile: the caller retries with
                    // the new one.
                    let row = client
                        .query_opt(&stmt, &[&stored.id(), &meta.hash])
                        .await?
                        .ok_or(AppError::NotFound("image"))?;
                    Ok(Bytes::from(row.get::<_, Vec<u8>>(0)))
                })
                .await?;
            // The stored original passed the upload's checks when it was stored; the header is
            // read again (no pixels decoded) because the rules may have changed since.
            let header = crate::images::inspect(&original, state.images.max_pixels())?;
            let body = state.images.render(original, header, width, output).await?;
            Ok(Loaded {
                body: Bytes::from(body),
                tags: vec![],
            })
        })
        .await
        .inspect_err(|e| state.images.remember_failure(&key, e))?;
    let counter = match cached.status {
        CacheStatus::HitMemory | CacheStatus::HitRedis => &state.images.hits,
        CacheStatus::Miss | CacheStatus::Bypass => &state.images.misses,
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(cached)
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for it).
fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
}

/// 404 for a course the caller cannot see, 403 for one they see but may not change.
async fn owner_check(state: &AppState, caller: AuthUser, id: Uuid) -> AppResult<()> {
    let client = state.db().await?;
    let stmt = client
        .prepare_cached("select instructor_id, status from course where id = $1")
        .await?;
    let (owner, status): (Uuid, String) = client
        .query_opt(&stmt, &[&id])
        .await?
        .map(|r| (r.get(0), r.get(1)))
        .ok_or(AppError::NotFound("course"))?;
    super::courses::handlers::check_owner(caller, owner, &status)
}

/// The same check under the course's row lock, inside the writing transaction.
async fn owner_check_in(
    tx: &deadpool_postgres::Transaction<'_>,
    caller: AuthUser,
    id: Uuid,
) -> AppResult<()> {
    let course = super::courses::repo::lock_course(tx, id)
        .await?
        .ok_or(AppError::NotFound("course"))?;
    super::courses::handlers::check_owner(caller, course.owner, &course.status)
}

/// Reads the one file of the form, at most `max` bytes (413 beyond), and its `folder` field.
async fn read_form(mut form: Multipart, max: usize) -> AppResult<(Bytes, Option<String>)> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::PayloadTooLarge
        } else {
            AppError::BadRequest(format!("malformed multipart body: {}", e.body_text()))
        }
    };
    let mut file: Option<Bytes> = None;
    let mut folder: Option<String> = None;
    while let Some(mut field) = form.next_field().await.map_err(bad)? {
        if field.file_name().is_none() && field.name() == Some("folder") {
            let text = field.text().await.map_err(bad)?;
            if text.len() > 64 {
                return Err(AppError::invalid("folder", "is too long"));
            }
            folder = Some(text.trim().to_owned()).filter(|f| !f.is_empty());
            continue;
        }
        if field.file_name().is_none() && !matches!(field.name(), Some("image" | "file")) {
            continue;
        }
        if file.is_some() {
            return Err(AppError::invalid("image", "send one file"));
        }
        let mut buf = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(bad)? {
            if buf.len() + chunk.len() > max {
                return Err(AppError::PayloadTooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        file = Some(Bytes::from(buf));
    }
    let file = file.ok_or_else(|| AppError::invalid("image", "is required (one file)"))?;
    if file.is_empty() {
        return Err(AppError::invalid("image", "is empty"));
    }
    Ok((file, folder))
}

/// Reads an upload's header, applies every rule that needs no pixels ([`crate::images::ImagePool::admit`]),
/// then decodes it whole on the pool.
async fn check_upload(state: &AppState, bytes: &Bytes) -> AppResult<Header> {
    let header = crate::images::inspect(bytes, state.images.max_pixels())?;
    state.images.admit(&header)?;
    state.images.check(bytes.clone(), header).await?;
    Ok(header)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
