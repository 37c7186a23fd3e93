//! The operator dashboard, driven by a real headless browser (Debian's chromium).

use std::{path::PathBuf, process::Stdio, time::Duration};

use reqwest::{StatusCode, redirect::Policy};

use crate::helpers::{OPS_TOKEN, TestApp};

/// The browser: `CHROMIUM` or the first of the usual names on the PATH.
fn chromium() -> PathBuf {
    if let Ok(path) = std::env::var("CHROMIUM") {
        return path.into();
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
        .expect("a headless browser is needed: apt-get install chromium (or set CHROMIUM)")
}

/// Opens `url` in a fresh headless profile, lets the page run (its polls included) and
/// returns the DOM it ended with.
async fn render(url: &str) -> String {
    let profile = std::env::temp_dir().join(format!("elearning-chromium-{}", uuid::Uuid::new_v4()));
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(chromium())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--virtual-time-budget=4000",
                &format!("--user-data-dir={}", profile.display()),
                "--dump-dom",
                url,
            ])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the browser finished in time")
    .expect("the browser ran");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The text of the element with `id` in a dumped DOM.
fn figure(dom: &str, id: &str) -> String {
    let start = dom
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("#{id} missing in {dom}"));
    let rest = &dom[start..];
    let open = rest.find('>').expect("tag end") + 1;
    let close = rest[open..].find('<').expect("element end");
    rest[open..open + close].to_owned()
}

fn count(text: &str) -> u64 {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("not a count: {text:?}"))
}

#[tokio::test]
async fn the_dashboard_shows_live_figures_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let url = format!("{}/api/performance/dashboard?token={OPS_TOKEN}", app.addr);

    let first = render(&url).await;
    assert!(
        first.contains("data-state=\"live\""),
        "the page polled the figures: {first}"
    );
    let before = count(&figure(&first, "total-requests"));
    assert!(before > 0, "the browser's own requests are counted");
    assert!(
        figure(&first, "p95").ends_with("s"),
        "a latency: {}",
        figure(&first, "p95")
    );
    assert!(figure(&first, "memory").ends_with("MiB"));

    for _ in 0..25 {
        assert_eq!(app.get("/api/courses", None).await.0, StatusCode::OK);
    }
    let second = render(&url).await;
    let after = count(&figure(&second, "total-requests"));
    assert!(after >= before + 25, "{before} then {after}");
    assert!(
        second.contains("GET /api/courses"),
        "the route table lists the course list"
    );
}

#[tokio::test]
async fn the_dashboard_is_for_operators_and_admins_only() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client");
    let page = |query: &str, token: Option<&str>| {
        let mut req = client.get(format!("{}/api/performance/dashboard{query}", app.addr));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    // No credentials: a sign-in form, no figures.
    let res = page("", None).await.expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = res.text().await.expect("body");
    assert!(body.contains("name=\"token\"") && !body.contains("total-requests"));
    // A wrong token: the form again, no cookie.
    let res = page("?token=wrong", None).await.expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.headers().get("set-cookie").is_none());
    // A student: forbidden.
    let student = app.user("student").await;
    assert_eq!(
        page("", student.t()).await.expect("request").status(),
        StatusCode::FORBIDDEN
    );
    // An admin's session, or the operator token as a bearer: the page.
    let admin = app.user("admin").await;
    let res = page("", admin.t()).await.expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("default-src 'none'")
    );
    assert!(
        res.text()
            .await
            .expect("body")
            .contains("id=\"total-requests\"")
    );

    // The operator token in the URL is traded for a cookie and a clean URL.
    let res = page(&format!("?token={OPS_TOKEN}"), None)
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/api/performance/dashboard");
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(
        !cookie.contains(OPS_TOKEN),
        "the cookie is a session, not the token"
    );
    let session = cookie.split(';').next().expect("pair").to_owned();
    for path in ["/api/performance/dashboard", "/api/performance/stats"] {
        let res = client
            .get(format!("{}{path}", app.addr))
            .header("cookie", &session)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    // The session opens nothing but the operations endpoints.
    let res = client
        .get(format!("{}/api/notifications", app.addr))
        .header("cookie", session.replace("OpsSession", "AuthToken"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
