//! The frontend's contract: one test per call site its browser code makes to `/api` (the 36 rows
//! of `reference/frontend-calls.md`, numbered as there, with the `file:line` of
//! `nourhb/dm0-elearning`). Each request is sent as the page sends it: same method, path, query
//! and body, and the raw Firebase ID token in the `AuthToken` cookie (never a header) of a
//! Firebase user linked to an account of the page's role. Each answer is checked for the status
//! the page branches on and for every field it reads, with the JavaScript type its code needs.
//! Ids go both ways: this service's UUIDs, and the Firestore ids the pages still hold.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use elearning_api::config::Config;
use image::{DynamicImage, ImageFormat, Rgb, RgbImage};
use reqwest::{
    Method, StatusCode,
    header::{self, HeaderMap},
    multipart::{Form, Part},
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{
    TestApp, TestUser,
    firebase::{self, KID_A, KeyServer, PROJECT},
};

/// A course imported from Firestore keeps its document id.
const COURSE_FIRESTORE_ID: &str = "a1B2c3D4e5F6g7H8i9J0";
/// A second imported course.
const OTHER_COURSE_FIRESTORE_ID: &str = "k9L8m7N6o5P4q3R2s1T0";
/// An imported quiz.
const QUIZ_FIRESTORE_ID: &str = "qZ9y8X7w6V5u4T3s2R1q";
/// An imported notification.
const NOTIFICATION_FIRESTORE_ID: &str = "nT0f1C2a3T4i5O6n7X8y";

// ---------------------------------------------------------------------------------------------
// Typed assertions: what `typeof` (and `Array.isArray`) say in the page.

/// The JavaScript type of a JSON value as the page's code sees it.
fn js_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `s` is what `Date.prototype.toJSON` gives (`2026-01-31T12:00:00.000Z`, API.md §1):
/// the one date form every JavaScript engine must parse.
fn is_js_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 24
        && b[10] == b'T'
        && b[19] == b'.'
        && b[23] == b'Z'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

/// Whether `v` (the field, absent as `None`) is of the expected kind: a JavaScript type,
/// `date` (an ISO string as above), `string[]`, or any of them followed by `?` (present, and
/// null allowed: the page falls back, e.g. `imageUrl || ''`).
fn matches(v: Option<&Value>, want: &str) -> bool {
    let (want, nullable) = match want.strip_suffix('?') {
        Some(w) => (w, true),
        None => (want, false),
    };
    match v {
        None => false,
        Some(Value::Null) => nullable,
        Some(v) => match want {
            "date" => v.as_str().is_some_and(is_js_date),
            "string[]" => v
                .as_array()
                .is_some_and(|a| a.iter().all(|x| js_type(x) == "string")),
            other => js_type(v) == other,
        },
    }
}

/// Asserts that `value` has each field with its kind (see [`matches`]); one failure lists all.
fn expect_fields(site: &str, value: &Value, fields: &[(&str, &str)]) {
    let wrong: Vec<String> = fields
        .iter()
        .filter(|(name, want)| !matches(value.get(name), want))
        .map(|(name, want)| {
            let got = value.get(name).map_or("undefined", js_type);
            format!(
                "`{name}` should be {want}, is {got} ({})",
                value.get(name).unwrap_or(&Value::Null)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{site}: {} in {value}", wrong.join("; "));
}

/// The non-empty array `value[field]`, every item checked with [`expect_fields`].
fn expect_items<'a>(
    site: &str,
    value: &'a Value,
    field: &str,
    fields: &[(&str, &str)],
) -> &'a [Value] {
    let items = value[field]
        .as_array()
        .unwrap_or_else(|| panic!("{site}: `{field}` should be an array in {value}"));
    assert!(!items.is_empty(), "{site}: `{field}` is empty in {value}");
    for item in items {
        expect_fields(&format!("{site} {field}[]"), item, fields);
    }
    items.as_slice()
}

/// The string `v[field]`.
fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field]
        .as_str()
        .unwrap_or_else(|| panic!("`{field}` should be a string in {v}"))
}

// ---------------------------------------------------------------------------------------------
// The browser: same-origin requests carrying the `AuthToken` cookie.

/// What a page's `fetch` sends as its body.
enum Body {
    /// No body, no content type (GET, and `fetch(url, {method:'POST'})`).
    None,
    /// `headers: {'Content-Type': 'application/json'}` and no body (the repair tools' pages).
    ContentTypeOnly,
    /// `JSON.stringify(...)` with the JSON content type.
    Json(Value),
    /// A `FormData`.
    Form(Form),
}

/// The `Response` the page gets.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// `response.ok`.
    fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// Asserts `response.ok` and returns the JSON.
    fn expect_ok(&self, site: &str) -> &Value {
        assert!(
            self.ok(),
            "{site}: the page needs response.ok, got {} {}",
            self.status,
            self.body
        );
        &self.body
    }

    /// Asserts that no browser or CDN may keep the answer (it depends on who is calling).
    fn expect_private(&self, site: &str) {
        assert_eq!(
            self.headers
                .get(header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
            Some("private, no-store"),
            "{site}: an answer for one caller must not be cached"
        );
    }

    /// Asserts a failure the page shows from `data.error` (a string).
    fn expect_error(&self, site: &str, status: StatusCode) {
        assert_eq!(self.status, status, "{site}: {}", self.body);
        expect_fields(site, &self.body, &[("error", "string")]);
    }

    /// The `Set-Cookie` header setting `name`.
    fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }
}

/// A Firebase user as the frontend knows them, linked to an account here.
struct FbUser {
    /// The account here (with a session token of this service, for arranging data only).
    account: TestUser,
    /// The Firebase uid (`user.uid` in the pages).
    uid: String,
    /// The Firebase ID token the login page stores in the `AuthToken` cookie.
    token: String,
}

impl FbUser {
    fn id(&self) -> Uuid {
        self.account.id
    }
}

/// A uid shaped like Firebase's (28 characters).
fn firebase_uid() -> String {
    format!("Fb{}", &Uuid::new_v4().simple().to_string()[..26])
}

/// How a course of the test data stands.
#[derive(Clone, Copy, PartialEq)]
enum Standing {
    /// Published; students enroll at once.
    Open,
    /// Published; students ask to join.
    Gated,
    /// Waiting for an admin.
    Pending,
    /// Draft (the original's `Draft`).
    Draft,
}

/// The service with Firebase sign-in, as the frontend meets it.
struct Frontend {
    app: TestApp,
    _keys: KeyServer,
}

