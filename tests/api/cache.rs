//! The two-tier cache against the real Redis: scopes, invalidation across instances, outages,
//! coalescing, clear-cache.

use fred::interfaces::KeysInterface;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{OPS_TOKEN, TestApp, dead_port};

async fn x_cache(app: &TestApp, path: &str, token: Option<&str>) -> (String, serde_json::Value) {
    let (status, headers, body) = app.request(Method::GET, path, token, None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    (
        headers["x-cache"].to_str().unwrap_or_default().to_owned(),
        body,
    )
}

#[tokio::test]
async fn the_catalogue_is_shared_and_dashboards_are_per_user() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Cached catalogue course", false)
        .await;
    let (s1, s2) = (app.user("student").await, app.user("student").await);
    app.enroll(&s1, course["id"].as_str().expect("id")).await;

    assert_eq!(x_cache(&app, "/api/courses", None).await.0, "MISS");
    let (status, headers, _) = app.request(Method::GET, "/api/courses", s2.t(), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers["x-cache"], "HIT-MEMORY",
        "one catalogue entry for everyone"
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap_or_default()
            .starts_with("public")
    );

    let (c1, d1) = x_cache(&app, "/api/dashboard/courses", s1.t()).await;
    let (c2, d2) = x_cache(&app, "/api/dashboard/courses", s2.t()).await;
    assert_eq!(
        (c1.as_str(), c2.as_str()),
        ("MISS", "MISS"),
        "each student has an entry of their own"
    );
    assert_eq!(d1["courses"][0]["isEnrolled"], true);
    assert_eq!(d2["courses"][0]["isEnrolled"], false);
    let (status, headers, _) = app
        .request(Method::GET, "/api/dashboard/courses", s1.t(), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-cache"], "HIT-MEMORY");
    assert_eq!(headers["cache-control"], "private, no-store");
}

#[tokio::test]
async fn a_write_is_visible_on_the_next_read() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let s = app.user("student").await;
    let course = app.published_course(&f, "Before the edit", false).await;
    let id = course["id"].as_str().expect("id").to_owned();
    assert_eq!(
        x_cache(&app, "/api/courses", None).await.1["courses"][0]["title"],
        "Before the edit"
    );
    assert_eq!(
        x_cache(&app, &format!("/api/courses/{id}"), None).await.1["title"],
        "Before the edit"
    );
    assert_eq!(
        x_cache(&app, "/api/dashboard/courses", s.t()).await.1["courses"][0]["studentCount"],
        0
    );

    let mut edit = crate::helpers::course_body("After the edit");
    edit["requiresApproval"] = json!(false);
    assert_eq!(
        app.put(&format!("/api/courses/{id}"), f.t(), edit).await.0,
        StatusCode::OK
    );
    let (cache, body) = x_cache(&app, "/api/courses", None).await;
    assert_eq!(
        (cache.as_str(), body["courses"][0]["title"].as_str()),
        ("MISS", Some("After the edit"))
    );
    assert_eq!(
        x_cache(&app, &format!("/api/courses/{id}"), None).await.1["title"],
        "After the edit"
    );

    app.enroll(&s, &id).await;
    let (_, dash) = x_cache(&app, "/api/dashboard/courses", s.t()).await;
    assert_eq!(dash["courses"][0]["isEnrolled"], true);
    assert_eq!(dash["courses"][0]["studentCount"], 1);
    let (_, stats) = x_cache(&app, "/api/dashboard/stats", s.t()).await;
    assert_eq!(stats["stats"]["totalEnrollments"], 1);
}

