//! Course images: uploads checked by content, renditions made off the runtime and cached.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::{
    StatusCode,
    header::HeaderMap,
    multipart::{Form, Part},
};
use serde_json::Value;

use crate::helpers::{OPS_TOKEN, TestApp, TestUser};

/// A `w`×`h` image of one colour, encoded as `format`.
fn picture(w: u32, h: u32, colour: [u8; 3], format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb(colour)));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A `w`×`h` image of noise (slow to resize, big to store), as PNG.
fn noise(w: u32, h: u32) -> Vec<u8> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let img = RgbImage::from_fn(w, h, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let b = seed.to_le_bytes();
        Rgb([b[0], b[1], b[2]])
    });
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode");
    out.into_inner()
}

/// A valid PNG whose header claims `w`×`h` pixels (a decompression bomb's header).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut png = picture(1, 1, [0, 0, 0], ImageFormat::Png);
    // IHDR data starts after the 8-byte signature, 4-byte length and 4-byte type.
    png[16..20].copy_from_slice(&w.to_be_bytes());
    png[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32fast::hash(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
}

async fn upload(
    app: &TestApp,
    who: &TestUser,
    course: &str,
    bytes: Vec<u8>,
    name: &str,
) -> (StatusCode, Value) {
    let form = Form::new().part(
        "image",
        Part::bytes(bytes)
            .file_name(name.to_owned())
            .mime_str("image/jpeg")
            .expect("mime"),
    );
    let res = app
        .client
        .post(format!("{}/api/courses/{course}/image", app.addr))
        .bearer_auth(&who.token)
        .multipart(form)
        .send()
        .await
        .expect("upload");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn fetch(
    app: &TestApp,
    path: &str,
    accept: &str,
    etag: Option<&str>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = app
        .client
        .get(format!("{}{path}", app.addr))
        .header("accept", accept);
    if let Some(tag) = etag {
        req = req.header("if-none-match", tag);
    }
    let res = req.send().await.expect("fetch");
    let (status, headers) = (res.status(), res.headers().clone());
    (status, headers, res.bytes().await.expect("body").to_vec())
}

fn decoded(bytes: &[u8]) -> DynamicImage {
    image::load_from_memory(bytes).expect("a decodable image")
}

async fn image_rows(app: &TestApp) -> i64 {
    app.sql()
        .await
        .query_one("select count(*) from course_image", &[])
        .await
        .expect("count")
        .get(0)
}

async fn image_stats(app: &TestApp) -> Value {
    app.get("/api/performance/stats", Some(OPS_TOKEN)).await.1["images"].clone()
}

#[tokio::test]
async fn an_upload_is_served_resized_negotiated_cached_and_revalidated() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let course = app.published_course(&f, "Course with a cover", false).await;
    let id = course["id"].as_str().expect("id");

    let (status, body) = upload(
        &app,
        &f,
        id,
        picture(800, 600, [200, 30, 30], ImageFormat::Png),
        "cover.png",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        (
            body["format"].as_str(),
            body["width"].as_u64(),
            body["height"].as_u64()
        ),
        (Some("png"), Some(800), Some(600))
    );
    let url = body["imageUrl"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with(&format!("/api/courses/{id}/image?v=")),
        "{url}"
    );
    // The course now points at it (the cached course page was invalidated).
    assert_eq!(
        app.get(&format!("/api/courses/{id}"), None).await.1["imageUrl"],
        url.as_str()
    );

    // WebP for clients that take it, 640 wide by default, aspect kept.
    let (status, headers, webp) = fetch(&app, &url, "image/avif,image/webp,*/*", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "image/webp");
    assert_eq!(headers["x-cache"], "MISS");
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["vary"], "Accept");
    let img = decoded(&webp);
    assert_eq!((img.width(), img.height()), (640, 480));
    let etag = headers["etag"].to_str().expect("ascii").to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with("-640-webp\""),
        "{etag}"
    );
    // The same again: from the cache, byte for byte.
    let (_, again, bytes) = fetch(&app, &url, "image/webp", None).await;
    assert_eq!(again["x-cache"], "HIT-MEMORY");
    assert_eq!(bytes, webp);
    // Revalidation.
    let (status, headers, body) = fetch(&app, &url, "image/webp", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers["etag"], etag.as_str());

    // JPEG otherwise; other widths; never enlarged.
    let (_, headers, jpeg) = fetch(&app, &format!("{url}&w=160"), "*/*", None).await;
    assert_eq!(headers["content-type"], "image/jpeg");
    let small = decoded(&jpeg);
    assert_eq!((small.width(), small.height()), (160, 120));
    let px = small.to_rgb8().get_pixel(80, 60).0;
    assert!(
        px[0] > 170 && px[1] < 70 && px[2] < 70,
        "the colour survives: {px:?}"
    );
    let (_, _, big) = fetch(&app, &format!("{url}&w=1280"), "image/jpeg", None).await;
    assert_eq!(decoded(&big).width(), 800);
    // Without the version, a short browser lifetime.
    let (_, headers, _) = fetch(
        &app,
        &format!("/api/courses/{id}/image?w=320"),
        "image/jpeg",
        None,
    )
    .await;
    assert_eq!(headers["cache-control"], "public, max-age=300");

    // Widths outside the list are refused.
    let (status, _, body) = fetch(&app, &format!("{url}&w=500"), "image/jpeg", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = serde_json::from_slice(&body).expect("json error");
    assert!(body["details"]["w"].is_string(), "{body}");

    let stats = image_stats(&app).await;
    assert!(
        stats["processed"].as_u64().expect("processed") >= 4,
        "{stats}"
    );
    assert!(
        stats["renditionHits"].as_u64().expect("hits") >= 1,
        "{stats}"
    );
    let metrics = app.metrics().await;
    assert!(metrics.contains("elearning_image_jobs_total"), "{metrics}");
}

