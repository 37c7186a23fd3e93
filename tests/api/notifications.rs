//! Notifications: each user reads and changes only their own.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

async fn notify(app: &TestApp, user: uuid::Uuid, title: &str) -> String {
    let row = app
        .sql()
        .await
        .query_one("insert into notification (user_id, title, message) values ($1, $2, 'msg') returning id::text", &[&user, &title])
        .await
        .expect("insert");
    row.get(0)
}

#[tokio::test]
async fn users_list_and_count_only_their_own_notifications() {
    let app = TestApp::spawn().await;
    let a = app.user("student").await;
    let b = app.user("student").await;
    notify(&app, a.id, "for a 1").await;
    notify(&app, a.id, "for a 2").await;
    notify(&app, b.id, "for b").await;
    let (status, body) = app.get("/api/notifications?action=list", a.t()).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["notifications"].as_array().expect("list");
    assert_eq!(list.len(), 2);
    assert!(list.iter().all(|n| n["userId"] == json!(a.id)));
    assert_eq!(list[0]["title"], "for a 2", "newest first");
    assert_eq!(body["unreadCount"], 2);
    assert_eq!(
        app.get("/api/notifications?action=unread-count", b.t())
            .await
            .1,
        json!({"unreadCount": 1})
    );
    assert_eq!(
        app.get("/api/notifications?action=explode", a.t()).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.get("/api/notifications", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn nobody_marks_or_deletes_someone_elses_notification() {
    let app = TestApp::spawn().await;
    let a = app.user("student").await;
    let b = app.user("admin").await;
    let note = notify(&app, a.id, "private").await;
    for action in ["mark-read", "delete"] {
        let (status, _) = app
            .post(
                "/api/notifications",
                b.t(),
                json!({"action": action, "notificationId": note}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{action} by another user");
    }
    assert_eq!(
        app.get("/api/notifications?action=unread-count", a.t())
            .await
            .1["unreadCount"],
        1
    );
    let (status, body) = app
        .post(
            "/api/notifications",
            a.t(),
            json!({"action": "mark-read", "notificationId": note}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get("/api/notifications?action=unread-count", a.t())
            .await
            .1["unreadCount"],
        0
    );
    notify(&app, a.id, "second").await;
    assert_eq!(
        app.post(
            "/api/notifications",
            a.t(),
            json!({"action": "mark-all-read"})
        )
        .await
        .1["updated"],
        1
    );
    assert_eq!(
        app.post(
            "/api/notifications",
            a.t(),
            json!({"action": "delete", "notificationId": note})
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        app.post("/api/notifications", a.t(), json!({"action": "delete"}))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(
            "/api/notifications",
            a.t(),
            json!({"action": "shred", "notificationId": note})
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post(
            "/api/notifications",
            a.t(),
            json!({"action": "delete", "notificationId": "x'; --"})
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
}