impl Frontend {
    async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let keys = KeyServer::start().await;
        let url = keys.url.clone();
        let app = TestApp::spawn_with(move |c| {
            c.auth.firebase_project_id = Some(PROJECT.to_owned());
            c.auth.firebase_certs_url = url;
            c.auth.firebase_auto_provision = true;
            tweak(c);
        })
        .await;
        app.wait_until(|h| h["systems"]["firebase"]["keys"] == 1)
            .await;
        Self { app, _keys: keys }
    }

    /// `fetch(path, {method, body})` from a page of this origin, with the `AuthToken` cookie.
    async fn fetch(&self, cookie: Option<&str>, method: Method, path: &str, body: Body) -> Answer {
        let res = self.send(cookie, method, path, body).await;
        let status = res.status();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap_or_default();
        Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn send(
        &self,
        cookie: Option<&str>,
        method: Method,
        path: &str,
        body: Body,
    ) -> reqwest::Response {
        let mut req = self
            .app
            .client
            .request(method, format!("{}{path}", self.app.addr));
        if let Some(token) = cookie {
            req = req.header(header::COOKIE, format!("AuthToken={token}"));
        }
        req = match body {
            Body::None => req,
            Body::ContentTypeOnly => req.header(header::CONTENT_TYPE, "application/json"),
            Body::Json(v) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(v.to_string()),
            Body::Form(form) => req.multipart(form),
        };
        req.send().await.expect("request")
    }

    async fn get(&self, who: &FbUser, path: &str) -> Answer {
        self.fetch(Some(&who.token), Method::GET, path, Body::None)
            .await
    }

    async fn post(&self, who: &FbUser, path: &str, body: Value) -> Answer {
        self.fetch(Some(&who.token), Method::POST, path, Body::Json(body))
            .await
    }

    /// A Firebase user linked (by `firebase_uid`, as the import links them) to a new account of
    /// `role`.
    async fn linked(&self, role: &str) -> FbUser {
        let account = self.app.user(role).await;
        let uid = firebase_uid();
        self.sql(
            "update app_user set firebase_uid = $1 where id = $2",
            &[&uid, &account.id],
        )
        .await;
        let token = firebase::sign(&firebase::claims(&uid, &account.email, true), KID_A);
        FbUser {
            account,
            uid,
            token,
        }
    }

    /// The account a Firebase user's first request created.
    async fn provisioned(&self, uid: &str, token: &str) -> FbUser {
        let row = self
            .app
            .sql()
            .await
            .query_one(
                "select id, email, role from app_user where firebase_uid = $1",
                &[&uid],
            )
            .await
            .expect("the first request made an account");
        let id: Uuid = row.get(0);
        let role: String = row.get(2);
        FbUser {
            account: TestUser {
                id,
                email: row.get(1),
                token: self.app.state.jwt.issue(id, &role).expect("session"),
            },
            uid: uid.to_owned(),
            token: token.to_owned(),
        }
    }

    async fn sql(&self, statement: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) {
        self.app
            .sql()
            .await
            .execute(statement, params)
            .await
            .expect("arrange in SQL");
    }

    /// Empties the service's cache (after data written in SQL, behind its back).
    async fn clear_cache(&self) {
        let (status, body) = self
            .app
            .post(
                "/api/performance/clear-cache",
                Some(crate::helpers::OPS_TOKEN),
                json!({"scope": "all"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "clear the cache: {body}");
    }

    /// A course of `owner` with a cover and its hint; `firestore_id` makes it an imported one.
    async fn course(
        &self,
        owner: &FbUser,
        title: &str,
        standing: Standing,
        firestore_id: Option<&str>,
    ) -> Uuid {
        let course = match standing {
            Standing::Open => {
                self.app
                    .published_course(&owner.account, title, false)
                    .await
            }
            Standing::Gated => self.app.published_course(&owner.account, title, true).await,
            Standing::Pending | Standing::Draft => self.app.course(&owner.account, title).await,
        };
        let id: Uuid = text(&course, "id").parse().expect("course id");
        let status = if standing == Standing::Draft {
            "draft"
        } else {
            text(&course, "status")
        };
        self.sql(
            "update course set legacy_id = $2, status = lower($3),
                 image_url = 'https://res.cloudinary.com/eduverse/image/upload/v1/course-images/cover.jpg',
                 ai_hint = 'laptop code'
             where id = $1",
            &[&id, &firestore_id, &status],
        )
        .await;
        id
    }

    /// A quiz of two questions (right answers: 0 then 1; 2 and 1 points) on `course`.
    async fn quiz(
        &self,
        owner: &FbUser,
        course: Uuid,
        title: &str,
        firestore_id: Option<&str>,
    ) -> Uuid {
        let (status, quiz) = self
            .app
            .post(
                "/api/formateur/quizzes",
                owner.account.t(),
                json!({
                    "title": title,
                    "description": "Check what the course taught",
                    "courseId": course,
                    "passingScore": 60,
                    "maxAttempts": 3,
                    "timeLimit": 15,
                    "questions": [
                        {"question": "Which keyword declares a binding?", "options": ["let", "mut", "var"],
                         "correctAnswer": 0, "points": 2, "explanation": "let binds"},
                        {"question": "Which type owns a heap string?", "options": ["&str", "String"],
                         "correctAnswer": 1, "points": 1}
                    ]
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "create quiz: {quiz}");
        let id: Uuid = text(&quiz, "id").parse().expect("quiz id");
        self.sql(
            "update quiz set legacy_id = $2 where id = $1",
            &[&id, &firestore_id],
        )
        .await;
        self.sql(
            "update quiz_question set difficulty = 'hard' where quiz_id = $1 and position = 0",
            &[&id],
        )
        .await;
        id
    }

    /// `student` takes `quiz` once (through this service's own session), all answers right.
    async fn graded_attempt(&self, student: &FbUser, quiz: Uuid) {
        let (status, attempt) = self
            .app
            .post(
                &format!("/api/formateur/quizzes/{quiz}/attempts"),
                student.account.t(),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "start: {attempt}");
        let (_, q) = self
            .app
            .get(
                &format!("/api/formateur/quizzes/{quiz}"),
                student.account.t(),
            )
            .await;
        let answers: Vec<Value> = q["questions"]
            .as_array()
            .expect("questions")
            .iter()
            .zip([0, 1])
            .map(|(q, a)| json!({"questionId": q["id"], "selectedAnswer": a, "timeSpent": 20}))
            .collect();
        let (status, graded) = self
            .app
            .post(
                &format!(
                    "/api/formateur/quizzes/{quiz}/attempts/{}/submit",
                    text(&attempt, "id")
                ),
                student.account.t(),
                json!({"answers": answers, "totalTimeSpent": 40}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "submit: {graded}");
    }

    /// A notification of `user`; `firestore_id` makes it an imported one.
    async fn notification(
        &self,
        user: &FbUser,
        title: &str,
        read: bool,
        firestore_id: Option<&str>,
    ) {
        self.sql(
            "insert into notification (user_id, title, message, type, read, legacy_id)
             values ($1, $2, 'Something happened in one of your courses.', 'info', $3, $4)",
            &[&user.id(), &title, &read, &firestore_id],
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// #1–#2: the layout's components.

const S01: &str = "#1 src/components/auth-provider.tsx:83 POST /api/auth/logout";

#[tokio::test]
async fn call_01_logout_answers_ok_and_clears_the_cookie() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    let a = fe
        .fetch(
            Some(&student.token),
            Method::POST,
            "/api/auth/logout",
            Body::None,
        )
        .await;
    a.expect_ok(S01);
    let cookie = a
        .set_cookie("AuthToken")
        .unwrap_or_else(|| panic!("{S01}: the cookie holding the Firebase token is cleared"));
    assert!(
        cookie.starts_with("AuthToken=;")
            && cookie.contains("Max-Age=0")
            && cookie.contains("Path=/"),
        "{S01}: {cookie}"
    );
}

const S02: &str = "#2 src/components/chat/chat-widget.tsx:93 POST /api/ai-chat";

#[tokio::test]
async fn call_02_the_dead_chat_widgets_route_does_not_exist() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    let a = fe
        .post(
            &student,
            "/api/ai-chat",
            json!({"history": [{"role": "user", "content": "Hello"}], "prompt": "What is Rust?"}),
        )
        .await;
    // The component is mounted nowhere; the route stays absent.
    a.expect_error(S02, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// #3–#6: the notification bell (src/components/dashboard/header.tsx).

const S03: &str =
    "#3 src/components/dashboard/header.tsx:88 GET /api/notifications?action=list&limit=20";

const NOTIFICATION_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("read", "boolean"),
    ("title", "string"),
    ("message", "string"),
    ("createdAt", "date"),
];

async fn bell(fe: &Frontend, who: &FbUser) -> Value {
    let a = fe.get(who, "/api/notifications?action=list&limit=20").await;
    a.expect_private(S03);
    a.expect_ok(S03).clone()
}

/// The id of the notification titled `title` in a bell list.
fn titled(list: &Value, title: &str) -> String {
    list["notifications"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["title"] == title))
        .map(|n| text(n, "id").to_owned())
        .unwrap_or_else(|| panic!("no notification `{title}` in {list}"))
}

#[tokio::test]
async fn call_03_the_bell_lists_the_callers_notifications() {
    let fe = Frontend::spawn().await;
    // A Firebase user never seen before: this first request makes their student account.
    let (uid, _, token) = firebase::new_user();
    let a = fe
        .fetch(
            Some(&token),
            Method::GET,
            "/api/notifications?action=list&limit=20",
            Body::None,
        )
        .await;
    let body = a.expect_ok(S03);
    a.expect_private(S03);
    assert_eq!(
        body["notifications"],
        json!([]),
        "{S03}: a new student has none (and no mock ones)"
    );
    let student = fe.provisioned(&uid, &token).await;
    let other = fe.linked("student").await;
    fe.notification(&student, "Welcome to EduVerse", false, None)
        .await;
    fe.notification(
        &student,
        "Imported from Firestore",
        true,
        Some(NOTIFICATION_FIRESTORE_ID),
    )
    .await;
    fe.notification(&other, "Someone else's", false, None).await;
    // Written behind the service's back, as an import does: the empty list cached above goes.
    fe.clear_cache().await;

    let body = bell(&fe, &student).await;
    let items = expect_items(S03, &body, "notifications", NOTIFICATION_FIELDS);
    assert_eq!(items.len(), 2, "{S03}: the caller's own only: {body}");
    // header.tsx:92 counts `!n.read`.
    assert_eq!(
        items.iter().filter(|n| n["read"] == false).count(),
        1,
        "{S03}"
    );
}

const S04: &str = "#4 src/components/dashboard/header.tsx:143 POST /api/notifications {action:'mark-read', notificationId}";

#[tokio::test]
async fn call_04_marking_one_notification_read_persists() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    let other = fe.linked("student").await;
    fe.notification(&student, "Course approved", false, None)
        .await;
    fe.notification(
        &student,
        "Imported unread",
        false,
        Some(NOTIFICATION_FIRESTORE_ID),
    )
    .await;
    fe.notification(&other, "Not yours", false, None).await;
    let list = bell(&fe, &student).await;
    let id = titled(&list, "Course approved");

    // The id the bell got from #3, then the Firestore id of an imported one.
    for notification_id in [id.as_str(), NOTIFICATION_FIRESTORE_ID] {
        let a = fe
            .post(
                &student,
                "/api/notifications",
                json!({"action": "mark-read", "notificationId": notification_id}),
            )
            .await;
        a.expect_ok(&format!("{S04} with {notification_id}"));
    }
    let list = bell(&fe, &student).await;
    let items = expect_items(S04, &list, "notifications", NOTIFICATION_FIELDS);
    assert!(
        items.iter().all(|n| n["read"] == true),
        "{S04}: persisted: {list}"
    );

    // Someone else's notification is not the caller's to mark (the bell falls back locally).
    let theirs = text(&bell(&fe, &other).await["notifications"][0], "id").to_owned();
    let a = fe
        .post(
            &student,
            "/api/notifications",
            json!({"action": "mark-read", "notificationId": theirs}),
        )
        .await;
    a.expect_error(S04, StatusCode::NOT_FOUND);
    assert_eq!(
        bell(&fe, &other).await["notifications"][0]["read"],
        false,
        "{S04}"
    );
}

const S05: &str = "#5 src/components/dashboard/header.tsx:193 POST /api/notifications {action:'delete', notificationId}";

#[tokio::test]
async fn call_05_deleting_a_notification_persists() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    fe.notification(&student, "Delete me", false, None).await;
    fe.notification(
        &student,
        "Imported, delete me too",
        true,
        Some(NOTIFICATION_FIRESTORE_ID),
    )
    .await;
    fe.notification(&student, "Keep me", false, None).await;
    let list = bell(&fe, &student).await;
    let id = titled(&list, "Delete me");

    for notification_id in [id.as_str(), NOTIFICATION_FIRESTORE_ID] {
        let a = fe
            .post(
                &student,
                "/api/notifications",
                json!({"action": "delete", "notificationId": notification_id}),
            )
            .await;
        a.expect_ok(&format!("{S05} with {notification_id}"));
    }
    let list = bell(&fe, &student).await;
    let items = expect_items(S05, &list, "notifications", NOTIFICATION_FIELDS);
    assert_eq!(items.len(), 1, "{S05}: {list}");
    assert_eq!(items[0]["title"], "Keep me", "{S05}");
}

const S06: &str =
    "#6 src/components/dashboard/header.tsx:235 POST /api/notifications {action:'mark-all-read'}";

#[tokio::test]
async fn call_06_marking_all_read_persists() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    let other = fe.linked("student").await;
    fe.notification(&student, "First", false, None).await;
    fe.notification(&student, "Second", false, Some(NOTIFICATION_FIRESTORE_ID))
        .await;
    fe.notification(&other, "Not yours", false, None).await;
    bell(&fe, &student).await;

    let a = fe
        .post(
            &student,
            "/api/notifications",
            json!({"action": "mark-all-read"}),
        )
        .await;
    a.expect_ok(S06);
    let list = bell(&fe, &student).await;
    let items = expect_items(S06, &list, "notifications", NOTIFICATION_FIELDS);
    assert!(items.iter().all(|n| n["read"] == true), "{S06}: {list}");
    assert_eq!(
        bell(&fe, &other).await["notifications"][0]["read"],
        false,
        "{S06}: only the caller's"
    );
}

// ---------------------------------------------------------------------------------------------
// #7: enrolling from a course card.

const S07: &str = "#7 src/components/dashboard/course-card.tsx:90 POST /api/enrollment {courseId}";

#[tokio::test]
async fn call_07_enrolling_from_a_course_card_with_either_id() {
    let fe = Frontend::spawn().await;
    let formateur = fe.linked("formateur").await;
    let student = fe.linked("student").await;
    // The courses page lists courses from Firestore: the card holds their Firestore id.
    let open = fe
        .course(
            &formateur,
            "Open imported course",
            Standing::Open,
            Some(COURSE_FIRESTORE_ID),
        )
        .await;
    let gated = fe
        .course(&formateur, "Course behind approval", Standing::Gated, None)
        .await;

    let a = fe
        .post(
            &student,
            "/api/enrollment",
            json!({"courseId": COURSE_FIRESTORE_ID}),
        )
        .await;
    let body = a.expect_ok(S07);
    a.expect_private(S07);
    expect_fields(
        S07,
        body,
        &[
            ("success", "boolean"),
            ("requiresApproval", "boolean"),
            ("message", "string"),
        ],
    );
    assert_eq!(body["success"], true, "{S07}: l.100 needs `result.success`");
    assert_eq!(body["requiresApproval"], false, "{S07}");
    let enrolled: i64 = fe
        .app
        .sql()
        .await
        .query_one(
            "select count(*) from enrollment where user_id = $1 and course_id = $2",
            &[&student.id(), &open],
        )
        .await
        .expect("count")
        .get(0);
    assert_eq!(
        enrolled, 1,
        "{S07}: the Firestore id named the imported course"
    );

    let a = fe
        .post(&student, "/api/enrollment", json!({"courseId": gated}))
        .await;
    let body = a.expect_ok(S07);
    expect_fields(
        S07,
        body,
        &[
            ("success", "boolean"),
            ("requiresApproval", "boolean"),
            ("message", "string"),
        ],
    );
    assert_eq!(body["success"], true, "{S07}");
    assert_eq!(
        body["requiresApproval"], true,
        "{S07}: 'Enrollment Request Submitted!'"
    );

    // Again: the card's toast shows `result.error`.
    let a = fe
        .post(
            &student,
            "/api/enrollment",
            json!({"courseId": COURSE_FIRESTORE_ID}),
        )
        .await;
    a.expect_error(S07, StatusCode::CONFLICT);
}

// ---------------------------------------------------------------------------------------------
// #8, #11, #13, #31, #35: the Firebase-era repair and debug tools, retired.

async fn expect_retired(site: &str, method: Method, path: &str, body: Body) {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    let a = fe.fetch(Some(&admin.token), method, path, body).await;
    assert_eq!(a.status, StatusCode::GONE, "{site}: {}", a.body);
    // The pages show `data.error || data.details` (or `data.message` on success).
    expect_fields(site, &a.body, &[("error", "string"), ("message", "string")]);
}

const S08: &str =
    "#8 src/app/admin/generate-images/page.tsx:30 POST /api/admin/generate-course-images";

#[tokio::test]
async fn call_08_generate_course_images_is_retired() {
    expect_retired(
        S08,
        Method::POST,
        "/api/admin/generate-course-images",
        Body::ContentTypeOnly,
    )
    .await;
}

const S11: &str =
    "#11 src/app/admin/fix-all-images/page.tsx:30 POST /api/admin/fix-all-course-images";

#[tokio::test]
async fn call_11_fix_all_course_images_is_retired() {
    expect_retired(
        S11,
        Method::POST,
        "/api/admin/fix-all-course-images",
        Body::ContentTypeOnly,
    )
    .await;
}

const S13: &str = "#13 src/app/admin/fix-images/page.tsx:19 POST /api/admin/fix-course-images";

#[tokio::test]
async fn call_13_fix_course_images_is_retired() {
    expect_retired(
        S13,
        Method::POST,
        "/api/admin/fix-course-images",
        Body::ContentTypeOnly,
    )
    .await;
}

const S31: &str = "#31 src/app/test-auth-simple/page.tsx:20 GET /api/test-simple";

#[tokio::test]
async fn call_31_the_test_endpoint_is_retired() {
    expect_retired(S31, Method::GET, "/api/test-simple", Body::None).await;
}

const S35: &str = "#35 src/app/fix-blob-urls/page.tsx:19 POST /api/fix-blob-urls";

#[tokio::test]
async fn call_35_fix_blob_urls_is_retired() {
    expect_retired(
        S35,
        Method::POST,
        "/api/fix-blob-urls",
        Body::ContentTypeOnly,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// #9, #10, #32: the admin dashboard.

const S09: &str = "#9 src/app/admin/modern-dashboard.tsx:137 GET /api/dashboard/admin";
const S10: &str = "#10 src/app/admin/modern-dashboard.tsx:338 GET /api/dashboard/admin (Refresh)";
const S32: &str = "#32 src/app/test-auth-simple/page.tsx:38 GET /api/dashboard/admin";

#[tokio::test]
async fn call_09_10_32_the_admin_dashboard() {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    let formateur = fe.linked("formateur").await;
    let student = fe.linked("student").await;
    fe.course(
        &formateur,
        "Published imported course",
        Standing::Open,
        Some(COURSE_FIRESTORE_ID),
    )
    .await;
    let gated = fe
        .course(&formateur, "Published gated course", Standing::Gated, None)
        .await;
    fe.course(&formateur, "A draft course here", Standing::Draft, None)
        .await;
    fe.course(&formateur, "A course under review", Standing::Pending, None)
        .await;
    let (status, _) = fe
        .app
        .post(
            "/api/enrollment",
            student.account.t(),
            json!({"courseId": gated}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    for site in [S09, S10, S32] {
        let a = fe.get(&admin, "/api/dashboard/admin").await;
        let data = a.expect_ok(site);
        a.expect_private(site);
        let users = expect_items(
            site,
            data,
            "users",
            &[
                ("uid", "string"),
                ("displayName", "string"),
                ("email", "string"),
                ("status", "string"),
                ("role", "string"),
                ("createdAt", "date"),
            ],
        );
        // `key={user.uid}` (l.742): the Firebase uid, one per user.
        let mut uids: Vec<&str> = users.iter().map(|u| text(u, "uid")).collect();
        assert!(uids.contains(&formateur.uid.as_str()), "{site}: {data}");
        uids.sort_unstable();
        uids.dedup();
        assert_eq!(uids.len(), users.len(), "{site}: uids are React keys");

        let courses = expect_items(
            site,
            data,
            "courses",
            &[
                ("id", "string"),
                ("title", "string"),
                ("description", "string"),
                ("imageUrl", "string"),
                ("aiHint", "string"),
                ("instructorId", "string"),
                ("status", "string"),
                ("studentCount", "number"),
            ],
        );
        let count = |s: &str| courses.iter().filter(|c| c["status"] == s).count();
        // l.250-251: `c.status === 'Published'` and `=== 'Draft'`.
        assert_eq!(count("Published"), 2, "{site}: {data}");
        assert_eq!(count("Draft"), 1, "{site}: {data}");
        assert_eq!(count("pending_approval"), 1, "{site}: {data}");
        assert!(
            courses
                .iter()
                .all(|c| c["instructorId"] == formateur.uid.as_str()),
            "{site}: the owner as the frontend knows them"
        );
        expect_items(site, data, "enrollmentRequests", &[("id", "string")]);
    }
    // The test page dumps whatever comes back; only admins get the dashboard.
    let a = fe.get(&formateur, "/api/dashboard/admin").await;
    a.expect_error(S32, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// #12, #30: chat moderation (messages stay in Firestore).

const S12: &str = "#12 src/app/admin/chat/page.tsx:90 POST /api/admin/messages/{messageId}/delete";
const S30: &str = "#30 src/app/chat/page.tsx:128 POST /api/admin/messages/{messageId}/delete";

#[tokio::test]
async fn call_12_30_chat_message_deletion_stays_in_firestore() {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    for site in [S12, S30] {
        let a = fe
            .post(
                &admin,
                "/api/admin/messages/mSg0a1B2c3D4e5F6g7H8/delete",
                json!({"adminUid": admin.uid, "reason": "Message deleted by admin"}),
            )
            .await;
        // The page throws `error.error` (l.109 / l.147).
        a.expect_error(site, StatusCode::NOT_FOUND);
    }
}

// ---------------------------------------------------------------------------------------------
// #14–#16: course approvals.

const S14: &str = "#14 src/app/admin/course-approvals/page.tsx:71 GET /api/admin/course-approvals";

async fn approval_queue(fe: &Frontend, admin: &FbUser, site: &str) -> Value {
    let a = fe.get(admin, "/api/admin/course-approvals").await;
    a.expect_private(site);
    a.expect_ok(site).clone()
}

#[tokio::test]
async fn call_14_the_approval_queue_lists_pending_courses() {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    let formateur = fe.linked("formateur").await;
    fe.course(
        &formateur,
        "Pending imported course",
        Standing::Pending,
        Some(COURSE_FIRESTORE_ID),
    )
    .await;
    fe.course(
        &formateur,
        "Another pending course",
        Standing::Pending,
        None,
    )
    .await;
    fe.course(&formateur, "Already published course", Standing::Open, None)
        .await;

    let data = approval_queue(&fe, &admin, S14).await;
    let courses = expect_items(
        S14,
        &data,
        "courses",
        &[
            ("id", "string"),
            ("title", "string"),
            ("description", "string"),
            ("instructorName", "string"),
            ("category", "string"),
            ("level", "string"),
            ("modules", "array"),
            ("createdAt", "date"),
        ],
    );
    assert_eq!(courses.len(), 2, "{S14}: pending ones only: {data}");
    for c in courses {
        assert_eq!(c["instructorName"], "Test formateur", "{S14}");
        // The details dialog (l.386-392) lists `module.title`.
        expect_items(S14, c, "modules", &[("id", "string"), ("title", "string")]);
    }
    let a = fe.get(&formateur, "/api/admin/course-approvals").await;
    a.expect_error(S14, StatusCode::FORBIDDEN);
}

async fn course_status(fe: &Frontend, id: Uuid) -> (String, Option<String>) {
    let row = fe
        .app
        .sql()
        .await
        .query_one(
            "select status, approval_reason from course where id = $1",
            &[&id],
        )
        .await
        .expect("course");
    (row.get(0), row.get(1))
}

const S15: &str = "#15 src/app/admin/course-approvals/page.tsx:90 POST /api/admin/course-approval {courseId, action:'approve'}";

#[tokio::test]
async fn call_15_approving_a_course_with_either_id() {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    let formateur = fe.linked("formateur").await;
    let imported = fe
        .course(
            &formateur,
            "Pending imported course",
            Standing::Pending,
            Some(COURSE_FIRESTORE_ID),
        )
        .await;
    let native = fe
        .course(&formateur, "Pending native course", Standing::Pending, None)
        .await;

    // The id the queue (#14) gave, then a Firestore id.
    let a = fe
        .post(
            &admin,
            "/api/admin/course-approval",
            json!({"courseId": native, "action": "approve"}),
        )
        .await;
    a.expect_ok(S15);
    let a = fe
        .post(
            &admin,
            "/api/admin/course-approval",
            json!({"courseId": COURSE_FIRESTORE_ID, "action": "approve"}),
        )
        .await;
    a.expect_ok(S15);
    for id in [native, imported] {
        assert_eq!(course_status(&fe, id).await.0, "published", "{S15}");
    }
    // The page refreshes the queue (fetchPendingCourses).
    assert_eq!(
        approval_queue(&fe, &admin, S15).await["courses"],
        json!([]),
        "{S15}"
    );
}

const S16: &str = "#16 src/app/admin/course-approvals/page.tsx:119 POST /api/admin/course-approval {courseId, action:'reject', reason}";

#[tokio::test]
async fn call_16_rejecting_a_course_with_or_without_a_reason() {
    let fe = Frontend::spawn().await;
    let admin = fe.linked("admin").await;
    let formateur = fe.linked("formateur").await;
    let imported = fe
        .course(
            &formateur,
            "Pending imported course",
            Standing::Pending,
            Some(COURSE_FIRESTORE_ID),
        )
        .await;
    let native = fe
        .course(&formateur, "Pending native course", Standing::Pending, None)
        .await;

    // The dialog's textarea may be left empty: `reason: ''`.
    let a = fe
        .post(
            &admin,
            "/api/admin/course-approval",
            json!({"courseId": native, "action": "reject", "reason": ""}),
        )
        .await;
    a.expect_ok(S16);
    let a = fe
        .post(
            &admin,
            "/api/admin/course-approval",
            json!({"courseId": COURSE_FIRESTORE_ID, "action": "reject", "reason": "Add exercises"}),
        )
        .await;
    a.expect_ok(S16);
    assert_eq!(
        course_status(&fe, native).await,
        ("rejected".to_owned(), None),
        "{S16}"
    );
    assert_eq!(
        course_status(&fe, imported).await,
        ("rejected".to_owned(), Some("Add exercises".to_owned())),
        "{S16}"
    );
    // The formateur's bell (#3) tells them, without a dangling reason.
    let list = bell(&fe, &formateur).await;
    let messages: Vec<&str> = expect_items(S16, &list, "notifications", NOTIFICATION_FIELDS)
        .iter()
        .map(|n| text(n, "message"))
        .collect();
    assert!(
        messages.contains(&"Your course \"Pending native course\" was rejected."),
        "{S16}: {messages:?}"
    );
    assert!(
        messages.contains(&"Your course \"Pending imported course\" was rejected: Add exercises"),
        "{S16}: {messages:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// #17–#20: a student takes a quiz (src/app/quiz/[id]/page.tsx).

/// A published course (imported) with a quiz (imported) and an enrolled student.
struct QuizWorld {
    fe: Frontend,
    formateur: FbUser,
    student: FbUser,
    course: Uuid,
    quiz: Uuid,
}

async fn quiz_world() -> QuizWorld {
    let fe = Frontend::spawn().await;
    let formateur = fe.linked("formateur").await;
    let student = fe.linked("student").await;
    let course = fe
        .course(
            &formateur,
            "Course with a final quiz",
            Standing::Open,
            Some(COURSE_FIRESTORE_ID),
        )
        .await;
    let quiz = fe
        .quiz(
            &formateur,
            course,
            "Final quiz of the course",
            Some(QUIZ_FIRESTORE_ID),
        )
        .await;
    fe.app.enroll(&student.account, &course.to_string()).await;
    QuizWorld {
        fe,
        formateur,
        student,
        course,
        quiz,
    }
}

const S17: &str = "#17 src/app/quiz/[id]/page.tsx:68 GET /api/formateur/quizzes/{quizId}";

const QUIZ_FIELDS: &[(&str, &str)] = &[
    ("id", "string"),
    ("title", "string"),
    ("description", "string"),
    ("maxAttempts", "number"),
    ("courseId", "string"),
    ("timeLimit", "number?"),
    ("passingScore", "number"),
    ("questions", "array"),
];

#[tokio::test]
async fn call_17_a_student_opens_a_quiz_by_either_id() {
    let w = quiz_world().await;
    for id in [QUIZ_FIRESTORE_ID.to_owned(), w.quiz.to_string()] {
        let site = format!("{S17} with {id}");
        let a =
            w.fe.get(&w.student, &format!("/api/formateur/quizzes/{id}"))
                .await;
        let quiz = a.expect_ok(&site);
        a.expect_private(&site);
        expect_fields(&site, quiz, QUIZ_FIELDS);
        assert_eq!(quiz["timeLimit"], 15, "{site}: the timer (l.134)");
        assert_eq!(quiz["courseId"], w.course.to_string(), "{site}");
        let questions = expect_items(
            &site,
            quiz,
            "questions",
            &[
                ("id", "string"),
                ("question", "string"),
                ("options", "string[]"),
                ("points", "number"),
                ("difficulty", "string"),
            ],
        );
        assert_eq!(questions.len(), 2, "{site}");
        assert_eq!(
            questions[0]["difficulty"], "hard",
            "{site}: the badge (l.415)"
        );
        assert!(
            questions
                .iter()
                .all(|q| q.get("correctAnswer").is_none() && q.get("explanation").is_none()),
            "{site}: never the answers to a student: {quiz}"
        );
    }
    // Not enrolled: "Quiz not found" and back to the dashboard.
    let stranger = w.fe.linked("student").await;
    let a =
        w.fe.get(
            &stranger,
            &format!("/api/formateur/quizzes/{QUIZ_FIRESTORE_ID}"),
        )
        .await;
    assert!(!a.ok(), "{S17}: {}", a.body);
}

const S18: &str =
    "#18 src/app/quiz/[id]/page.tsx:79 GET /api/formateur/quizzes/{id}/attempts?userId={user.uid}";

#[tokio::test]
async fn call_18_previous_attempts_are_the_callers_own() {
    let w = quiz_world().await;
    let path = |who: &FbUser| {
        format!(
            "/api/formateur/quizzes/{QUIZ_FIRESTORE_ID}/attempts?userId={}",
            who.uid
        )
    };
    let a = w.fe.get(&w.student, &path(&w.student)).await;
    let body = a.expect_ok(S18);
    a.expect_private(S18);
    assert_eq!(body["attempts"], json!([]), "{S18}");

    w.fe.graded_attempt(&w.student, w.quiz).await;
    let classmate = w.fe.linked("student").await;
    w.fe.app
        .enroll(&classmate.account, &w.course.to_string())
        .await;
    w.fe.graded_attempt(&classmate, w.quiz).await;

    let a = w.fe.get(&w.student, &path(&w.student)).await;
    let body = a.expect_ok(S18);
    // l.96: `attempts.length >= quizData.maxAttempts`.
    let attempts = expect_items(S18, body, "attempts", &[("id", "string")]);
    assert_eq!(attempts.len(), 1, "{S18}: the caller's own: {body}");
    assert_eq!(attempts[0]["userId"], w.student.id().to_string(), "{S18}");

    // The owner opening "View" (formateur/quizzes/page.tsx:249) sends their own uid.
    let a = w.fe.get(&w.formateur, &path(&w.formateur)).await;
    let body = a.expect_ok(S18);
    assert_eq!(
        body["attempts"],
        json!([]),
        "{S18}: the owner has taken none"
    );
    let a = w.fe.get(&w.formateur, &path(&classmate)).await;
    assert_eq!(
        a.expect_ok(S18)["attempts"].as_array().map(Vec::len),
        Some(1),
        "{S18}"
    );
}

const S19: &str = "#19 src/app/quiz/[id]/page.tsx:108 POST /api/formateur/quizzes/{id}/attempts {userId, courseId}";

#[tokio::test]
async fn call_19_starting_an_attempt_by_either_quiz_id() {
    let w = quiz_world().await;
    let quiz =
        w.fe.get(
            &w.student,
            &format!("/api/formateur/quizzes/{QUIZ_FIRESTORE_ID}"),
        )
        .await;
    let course_id = quiz.expect_ok(S19)["courseId"].clone();
    for id in [QUIZ_FIRESTORE_ID.to_owned(), w.quiz.to_string()] {
        let site = format!("{S19} with {id}");
        let a =
            w.fe.post(
                &w.student,
                &format!("/api/formateur/quizzes/{id}/attempts"),
                json!({"userId": w.student.uid, "courseId": course_id}),
            )
            .await;
        let body = a.expect_ok(&site);
        a.expect_private(&site);
        expect_fields(&site, body, &[("attemptId", "string")]);
    }
}

const S20: &str = "#20 src/app/quiz/[id]/page.tsx:222 POST /api/formateur/quizzes/{quiz.id}/attempts/{attemptId}/submit";

#[tokio::test]
async fn call_20_submitting_answers_grades_the_attempt() {
    let w = quiz_world().await;
    let quiz =
        w.fe.get(
            &w.student,
            &format!("/api/formateur/quizzes/{QUIZ_FIRESTORE_ID}"),
        )
        .await
        .expect_ok(S20)
        .clone();
    let questions = quiz["questions"].as_array().expect("questions").clone();
    // Right answers, as the page builds them (handleAnswerSelect); then wrong ones.
    for (choices, passed, percentage) in [([0, 1], true, 100.0), ([2, 0], false, 0.0)] {
        let started =
            w.fe.post(
                &w.student,
                &format!("/api/formateur/quizzes/{QUIZ_FIRESTORE_ID}/attempts"),
                json!({"userId": w.student.uid, "courseId": quiz["courseId"]}),
            )
            .await;
        let attempt_id = text(started.expect_ok(S20), "attemptId").to_owned();
        let answers: Vec<Value> = questions
            .iter()
            .zip(choices)
            .map(|(q, c)| json!({"questionId": q["id"], "selectedAnswer": c, "timeSpent": 12}))
            .collect();
        let a =
            w.fe.post(
                &w.student,
                &format!(
                    "/api/formateur/quizzes/{}/attempts/{attempt_id}/submit",
                    text(&quiz, "id")
                ),
                json!({"answers": answers, "totalTimeSpent": 24}),
            )
            .await;
        let result = a.expect_ok(S20);
        a.expect_private(S20);
        expect_fields(
            S20,
            result,
            &[
                ("passed", "boolean"),
                ("percentage", "number"),
                ("timeSpent", "number"),
            ],
        );
        assert_eq!(result["passed"], passed, "{S20}: {result}");
        assert_eq!(
            result["percentage"].as_f64(),
            Some(percentage),
            "{S20}: `.toFixed(1)`"
        );
        assert!(
            result["timeSpent"]
                .as_i64()
                .is_some_and(|t| (0..24).contains(&t)),
            "{S20}: formatTime(result.timeSpent) is the server's time, not the client's 24 s: {result}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// #21–#29: the formateur's pages.

/// A formateur with a published course (one student), a draft, one under review, and quizzes.
struct FormateurWorld {
    fe: Frontend,
    formateur: FbUser,
    published: Uuid,
    other_course: Uuid,
    quiz: Uuid,
    other_quiz: Uuid,
}

async fn formateur_world() -> FormateurWorld {
    let fe = Frontend::spawn().await;
    let formateur = fe.linked("formateur").await;
    let student = fe.linked("student").await;
    let published = fe
        .course(
            &formateur,
            "Published imported course",
            Standing::Open,
            Some(COURSE_FIRESTORE_ID),
        )
        .await;
    let other_course = fe
        .course(
            &formateur,
            "Second published course",
            Standing::Open,
            Some(OTHER_COURSE_FIRESTORE_ID),
        )
        .await;
    fe.course(&formateur, "A draft course here", Standing::Draft, None)
        .await;
    fe.course(&formateur, "A course under review", Standing::Pending, None)
        .await;
    let quiz = fe
        .quiz(
            &formateur,
            published,
            "Quiz of the first course",
            Some(QUIZ_FIRESTORE_ID),
        )
        .await;
    let other_quiz = fe
        .quiz(&formateur, other_course, "Quiz of the second course", None)
        .await;
    fe.app
        .enroll(&student.account, &published.to_string())
        .await;
    fe.graded_attempt(&student, quiz).await;
    // Another formateur's course and quiz, which none of these pages may show.
    let rival = fe.linked("formateur").await;
    let theirs = fe
        .course(&rival, "Another formateur's course", Standing::Open, None)
        .await;
    fe.quiz(&rival, theirs, "Another formateur's quiz", None)
        .await;
    FormateurWorld {
        fe,
        formateur,
        published,
        other_course,
        quiz,
        other_quiz,
    }
}

const S21: &str =
    "#21 src/app/formateur/page.tsx:116 GET /api/dashboard/formateur (cache:'force-cache')";

#[tokio::test]
async fn call_21_the_formateur_dashboard_is_private_and_complete() {
    let w = formateur_world().await;
    let a = w.fe.get(&w.formateur, "/api/dashboard/formateur").await;
    let data = a.expect_ok(S21);
    // The page asks for `force-cache`: only `no-store` keeps another caller's copy out.
    a.expect_private(S21);
    let courses = expect_items(
        S21,
        data,
        "courses",
        &[
            ("id", "string"),
            ("title", "string"),
            ("description", "string"),
            ("imageUrl", "string"),
            ("aiHint", "string"),
            ("instructorId", "string"),
            ("status", "string"),
            ("studentCount", "number"),
            ("modules", "array"),
        ],
    );
    assert_eq!(courses.len(), 4, "{S21}: own courses only: {data}");
    let count = |s: &str| courses.iter().filter(|c| c["status"] == s).count();
    assert_eq!(count("Published"), 2, "{S21}: l.141");
    assert_eq!(count("Draft"), 1, "{S21}: l.142");
    let first = courses
        .iter()
        .find(|c| c["id"] == w.published.to_string())
        .expect("the published course");
    assert_eq!(first["studentCount"], 1, "{S21}: l.139");
    assert_eq!(
        first["modules"].as_array().map(Vec::len),
        Some(2),
        "{S21}: l.143"
    );
}

const S22: &str = "#22 src/app/formateur/quizzes/new/page.tsx:115 GET /api/formateur/courses";
const S27: &str = "#27 src/app/formateur/quizzes/page.tsx:42 GET /api/formateur/courses";

#[tokio::test]
async fn call_22_27_the_formateurs_courses() {
    let w = formateur_world().await;
    // More courses than a default page: the quiz list must still find every quiz's course.
    w.fe.sql(
        "insert into course (instructor_id, title, description, category, level, status, created_at)
         select $1, 'Later course number ' || g, 'A course made after the first ones.', 'design', 'beginner',
                'published', now() + g * interval '1 second'
         from generate_series(1, 25) g",
        &[&w.formateur.id()],
    )
    .await;
    let a = w.fe.get(&w.formateur, "/api/formateur/courses").await;
    let data = a.expect_ok(S22).clone();
    a.expect_private(S22);
    let courses = expect_items(
        S22,
        &data,
        "courses",
        &[("id", "string"), ("title", "string"), ("status", "string")],
    );
    // #22, l.118: `c.status === 'Published'` feeds the course <Select>.
    let published: Vec<&str> = courses
        .iter()
        .filter(|c| c["status"] == "Published")
        .map(|c| text(c, "id"))
        .collect();
    assert_eq!(published.len(), 27, "{S22}: {data}");
    assert!(
        published.contains(&w.published.to_string().as_str()),
        "{S22}"
    );
    assert_eq!(courses.len(), 29, "{S22}: own courses only, unpaged");

    // #27: `getCourseTitle(quiz.courseId)` finds each quiz's course, never "Unknown Course".
    let quizzes = w.fe.get(&w.formateur, "/api/formateur/quizzes").await;
    let quizzes = quizzes.expect_ok(S27);
    for quiz in quizzes["quizzes"].as_array().expect("quizzes") {
        assert!(
            courses.iter().any(|c| c["id"] == quiz["courseId"]),
            "{S27}: no course for {quiz}"
        );
    }
    assert_eq!(
        quizzes["quizzes"].as_array().map(Vec::len),
        Some(2),
        "{S27}"
    );
}

const S23: &str =
    "#23 src/app/formateur/quizzes/[id]/edit/page.tsx:29 GET /api/formateur/quizzes/{id}";
const S24: &str =
    "#24 src/app/formateur/quizzes/[id]/stats/page.tsx:32 GET /api/formateur/quizzes/{id}";

#[tokio::test]
async fn call_23_24_the_owner_opens_a_quiz_by_either_id() {
    let w = formateur_world().await;
    for id in [QUIZ_FIRESTORE_ID.to_owned(), w.quiz.to_string()] {
        let a =
            w.fe.get(&w.formateur, &format!("/api/formateur/quizzes/{id}"))
                .await;
        let quiz = a.expect_ok(S23);
        a.expect_private(S23);
        expect_fields(&format!("{S23} with {id}"), quiz, &[("title", "string")]);
        expect_fields(
            &format!("{S24} with {id}"),
            quiz,
            &[
                ("title", "string"),
                ("isActive", "boolean"),
                ("questions", "array"),
                ("passingScore", "number"),
                ("maxAttempts", "number"),
                ("description", "string"),
            ],
        );
        assert_eq!(quiz["questions"].as_array().map(Vec::len), Some(2), "{S24}");
    }
}

const S25: &str =
    "#25 src/app/formateur/quizzes/[id]/stats/page.tsx:33 GET /api/formateur/quizzes/{id}/stats";

#[tokio::test]
async fn call_25_quiz_statistics_by_either_id() {
    let w = formateur_world().await;
    for id in [QUIZ_FIRESTORE_ID.to_owned(), w.quiz.to_string()] {
        let site = format!("{S25} with {id}");
        let a =
            w.fe.get(&w.formateur, &format!("/api/formateur/quizzes/{id}/stats"))
                .await;
        let stats = a.expect_ok(&site);
        a.expect_private(&site);
        expect_fields(
            &site,
            stats,
            &[
                ("totalAttempts", "number"),
                ("averageScore", "number"),
                ("passRate", "number"),
                ("averageTimeSpent", "number"),
            ],
        );
        assert_eq!(stats["totalAttempts"], 1, "{site}");
        assert_eq!(stats["averageScore"].as_f64(), Some(100.0), "{site}");
        assert_eq!(stats["passRate"].as_f64(), Some(100.0), "{site}");
    }
}

const S26: &str = "#26 src/app/formateur/quizzes/page.tsx:35 GET /api/formateur/quizzes";

#[tokio::test]
async fn call_26_the_quiz_list_carries_questions() {
    let w = formateur_world().await;
    let a = w.fe.get(&w.formateur, "/api/formateur/quizzes").await;
    let data = a.expect_ok(S26);
    a.expect_private(S26);
    let quizzes = expect_items(
        S26,
        data,
        "quizzes",
        &[
            ("id", "string"),
            ("courseId", "string"),
            ("title", "string"),
            ("description", "string"),
            ("isActive", "boolean"),
            ("timeLimit", "number?"),
            ("passingScore", "number"),
            // l.244: `{quiz.questions.length} questions`.
            ("questions", "array"),
            ("createdAt", "date"),
        ],
    );
    let mut ids: Vec<&str> = quizzes.iter().map(|q| text(q, "id")).collect();
    ids.sort_unstable();
    let mut own = vec![w.quiz.to_string(), w.other_quiz.to_string()];
    own.sort_unstable();
    assert_eq!(ids, own, "{S26}: own quizzes only");
    assert!(
        quizzes
            .iter()
            .all(|q| q["questions"].as_array().map(Vec::len) == Some(2)),
        "{S26}"
    );
}

const S28: &str = "#28 src/app/formateur/quizzes/page.tsx:53 POST /api/formateur/quizzes/stats-batch {quizIds} (cache:'force-cache')";

#[tokio::test]
async fn call_28_batch_statistics_are_private() {
    let w = formateur_world().await;
    // The ids the quiz list (#26) gave, then with a Firestore id among them.
    let listed = w.fe.get(&w.formateur, "/api/formateur/quizzes").await;
    let ids: Vec<Value> = listed.expect_ok(S28)["quizzes"]
        .as_array()
        .expect("quizzes")
        .iter()
        .map(|q| q["id"].clone())
        .collect();
    for quiz_ids in [json!(ids), json!([QUIZ_FIRESTORE_ID, w.other_quiz])] {
        let a =
            w.fe.post(
                &w.formateur,
                "/api/formateur/quizzes/stats-batch",
                json!({"quizIds": quiz_ids}),
            )
            .await;
        let data = a.expect_ok(S28);
        // `force-cache` again: the figures are the owner's.
        a.expect_private(S28);
        let stats = expect_items(
            S28,
            data,
            "quizStats",
            &[
                ("quizId", "string"),
                ("totalAttempts", "number"),
                ("averageScore", "number"),
            ],
        );
        assert_eq!(stats.len(), 2, "{S28}: {data}");
        // The page keys the figures by `stat.quizId` and looks them up by `quiz.id`.
        for id in [w.quiz, w.other_quiz] {
            assert!(
                stats.iter().any(|s| s["quizId"] == id.to_string()),
                "{S28}: {id} in {data}"
            );
        }
    }
}

const S29: &str = "#29 src/app/formateur/courses/[id]/edit/page.tsx:149 GET /api/formateur/quizzes?courseId={courseId}";

#[tokio::test]
async fn call_29_the_quizzes_of_one_course_by_either_course_id() {
    let w = formateur_world().await;
    // The edit page loads its course from Firestore: the id in its URL is the Firestore one.
    for course_id in [
        OTHER_COURSE_FIRESTORE_ID.to_owned(),
        w.other_course.to_string(),
    ] {
        let site = format!("{S29} with {course_id}");
        let a =
            w.fe.get(
                &w.formateur,
                &format!("/api/formateur/quizzes?courseId={course_id}"),
            )
            .await;
        // No status check: `data.quizzes || []`.
        let data = a.expect_ok(&site);
        a.expect_private(&site);
        let quizzes = expect_items(
            &site,
            data,
            "quizzes",
            &[
                ("id", "string"),
                ("title", "string"),
                ("description", "string"),
                ("timeLimit", "number?"),
                ("passingScore", "number"),
                ("maxAttempts", "number"),
                ("isActive", "boolean"),
            ],
        );
        assert_eq!(quizzes.len(), 1, "{site}: that course's only: {data}");
        assert_eq!(quizzes[0]["id"], w.other_quiz.to_string(), "{site}");
    }
}

// ---------------------------------------------------------------------------------------------
// #33: the demo login page.

const S33: &str = "#33 src/app/demo-login/page.tsx:19 POST /api/auth/demo {role}";

/// The payload of a JWT, decoded as the frontend's middleware does (src/middleware.ts:7-17).
fn jwt_payload(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("a JSON payload")
}

#[tokio::test]
async fn call_33_demo_login_only_when_enabled_and_the_cookie_carries_the_role() {
    let fe = Frontend::spawn().await;
    let a = fe
        .fetch(
            None,
            Method::POST,
            "/api/auth/demo",
            Body::Json(json!({"role": "student"})),
        )
        .await;
    a.expect_error(S33, StatusCode::NOT_FOUND);
    assert!(
        a.set_cookie("AuthToken").is_none(),
        "{S33}: disabled signs nobody in"
    );

    let fe = Frontend::spawn_with(|c| c.auth.demo_login_enabled = true).await;
    for role in ["admin", "formateur", "student"] {
        let site = format!("{S33} as {role}");
        let a = fe
            .fetch(
                None,
                Method::POST,
                "/api/auth/demo",
                Body::Json(json!({"role": role})),
            )
            .await;
        let data = a.expect_ok(&site);
        expect_fields(&site, data, &[("user", "object")]);
        expect_fields(&site, &data["user"], &[("displayName", "string")]);
        let cookie = a
            .set_cookie("AuthToken")
            .unwrap_or_else(|| panic!("{site}: the page relies on the AuthToken cookie"));
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Path=/"),
            "{site}: {cookie}"
        );
        let token = cookie
            .trim_start_matches("AuthToken=")
            .split(';')
            .next()
            .expect("value");
        assert_eq!(
            jwt_payload(token)["role"],
            role,
            "{site}: the middleware routes by it"
        );
        // The cookie is a session the API accepts.
        let me = fe
            .fetch(Some(token), Method::GET, "/api/auth/me", Body::None)
            .await;
        assert_eq!(me.expect_ok(&site)["user"]["role"], role, "{site}");
    }
}

// ---------------------------------------------------------------------------------------------
// #34: the student dashboard.

const S34: &str = "#34 src/app/student/dashboard/page.tsx:145 GET /api/dashboard/student";

#[tokio::test]
async fn call_34_the_student_dashboard_lists_published_courses() {
    let fe = Frontend::spawn().await;
    let formateur = fe.linked("formateur").await;
    let student = fe.linked("student").await;
    fe.course(
        &formateur,
        "Published imported course",
        Standing::Open,
        Some(COURSE_FIRESTORE_ID),
    )
    .await;
    fe.course(&formateur, "Published gated course", Standing::Gated, None)
        .await;
    fe.course(&formateur, "A course under review", Standing::Pending, None)
        .await;
    let a = fe.get(&student, "/api/dashboard/student").await;
    let data = a.expect_ok(S34);
    a.expect_private(S34);
    let courses = expect_items(
        S34,
        data,
        "courses",
        &[
            ("id", "string"),
            ("title", "string"),
            ("description", "string"),
            ("imageUrl", "string"),
            ("aiHint", "string"),
        ],
    );
    assert_eq!(courses.len(), 2, "{S34}: published only: {data}");
}

// ---------------------------------------------------------------------------------------------
// #36: image uploads without Cloudinary.

const S36: &str =
    "#36 src/lib/services/cloudinary.ts:124 POST /api/upload-image (multipart file, folder)";

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(RgbImage::from_pixel(w, h, Rgb([30, 120, 200])));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, ImageFormat::Png).expect("encode");
    out.into_inner()
}

#[tokio::test]
async fn call_36_an_upload_answers_cloudinarys_fields_and_its_url_serves_the_image() {
    let fe = Frontend::spawn().await;
    let student = fe.linked("student").await;
    let formateur = fe.linked("formateur").await;
    for (who, folder) in [(&student, "user-avatars"), (&formateur, "course-images")] {
        let site = format!("{S36} into {folder}");
        // `formData.append('file', file); formData.append('folder', folder)`.
        let form = Form::new()
            .part(
                "file",
                Part::bytes(png(64, 48))
                    .file_name("avatar.png")
                    .mime_str("image/png")
                    .expect("mime"),
            )
            .text("folder", folder);
        let a = fe
            .fetch(
                Some(&who.token),
                Method::POST,
                "/api/upload-image",
                Body::Form(form),
            )
            .await;
        let result = a.expect_ok(&site);
        expect_fields(
            &site,
            result,
            &[
                ("url", "string"),
                ("public_id", "string"),
                ("width", "number"),
                ("height", "number"),
            ],
        );
        assert_eq!(
            (result["width"].as_u64(), result["height"].as_u64()),
            (Some(64), Some(48)),
            "{site}"
        );
        // The URL goes into an <img>: same origin, no credentials needed.
        let url = text(result, "url");
        assert!(url.starts_with('/'), "{site}: {url}");
        let res = fe
            .app
            .client
            .get(format!("{}{url}", fe.app.addr))
            .header(
                header::ACCEPT,
                "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
            )
            .send()
            .await
            .expect("image");
        assert_eq!(res.status(), StatusCode::OK, "{site}: {url}");
        let content_type = res
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert!(content_type.starts_with("image/"), "{site}: {content_type}");
        let bytes = res.bytes().await.expect("bytes");
        let img = image::load_from_memory(&bytes).expect("a decodable image");
        assert_eq!((img.width(), img.height()), (64, 48), "{site}");
    }
}