#[tokio::test]
async fn a_new_upload_makes_the_old_image_unreachable_at_once() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Course changing its cover", false)
        .await;
    let id = course["id"].as_str().expect("id");
    let (_, first) = upload(
        &app,
        &f,
        id,
        picture(400, 300, [0, 0, 255], ImageFormat::Jpeg),
        "a.jpg",
    )
    .await;
    let old_url = first["imageUrl"].as_str().expect("url").to_owned();
    let (_, headers, _) = fetch(&app, &old_url, "image/jpeg", None).await;
    let old_etag = headers["etag"].to_str().expect("ascii").to_owned();

    let (status, second) = upload(
        &app,
        &f,
        id,
        picture(400, 300, [0, 255, 0], ImageFormat::WebP),
        "b.webp",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["imageUrl"], first["imageUrl"]);
    // The old URL now answers with the new picture, and not as immutable.
    let (status, headers, bytes) = fetch(&app, &old_url, "image/jpeg", Some(&old_etag)).await;
    assert_eq!(status, StatusCode::OK, "the old ETag no longer matches");
    assert_ne!(headers["etag"], old_etag.as_str());
    assert_eq!(headers["cache-control"], "public, max-age=300");
    let px = decoded(&bytes).to_rgb8().get_pixel(10, 10).0;
    assert!(px[1] > 200 && px[2] < 60, "the new, green picture: {px:?}");
}

