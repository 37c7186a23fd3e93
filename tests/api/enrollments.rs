//! Enrollment: students join, reviewers answer, each only where they may.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn open_courses_enroll_at_once_and_twice_is_409() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let student = app.user("student").await;
    let course = app
        .published_course(&f, "Open enrollment course", false)
        .await;
    let (status, body) = app
        .post(
            "/api/enrollment",
            student.t(),
            json!({"courseId": course["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["requiresApproval"], false);
    assert_eq!(body["status"], "active");
    let (status, body) = app
        .post(
            "/api/enrollment",
            student.t(),
            json!({"courseId": course["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "already_enrolled");
}

#[tokio::test]
async fn only_students_enroll_and_only_in_published_courses() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let admin = app.user("admin").await;
    let student = app.user("student").await;
    let published = app
        .published_course(&f, "Published enrollment course", true)
        .await;
    let pending = app.course(&f, "Pending enrollment course").await;
    assert_eq!(
        app.post(
            "/api/enrollment",
            admin.t(),
            json!({"courseId": published["id"]})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/api/enrollment",
            f.t(),
            json!({"courseId": published["id"]})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/api/enrollment",
            None,
            json!({"courseId": published["id"]})
        )
        .await
        .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.post(
            "/api/enrollment",
            student.t(),
            json!({"courseId": pending["id"]})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/enrollment", student.t(), json!({"courseId": "nope"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/enrollment", student.t(), json!({"course": "x"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn approval_flow_with_admin_and_owning_formateur_only() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let other = app.user("formateur").await;
    let admin = app.user("admin").await;
    let s1 = app.user("student").await;
    let s2 = app.user("student").await;
    let course = app
        .published_course(&owner, "Gated course for approval", true)
        .await;
    let (status, r1) = app
        .post("/api/enrollment", s1.t(), json!({"courseId": course["id"]}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(r1["requiresApproval"], true);
    assert!(r1["requestId"].is_string());
    let (status, dup) = app
        .post("/api/enrollment", s1.t(), json!({"courseId": course["id"]}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(dup["code"], "already_pending");
    let (_, r2) = app
        .post("/api/enrollment", s2.t(), json!({"courseId": course["id"]}))
        .await;

    // The owner sees the requests; another formateur neither sees nor answers them.
    let (_, own) = app
        .get(
            "/api/formateur/enrollment-requests?status=pending",
            owner.t(),
        )
        .await;
    assert_eq!(own["requests"].as_array().map(Vec::len), Some(2));
    assert_eq!(own["success"], true);
    let (_, theirs) = app
        .get("/api/formateur/enrollment-requests", other.t())
        .await;
    assert_eq!(theirs["requests"].as_array().map(Vec::len), Some(0));
    let answer =
        json!({"requestId": r1["requestId"], "status": "approved", "responseMessage": "Welcome!"});
    assert_eq!(
        app.post(
            "/api/formateur/enrollment-requests",
            other.t(),
            answer.clone()
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/formateur/enrollment-requests", s1.t(), answer.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/admin/enrollment-requests", owner.t()).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, body) = app
        .post(
            "/api/formateur/enrollment-requests",
            owner.t(),
            answer.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["enrollmentId"].is_string());
    assert_eq!(
        app.post("/api/formateur/enrollment-requests", owner.t(), answer)
            .await
            .0,
        StatusCode::CONFLICT,
        "answered once"
    );
    let (status, _) = app
        .post(
            "/api/admin/enrollment-requests",
            admin.t(),
            json!({"requestId": r2["requestId"], "status": "denied"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, all) = app
        .get("/api/admin/enrollment-requests?status=pending", admin.t())
        .await;
    assert_eq!(all["requests"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        app.get("/api/admin/enrollment-requests?status=maybe", admin.t())
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    let bad = json!({"requestId": r2["requestId"], "status": "perhaps"});
    assert_eq!(
        app.post("/api/admin/enrollment-requests", admin.t(), bad)
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // The approved student is enrolled and told so; the denied one is not.
    let (_, dash) = app.get("/api/dashboard/courses", s1.t()).await;
    assert_eq!(dash["courses"][0]["isEnrolled"], true);
    let (_, dash) = app.get("/api/dashboard/courses", s2.t()).await;
    assert_eq!(dash["courses"][0]["enrollmentStatus"], "denied");
    let (_, notes) = app.get("/api/notifications", s1.t()).await;
    assert!(
        notes["notifications"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("approved")
    );
}

#[tokio::test]
async fn concurrent_duplicate_requests_leave_one_row() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let s = app.user("student").await;
    let course = app
        .published_course(&f, "Race enrollment course", true)
        .await;
    let body = json!({"courseId": course["id"]});
    let results =
        futures::future::join_all((0..8).map(|_| app.post("/api/enrollment", s.t(), body.clone())))
            .await;
    let created = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, conflicts), (1, 7), "{results:?}");
    let rows: i64 = app
        .sql()
        .await
        .query_one("select count(*) from enrollment_request", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(rows, 1);
}
