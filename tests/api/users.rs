//! Admin user management: who may list, create and change users.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn only_admins_list_users_with_the_original_shape() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    let student = app.user("student").await;
    let formateur = app.user("formateur").await;
    let (status, body) = app.get("/api/admin/users?limit=2", admin.t()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["total"], 3);
    assert_eq!(body["users"].as_array().map(Vec::len), Some(2));
    let cursor = body["nextCursor"].as_str().expect("more pages").to_owned();
    let (_, page2) = app
        .get(
            &format!("/api/admin/users?limit=2&cursor={cursor}"),
            admin.t(),
        )
        .await;
    assert_eq!(page2["users"].as_array().map(Vec::len), Some(1));
    assert!(page2["nextCursor"].is_null());
    assert_eq!(
        app.get("/api/admin/users", student.t()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/admin/users", formateur.t()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/admin/users", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    for bad in [
        "limit=0",
        "limit=-5",
        "limit=1000",
        "limit=abc",
        "cursor=zzz",
        "role=god",
    ] {
        let (status, body) = app.get(&format!("/api/admin/users?{bad}"), admin.t()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "invalid_query");
    }
}

#[tokio::test]
async fn formateurs_create_only_students_and_admins_any_role() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    let formateur = app.user("formateur").await;
    let student = app.user("student").await;
    let body = |email: &str, role: &str| json!({"email": email, "password": "longenough", "firstName": "N", "lastName": "M", "role": role});
    let (status, created) = app
        .post(
            "/api/admin/users",
            formateur.t(),
            body("s1@example.com", "student"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["user"]["role"], "student");
    assert!(created["id"].is_string());
    let (status, _) = app
        .post(
            "/api/admin/users",
            formateur.t(),
            body("a1@example.com", "admin"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/api/admin/users",
            student.t(),
            body("s2@example.com", "student"),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, created) = app
        .post(
            "/api/admin/users",
            admin.t(),
            body("f2@example.com", "formateur"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(created["user"]["role"], "formateur");
    let (status, body) = app
        .post(
            "/api/admin/users",
            admin.t(),
            body("x@example.com", "superuser"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["details"]["role"].is_string());
}

#[tokio::test]
async fn only_admins_change_users_and_not_themselves() {
    let app = TestApp::spawn().await;
    let admin = app.user("admin").await;
    let formateur = app.user("formateur").await;
    let student = app.user("student").await;
    let path = format!("/api/admin/users/{}", student.id);
    assert_eq!(
        app.patch(&path, formateur.t(), json!({"role": "admin"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.patch(&path, student.t(), json!({"role": "admin"}))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = app
        .patch(&path, admin.t(), json!({"role": "formateur"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["user"]["role"], "formateur");
    // The new role applies at the next request, whatever the old token says.
    assert_eq!(app.post("/api/admin/users", student.t(), json!({"email": "n@example.com", "password": "longenough", "firstName": "a", "lastName": "b"})).await.0, StatusCode::CREATED);
    let (status, _) = app
        .patch(
            &format!("/api/admin/users/{}", admin.id),
            admin.t(),
            json!({"status": "suspended"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.patch("/api/admin/users/not-a-uuid", admin.t(), json!({}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(
            &format!("/api/admin/users/{}", uuid::Uuid::new_v4()),
            admin.t(),
            json!({})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.patch(&path, admin.t(), json!({"status": "deleted"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}
