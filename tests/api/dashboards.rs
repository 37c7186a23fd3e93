//! Dashboards: each role sees its own figures only.

use reqwest::StatusCode;

use crate::helpers::TestApp;

#[tokio::test]
async fn stats_are_shaped_by_role_and_scoped_to_the_caller() {
    let app = TestApp::spawn().await;
    let f1 = app.user("formateur").await;
    let f2 = app.user("formateur").await;
    let s = app.user("student").await;
    let admin = app.user("admin").await;
    let course = app
        .published_course(&f1, "Dashboard stats course", false)
        .await;
    app.course(&f2, "Other formateur course").await;
    app.enroll(&s, course["id"].as_str().expect("id")).await;

    let (_, st) = app.get("/api/dashboard/stats", s.t()).await;
    assert_eq!(st["stats"]["totalEnrollments"], 1);
    assert_eq!(st["stats"]["inProgressCourses"], 1);
    let (_, ft) = app.get("/api/dashboard/stats", f1.t()).await;
    assert_eq!(ft["stats"]["totalCourses"], 1, "own courses only: {ft}");
    assert_eq!(ft["stats"]["totalStudents"], 1);
    let (_, ft2) = app.get("/api/dashboard/stats", f2.t()).await;
    assert_eq!(ft2["stats"]["pendingCourses"], 1);
    assert_eq!(ft2["stats"]["totalStudents"], 0);
    let (_, at) = app.get("/api/dashboard/stats", admin.t()).await;
    assert_eq!(at["stats"]["totalCourses"], 2);
    assert_eq!(at["stats"]["pendingCourseApprovals"], 1);
    assert_eq!(
        app.get("/api/dashboard/stats", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn role_dashboards_refuse_other_roles() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let s = app.user("student").await;
    let admin = app.user("admin").await;
    app.published_course(&f, "Dashboard role course", false)
        .await;

    let (status, a) = app.get("/api/dashboard/admin", admin.t()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(a["users"].as_array().is_some_and(|u| !u.is_empty()));
    assert!(!a.to_string().contains("argon2"), "no password data");
    assert_eq!(
        app.get("/api/dashboard/admin", f.t()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/dashboard/admin", s.t()).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, fd) = app.get("/api/dashboard/formateur", f.t()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fd["stats"]["totalCourses"], 1);
    assert_eq!(
        app.get("/api/dashboard/formateur", s.t()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/dashboard/formateur", admin.t()).await.0,
        StatusCode::OK
    );

    let (status, sd) = app.get("/api/dashboard/student", s.t()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sd["stats"]["totalCourses"], 1);
    assert_eq!(
        app.get("/api/dashboard/student", f.t()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/dashboard/student", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}
