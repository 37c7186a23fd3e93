//! The committed OpenAPI document is what the code generates, and it is served.

use reqwest::StatusCode;

use crate::helpers::TestApp;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn committed_openapi_document_is_up_to_date() {
    let generated = elearning_api::app::openapi_document()
        .to_pretty_json()
        .expect("render");
    assert!(
        generated.trim() == COMMITTED.trim(),
        "openapi/openapi.json is stale: regenerate it with `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn the_document_and_the_docs_page_are_served() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["paths"]["/api/performance/health"].is_object());
    let res = app
        .client
        .get(format!("{}/api/docs/", app.addr))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap_or_default();
    assert!(html.contains("swagger"), "docs page served without network");
}