#[tokio::test]
async fn two_instances_never_serve_stale_data_and_share_the_redis_tier() {
    let a = TestApp::spawn().await;
    let b = a.spawn_peer().await;
    let f = a.user("formateur").await;
    let course = a
        .published_course(&f, "Shared between instances", false)
        .await;
    let id = course["id"].as_str().expect("id").to_owned();
    let path = format!("/api/courses/{id}");

    assert_eq!(x_cache(&a, &path, None).await.0, "MISS");
    assert_eq!(
        x_cache(&b, &path, None).await.0,
        "HIT-REDIS",
        "B reads what A stored"
    );
    assert_eq!(x_cache(&b, &path, None).await.0, "HIT-MEMORY");

    for round in 0..20 {
        let title = format!("Edited title number {round}");
        let mut edit = crate::helpers::course_body(&title);
        edit["requiresApproval"] = json!(false);
        assert_eq!(a.put(&path, f.t(), edit).await.0, StatusCode::OK);
        let (_, seen) = x_cache(&b, &path, None).await;
        assert_eq!(
            seen["title"],
            json!(title),
            "round {round}: B served a stale course"
        );
    }

    // Clear-cache on A empties B's memory tier too.
    assert_eq!(x_cache(&b, "/api/courses", None).await.0, "MISS");
    assert_eq!(x_cache(&b, "/api/courses", None).await.0, "HIT-MEMORY");
    let (status, _, cleared) = a
        .request(
            Method::POST,
            "/api/performance/clear-cache",
            Some(OPS_TOKEN),
            Some(json!({"scope": "all"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert!(
        cleared["cleared"]["redis"].as_u64().unwrap_or(0) >= 1,
        "{cleared}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if x_cache(&b, "/api/courses", None).await.0 == "MISS" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B's memory tier was not cleared"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn with_redis_unreachable_reads_still_answer_correctly() {
    let port = dead_port().await;
    let app = TestApp::spawn_with(|c| {
        c.redis.redis_url = Some(format!("redis://127.0.0.1:{port}").into())
    })
    .await;
    let f = app.user("formateur").await;
    app.published_course(&f, "Served without Redis", false)
        .await;
    let start = std::time::Instant::now();
    let (first, body) = x_cache(&app, "/api/courses", None).await;
    assert_eq!(first, "MISS");
    assert_eq!(body["courses"][0]["title"], "Served without Redis");
    assert_eq!(x_cache(&app, "/api/courses", None).await.0, "HIT-MEMORY");
    assert!(
        start.elapsed() < std::time::Duration::from_secs(1),
        "no stall: {:?}",
        start.elapsed()
    );
    // Writes still invalidate memory.
    let other = app.published_course(&f, "A second course", false).await;
    let (_, body) = x_cache(&app, "/api/courses", None).await;
    assert_eq!(body["courses"][0]["id"], other["id"]);
    let (_, health) = app.get_health().await;
    assert_eq!(health["systems"]["cache"]["status"], "degraded");
}

#[tokio::test]
async fn a_hundred_concurrent_misses_run_one_load() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let course = app.published_course(&f, "Stampede course", false).await;
    let path = format!("/api/courses/{}", course["id"].as_str().expect("id"));
    let details = |stats: &serde_json::Value| {
        stats["cache"]["byType"]
            .as_array()
            .expect("by type")
            .iter()
            .find(|k| k["type"] == "COURSE_DETAILS")
            .cloned()
            .expect("kind")
    };
    let before = details(&app.get("/api/performance/stats", Some(OPS_TOKEN)).await.1);
    let responses =
        futures::future::join_all((0..100).map(|_| app.request(Method::GET, &path, None, None)))
            .await;
    assert!(
        responses
            .iter()
            .all(|(s, _, b)| *s == StatusCode::OK && b["title"] == "Stampede course")
    );
    let misses = responses
        .iter()
        .filter(|(_, h, _)| h["x-cache"] == "MISS")
        .count();
    assert_eq!(misses, 1, "one request loaded, the others waited for it");
    let after = details(&app.get("/api/performance/stats", Some(OPS_TOKEN)).await.1);
    let n = |v: &serde_json::Value, f: &str| v[f].as_u64().unwrap_or(0);
    assert_eq!(
        n(&after, "misses") - n(&before, "misses"),
        1,
        "one load: {before} → {after}"
    );
    assert_eq!(n(&after, "memoryHits") - n(&before, "memoryHits"), 99);
}

#[tokio::test]
async fn clear_cache_is_for_operators_and_touches_only_our_keys() {
    let app = TestApp::spawn().await;
    let redis = app.redis().await;
    let other_key = format!("other-service:{}", uuid::Uuid::new_v4());
    let ours_not_cache = format!("{}rl:someone", app.prefix());
    let _: () = redis
        .set(&other_key, "keep me", None, None, false)
        .await
        .expect("set");
    let _: () = redis
        .set(&ours_not_cache, "keep me too", None, None, false)
        .await
        .expect("set");
    x_cache(&app, "/api/courses", None).await;

    let student = app.user("student").await;
    let admin = app.user("admin").await;
    assert_eq!(
        app.post("/api/performance/clear-cache", None, json!({}))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(
            "/api/performance/clear-cache",
            Some("wrong-token"),
            json!({})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post("/api/performance/clear-cache", student.t(), json!({}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/api/performance/clear-cache",
            admin.t(),
            json!({"scope": "everything"})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(
            "/api/performance/clear-cache",
            admin.t(),
            json!({"type": "NOPE"})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    let (status, body) = app
        .post(
            "/api/performance/clear-cache",
            admin.t(),
            json!({"scope": "redis", "type": "COURSE_LIST"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "redis");
    assert_eq!(body["type"], "COURSE_LIST");
    assert_eq!(body["cleared"]["redis"], 1);
    assert_eq!(body["cleared"]["memory"], 0);
    let res = app
        .client
        .post(format!("{}/api/performance/clear-cache", app.addr))
        .bearer_auth(OPS_TOKEN)
        .send()
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "an empty body means scope all"
    );
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(body["scope"], "all");
    assert!(body["timestamp"].is_string());

    let kept: Option<String> = redis.get(&other_key).await.expect("get");
    assert_eq!(kept.as_deref(), Some("keep me"));
    let kept: Option<String> = redis.get(&ours_not_cache).await.expect("get");
    assert_eq!(kept.as_deref(), Some("keep me too"));
    let _: i64 = redis
        .del(vec![other_key, ours_not_cache])
        .await
        .expect("del");
}

#[tokio::test]
async fn nothing_secret_reaches_redis() {
    let app = TestApp::spawn().await;
    let s = app.user("student").await;
    let admin = app.user("admin").await;
    x_cache(&app, "/api/auth/me", s.t()).await;
    x_cache(&app, "/api/dashboard/stats", admin.t()).await;
    app.get("/api/admin/users", admin.t()).await;
    let redis = app.redis().await;
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let (next, page): (String, Vec<String>) = redis
            .scan_page(cursor, format!("{}*", app.prefix()), Some(100), None)
            .await
            .expect("scan");
        keys.extend(page);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert!(
        keys.iter().any(|k| k.contains("USER_PROFILE")),
        "the profile is cached: {keys:?}"
    );
    assert!(
        !keys.iter().any(|k| k.contains("PRINCIPAL")),
        "authentication state stays in memory"
    );
    for k in keys.iter().filter(|k| k.contains(":c:")) {
        let v: Option<String> = redis.get(k).await.expect("get");
        let v = v.unwrap_or_default();
        assert!(
            !v.contains("argon2") && !v.contains("passwordHash") && !v.contains(&s.token),
            "{k}: {v}"
        );
    }
}

#[tokio::test]
async fn a_hung_redis_never_stalls_requests_and_the_tier_comes_back() {
    // A private Redis the test can freeze (SIGSTOP: the socket stays open, nothing answers).
    let port = dead_port().await;
    let mut redis = tokio::process::Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start redis-server");
    let pid = redis.id().expect("pid").to_string();
    let app = TestApp::spawn_with(|c| {
        c.redis.redis_url = Some(format!("redis://127.0.0.1:{port}").into())
    })
    .await;
    app.wait_until(|h| h["overall"] == "healthy").await;
    let f = app.user("formateur").await;
    let course = app
        .published_course(&f, "Course behind a hung Redis", false)
        .await;
    let id = course["id"].as_str().expect("id").to_owned();
    assert_eq!(x_cache(&app, "/api/courses", None).await.0, "MISS");

    let signal = |sig: &str| {
        std::process::Command::new("kill")
            .args([sig, &pid])
            .status()
            .expect("kill")
    };
    signal("-STOP");
    let start = std::time::Instant::now();
    assert_eq!(
        x_cache(&app, "/api/courses", None).await.0,
        "HIT-MEMORY",
        "memory hits never touch Redis"
    );
    for i in 0..8 {
        let t = std::time::Instant::now();
        let (status, _, body) = app
            .request(Method::GET, &format!("/api/courses/{id}?n={i}"), None, None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["title"], "Course behind a hung Redis");
        assert!(
            t.elapsed() < std::time::Duration::from_millis(800),
            "request {i} took {:?}",
            t.elapsed()
        );
    }
    let health = app
        .wait_until(|h| h["systems"]["redis"]["status"] == "unhealthy")
        .await;
    assert_eq!(health["overall"], "degraded");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));

    signal("-CONT");
    app.wait_until(|h| h["overall"] == "healthy").await;
    // Once back, the Redis tier serves again: a fresh key is stored and read back by a peer.
    let peer = app.spawn_peer().await;
    let path = format!("/api/courses/{id}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        x_cache(&app, &path, None).await;
        if x_cache(&peer, &path, None).await.0 == "HIT-REDIS" {
            break;
        }
        peer.state.cache.clear_memory(None).await;
        app.state.cache.clear_memory(None).await;
        assert!(
            std::time::Instant::now() < deadline,
            "the Redis tier did not come back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let _ = redis.kill().await;
}

#[tokio::test]
async fn a_suspension_through_one_instance_applies_on_the_other_at_once() {
    let a = TestApp::spawn().await;
    let b = a.spawn_peer().await;
    let admin = a.user("admin").await;
    let student = a.user("student").await;
    assert_eq!(b.get("/api/auth/me", student.t()).await.0, StatusCode::OK);
    assert_eq!(
        b.get("/api/auth/me", student.t()).await.0,
        StatusCode::OK,
        "now cached on B"
    );
    let (status, _) = a
        .patch(
            &format!("/api/admin/users/{}", student.id),
            admin.t(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = b.get("/api/auth/me", student.t()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "account_suspended");
}

#[tokio::test]
async fn an_edit_reaches_the_lists_that_show_the_course_and_no_others() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let edited = app
        .published_course(&f, "Edited programming course", false)
        .await;
    let id = edited["id"].as_str().expect("id").to_owned();
    let mut other = crate::helpers::course_body("An untouched design course");
    other["category"] = json!("design");
    other["requiresApproval"] = json!(false);
    let (status, created) = app.post("/api/courses", f.t(), other).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let admin = app.user("admin").await;
    let (status, reviewed) = app
        .post(
            "/api/admin/course-approval",
            admin.t(),
            json!({"courseId": created["id"], "action": "approve"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reviewed}");

    let design = "/api/courses?category=design";
    let search = "/api/courses?q=thorough";
    for path in ["/api/courses", design, search] {
        assert_eq!(x_cache(&app, path, None).await.0, "MISS", "{path}");
        assert_eq!(x_cache(&app, path, None).await.0, "HIT-MEMORY", "{path}");
    }

    // A new description: the pages showing the course and the searches change; the design
    // list, which does not show it, stays cached.
    let path = format!("/api/courses/{id}");
    let mut edit = crate::helpers::course_body("Edited programming course");
    edit["description"] = json!("A brand new description, thorough and long enough.");
    edit["requiresApproval"] = json!(false);
    assert_eq!(app.put(&path, f.t(), edit.clone()).await.0, StatusCode::OK);
    let (cache, body) = x_cache(&app, "/api/courses", None).await;
    assert_eq!(cache, "MISS");
    assert!(
        body.to_string().contains("A brand new description"),
        "{body}"
    );
    assert_eq!(x_cache(&app, search, None).await.0, "MISS");
    assert_eq!(x_cache(&app, design, None).await.0, "HIT-MEMORY");

    // A new category moves it into the design list at once.
    edit["category"] = json!("design");
    assert_eq!(app.put(&path, f.t(), edit).await.0, StatusCode::OK);
    let (cache, body) = x_cache(&app, design, None).await;
    assert_eq!(cache, "MISS");
    assert_eq!(body["courses"].as_array().map(Vec::len), Some(2), "{body}");
}

#[tokio::test]
async fn course_pages_are_shared_by_everyone_who_may_read_them_alike() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let (a, b, c) = (
        app.user("student").await,
        app.user("student").await,
        app.user("student").await,
    );
    let course = app
        .published_course(&f, "One page for many readers", false)
        .await;
    let id = course["id"].as_str().expect("id").to_owned();
    let path = format!("/api/courses/{id}");
    app.enroll(&a, &id).await;
    app.enroll(&b, &id).await;
    let content = |body: &serde_json::Value| body["modules"][0]["lessons"][0]["content"].clone();

    let (cache, body) = x_cache(&app, &path, a.t()).await;
    assert_eq!(
        (cache.as_str(), content(&body)),
        ("MISS", json!("Hello and welcome"))
    );
    let (cache, body) = x_cache(&app, &path, b.t()).await;
    assert_eq!(
        (cache.as_str(), content(&body)),
        ("HIT-MEMORY", json!("Hello and welcome")),
        "a second enrolled student reads the same entry"
    );
    // Not enrolled: the anonymous visitors' page, without lesson content.
    let (_, anonymous) = x_cache(&app, &path, None).await;
    let (cache, body) = x_cache(&app, &path, c.t()).await;
    assert_eq!(
        (cache.as_str(), content(&body)),
        ("HIT-MEMORY", json!(null))
    );
    assert_eq!(body, anonymous);
    // Enrolled now: the content at once.
    app.enroll(&c, &id).await;
    assert_eq!(
        content(&x_cache(&app, &path, c.t()).await.1),
        json!("Hello and welcome")
    );
    // Recording progress keeps the page cached.
    let lesson = body["modules"][0]["lessons"][0]["id"].clone();
    let (status, progress) = app
        .post(
            "/api/progress",
            a.t(),
            json!({"courseId": id, "lessonId": lesson}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{progress}");
    assert_eq!(x_cache(&app, &path, a.t()).await.0, "HIT-MEMORY");
}

/// GETs `path` with `accept-encoding`; returns `X-Cache`, `Content-Encoding`, `Vary` and the
/// body as sent (not decompressed).
async fn get_encoded(app: &TestApp, path: &str, accept: &str) -> (String, String, String, Vec<u8>) {
    let res = app
        .client
        .get(format!("{}{path}", app.addr))
        .header("accept-encoding", accept)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let h = |name: &str| {
        res.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (cache, encoding, vary) = (h("x-cache"), h("content-encoding"), h("vary"));
    (
        cache,
        encoding,
        vary,
        res.bytes().await.expect("body").to_vec(),
    )
}

fn decompress(encoding: &str, body: &[u8]) -> serde_json::Value {
    use std::io::Read;
    let mut out = Vec::new();
    match encoding {
        "br" => brotli::Decompressor::new(body, 4096)
            .read_to_end(&mut out)
            .expect("brotli"),
        "gzip" => flate2::read::GzDecoder::new(body)
            .read_to_end(&mut out)
            .expect("gzip"),
        "" => {
            out = body.to_vec();
            0
        }
        other => panic!("unexpected content-encoding {other}"),
    };
    serde_json::from_slice(&out).expect("JSON once decoded")
}

#[tokio::test]
async fn cached_answers_leave_compressed_as_the_client_accepts_and_never_stale() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let mut first = None;
    for i in 0..4 {
        let c = app
            .published_course(&f, &format!("Compressed catalogue course {i}"), false)
            .await;
        first.get_or_insert(c);
    }
    let id = first.expect("a course")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let browser = "gzip, deflate, br, zstd";

    let (plain_cache, plain_enc, plain_vary, plain) = get_encoded(&app, "/api/courses", "").await;
    assert_eq!((plain_cache.as_str(), plain_enc.as_str()), ("MISS", ""));
    assert!(plain.len() >= 1024, "the page is worth compressing");
    assert!(plain_vary.contains("accept-encoding"), "{plain_vary}");
    let page = decompress("", &plain);
    assert_eq!(page["courses"].as_array().map(Vec::len), Some(4));

    // A browser gets brotli, from the memory entry, the same page once decoded.
    for _ in 0..2 {
        let (cache, enc, vary, body) = get_encoded(&app, "/api/courses", browser).await;
        assert_eq!((cache.as_str(), enc.as_str()), ("HIT-MEMORY", "br"));
        assert!(vary.contains("accept-encoding"), "{vary}");
        assert!(
            body.len() < plain.len() / 2,
            "{} of {}",
            body.len(),
            plain.len()
        );
        assert_eq!(decompress(&enc, &body), page);
    }
    let (_, enc, _, body) = get_encoded(&app, "/api/courses", "gzip").await;
    assert_eq!(enc, "gzip");
    assert_eq!(decompress(&enc, &body), page);
    let (_, enc, _, body) = get_encoded(&app, "/api/courses", "br;q=0, gzip;q=0").await;
    assert_eq!(enc, "", "both refused");
    assert_eq!(body, plain);

    // An edit drops the entry with its compressed forms: nobody gets the old page.
    let mut edit = crate::helpers::course_body("Compressed and edited");
    edit["requiresApproval"] = json!(false);
    assert_eq!(
        app.put(&format!("/api/courses/{id}"), f.t(), edit).await.0,
        StatusCode::OK
    );
    for accept in [browser, "gzip"] {
        let (_, enc, _, body) = get_encoded(&app, "/api/courses", accept).await;
        let titles = decompress(&enc, &body)["courses"].to_string();
        assert!(
            titles.contains("Compressed and edited"),
            "{accept}: {titles}"
        );
    }

    // Small answers are sent as they are.
    let (_, enc, _, _) = get_encoded(&app, "/api/health", browser).await;
    assert_eq!(enc, "");
}