#[tokio::test]
async fn bad_uploads_get_their_4xx_and_leave_nothing_behind() {
    let app = TestApp::spawn_with(|c| c.images.image_max_bytes = 64 * 1024).await;
    let f = app.user("formateur").await;
    let course = app.published_course(&f, "Course kept clean", false).await;
    let id = course["id"].as_str().expect("id");
    let jpeg = picture(64, 64, [9, 9, 9], ImageFormat::Jpeg);

    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "a text file named .jpg",
            b"just some text, not an image at all".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "JPEG, PNG or WebP",
        ),
        (
            "a truncated JPEG",
            jpeg[..jpeg.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "truncated",
        ),
        (
            "a 20000x20000 PNG",
            png_claiming(20_000, 20_000),
            StatusCode::UNPROCESSABLE_ENTITY,
            "pixels",
        ),
        (
            "an oversized body",
            noise(200, 200),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
    ];
    for (what, bytes, expected, says) in cases {
        let (status, body) = upload(&app, &f, id, bytes, "cover.jpg").await;
        assert_eq!(status, expected, "{what}: {body}");
        assert!(body["error"].is_string(), "{what}: a JSON error, {body}");
        assert!(body.to_string().contains(says), "{what}: {body}");
    }
    // Not the caller's course; a student.
    let other = app.user("formateur").await;
    let (status, _) = upload(&app, &other, id, jpeg.clone(), "x.jpg").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let student = app.user("student").await;
    let (status, _) = upload(&app, &student, id, jpeg.clone(), "x.jpg").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = upload(&app, &f, &uuid::Uuid::new_v4().to_string(), jpeg, "x.jpg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // No form at all.
    let res = app
        .client
        .post(format!("{}/api/courses/{id}/image", app.addr))
        .bearer_auth(&f.token)
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    assert_eq!(image_rows(&app).await, 0);
    assert!(app.get(&format!("/api/courses/{id}"), None).await.1["imageUrl"].is_null());
    let (status, _, _) = fetch(
        &app,
        &format!("/api/courses/{id}/image"),
        "image/jpeg",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_requests_for_a_missing_rendition_resize_once() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Course under a burst", false)
        .await;
    let id = course["id"].as_str().expect("id");
    let (_, up) = upload(&app, &f, id, noise(1200, 900), "noise.png").await;
    let url = up["imageUrl"].as_str().expect("url").to_owned();
    let before = image_stats(&app).await["processed"]
        .as_u64()
        .expect("processed");
    let burst = (0..10).map(|_| fetch(&app, &url, "image/jpeg", None));
    for (status, _, _) in futures::future::join_all(burst).await {
        assert_eq!(status, StatusCode::OK);
    }
    let after = image_stats(&app).await["processed"]
        .as_u64()
        .expect("processed");
    assert_eq!(after - before, 1, "ten requests, one resize");
}

#[tokio::test]
async fn a_full_image_queue_answers_503_at_once() {
    let app = TestApp::spawn_with(|c| {
        c.images.thread_pool_size = 1;
        c.images.image_queue_size = 0;
    })
    .await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Course with a slow image", false)
        .await;
    let id = course["id"].as_str().expect("id");
    let (status, up) = upload(&app, &f, id, noise(1200, 1000), "noise.png").await;
    assert_eq!(status, StatusCode::CREATED, "{up}");
    let url = up["imageUrl"].as_str().expect("url").to_owned();
    // Six different renditions at once, one thread and no queue: one is made, the rest are
    // refused at once rather than queued.
    let burst = [160, 320, 640, 960, 1280]
        .into_iter()
        .flat_map(|w| ["image/jpeg", "image/webp"].map(move |a| (w, a)))
        .map(|(w, accept)| {
            let path = format!("{url}&w={w}");
            let app = &app;
            async move { fetch(app, &path, accept, None).await }
        });
    let answers = futures::future::join_all(burst).await;
    let busy: Vec<_> = answers
        .iter()
        .filter(|(s, _, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(answers.iter().any(|(s, _, _)| *s == StatusCode::OK));
    assert!(
        !busy.is_empty(),
        "{:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    for (_, headers, body) in busy {
        assert_eq!(headers["retry-after"], "1");
        let body: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(body["code"], "images_busy");
    }
    assert!(
        image_stats(&app).await["rejected"]
            .as_u64()
            .expect("rejected")
            >= 1
    );
}

#[tokio::test]
async fn uploads_count_against_the_upload_group_and_reads_do_not() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_limit_enabled = true;
        c.limits.rate_limit_upload = "2/300".parse().expect("spec");
        c.limits.rate_limit_role_multipliers = String::new();
    })
    .await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Course uploaded too often", false)
        .await;
    let id = course["id"].as_str().expect("id");
    let mut statuses = Vec::new();
    for i in 0..3u8 {
        let (status, _) = upload(
            &app,
            &f,
            id,
            picture(32, 32, [i, i, i], ImageFormat::Png),
            "c.png",
        )
        .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    for _ in 0..5 {
        let (status, headers, _) = fetch(
            &app,
            &format!("/api/courses/{id}/image"),
            "image/jpeg",
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers["ratelimit-policy"], "\"courses\";q=300;w=60");
    }
}
