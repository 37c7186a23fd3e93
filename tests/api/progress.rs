//! Progress: enrolled students record it; student, owner and admin read it.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn enrolled_students_complete_lessons_up_to_100() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let s = app.user("student").await;
    let course = app.published_course(&f, "Progress course", false).await;
    let id = course["id"].as_str().expect("id").to_owned();
    let lessons: Vec<String> = course["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .flat_map(|m| m["lessons"].as_array().cloned().unwrap_or_default())
        .map(|l| l["id"].as_str().expect("lesson").to_owned())
        .collect();
    assert_eq!(lessons.len(), 3);
    let (status, _) = app
        .post(
            "/api/progress",
            s.t(),
            json!({"courseId": id, "lessonId": lessons[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "not enrolled yet");
    app.enroll(&s, &id).await;
    let (status, body) = app
        .post(
            "/api/progress",
            s.t(),
            json!({"courseId": id, "lessonId": lessons[0]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["progress"], 33);
    let (_, body) = app
        .post(
            "/api/progress",
            s.t(),
            json!({"courseId": id, "lessonId": lessons[0]}),
        )
        .await;
    assert_eq!(body["progress"], 33, "idempotent");
    app.post(
        "/api/progress",
        s.t(),
        json!({"courseId": id, "lessonId": lessons[1]}),
    )
    .await;
    let (_, body) = app
        .post(
            "/api/progress",
            s.t(),
            json!({"courseId": id, "lessonId": lessons[2]}),
        )
        .await;
    assert_eq!(body["progress"], 100);
    assert_eq!(body["completed"], true);
    assert!(body["record"]["completedAt"].is_string());
    let foreign = uuid::Uuid::new_v4().to_string();
    assert_eq!(
        app.post(
            "/api/progress",
            s.t(),
            json!({"courseId": id, "lessonId": foreign})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/progress", s.t(), json!({"courseId": id}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn progress_is_read_by_the_student_the_owner_and_admins_only() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let other = app.user("formateur").await;
    let admin = app.user("admin").await;
    let s1 = app.user("student").await;
    let s2 = app.user("student").await;
    let course = app
        .published_course(&owner, "Shared progress course", false)
        .await;
    let id = course["id"].as_str().expect("id").to_owned();
    app.enroll(&s1, &id).await;
    app.enroll(&s2, &id).await;
    let path = format!("/api/progress?courseId={id}");
    let (_, mine) = app.get(&path, s1.t()).await;
    let records = mine["progress"].as_array().expect("records");
    assert_eq!(
        records.len(),
        1,
        "a student sees only their own record: {mine}"
    );
    assert_eq!(records[0]["userId"], json!(s1.id));
    assert_eq!(
        app.get(&path, owner.t()).await.1["progress"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        app.get(&path, admin.t()).await.1["progress"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(app.get(&path, other.t()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/progress", owner.t()).await.0,
        StatusCode::BAD_REQUEST,
        "courseId required"
    );
    assert_eq!(
        app.get("/api/progress?courseId=xyz", s1.t()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/progress", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}
