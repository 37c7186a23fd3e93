//! Courses: catalogue, visibility, ownership, validation, the original's compat paths.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, course_body};

#[tokio::test]
async fn the_catalogue_lists_only_published_courses_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let published = app
        .published_course(&f, "Published Rust course", false)
        .await;
    app.course(&f, "Pending Rust course").await;
    let (status, body) = app.get("/api/courses", None).await;
    assert_eq!(status, StatusCode::OK);
    let courses = body["courses"].as_array().expect("courses");
    assert_eq!(courses.len(), 1);
    assert_eq!(courses[0]["id"], published["id"]);
    assert_eq!(courses[0]["moduleCount"], 2);
    assert_eq!(courses[0]["lessonCount"], 3);
    assert!(body["nextCursor"].is_null());
    assert_eq!(
        app.get("/api/courses?category=music", None).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        app.get("/api/courses?q=rust", None).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        app.get("/api/courses?q=%25", None).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(0),
        "% is literal"
    );
    for bad in [
        "category=cooking",
        "level=expert",
        "limit=0",
        "limit=101",
        "cursor=%27%3B%20drop%20table%20course%3B--",
    ] {
        let (status, body) = app.get(&format!("/api/courses?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, _) = app
        .get("/api/courses?q=%27%3B%20drop%20table%20course%3B--", None)
        .await;
    assert_eq!(status, StatusCode::OK, "SQL metacharacters are just text");
}

#[tokio::test]
async fn unpublished_courses_are_visible_to_owner_and_admin_only() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let other = app.user("formateur").await;
    let student = app.user("student").await;
    let admin = app.user("admin").await;
    let course = app.course(&owner, "A pending course").await;
    let path = format!("/api/courses/{}", course["id"].as_str().expect("id"));
    assert_eq!(app.get(&path, owner.t()).await.0, StatusCode::OK);
    assert_eq!(app.get(&path, admin.t()).await.0, StatusCode::OK);
    assert_eq!(app.get(&path, other.t()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, student.t()).await.0, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&path, None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/api/courses/not-a-uuid", None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn lesson_content_is_only_for_enrolled_students_owner_and_admin() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let enrolled = app.user("student").await;
    let outsider = app.user("student").await;
    let course = app
        .published_course(&owner, "Open course with content", false)
        .await;
    let id = course["id"].as_str().expect("id").to_owned();
    app.enroll(&enrolled, &id).await;
    let path = format!("/api/courses/{id}");
    let lesson = |b: &serde_json::Value| b["modules"][0]["lessons"][0].clone();
    assert_eq!(
        lesson(&app.get(&path, enrolled.t()).await.1)["content"],
        "Hello and welcome"
    );
    assert_eq!(
        lesson(&app.get(&path, owner.t()).await.1)["content"],
        "Hello and welcome"
    );
    let anon = app.get(&path, None).await.1;
    assert!(lesson(&anon).get("content").is_none(), "{anon}");
    assert_eq!(lesson(&anon)["title"], "Welcome", "titles stay public");
    assert!(
        lesson(&app.get(&path, outsider.t()).await.1)
            .get("content")
            .is_none()
    );
    assert!(
        app.get(&path, outsider.t()).await.1["modules"][0]["lessons"][1]
            .get("url")
            .is_none()
    );
}

#[tokio::test]
async fn only_formateurs_and_admins_create_courses_with_validation() {
    let app = TestApp::spawn().await;
    let student = app.user("student").await;
    let f = app.user("formateur").await;
    assert_eq!(
        app.post("/api/courses", student.t(), course_body("Student course"))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/api/courses", None, course_body("Anonymous course"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app
        .post("/api/courses", f.t(), course_body("Good course title"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["course"]["status"], "pending_approval");
    assert_eq!(body["courseId"], body["id"]);
    let (status, body) = app
        .post("/api/courses", f.t(), course_body("good COURSE title"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let mut bad = course_body("Bad");
    bad["description"] = json!("short");
    bad["category"] = json!("cooking");
    bad["level"] = json!("expert");
    bad["modules"][0]["lessons"][0]["contentType"] = json!("hologram");
    bad["modules"][1]["title"] = json!("x");
    bad["imageUrl"] = json!("javascript:alert(1)");
    let (status, body) = app.post("/api/courses", f.t(), bad).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in [
        "title",
        "description",
        "category",
        "level",
        "imageUrl",
        "modules[0].lessons[0].contentType",
        "modules[1].title",
    ] {
        assert!(body["details"][field].is_string(), "{field}: {body}");
    }
    let mut none = course_body("No modules course");
    none["modules"] = json!([]);
    assert_eq!(
        app.post("/api/courses", f.t(), none).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut long = course_body("Long title course");
    long["title"] = json!("x".repeat(201));
    assert_eq!(
        app.post("/api/courses", f.t(), long).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let mut wrong = course_body("Wrong types course");
    wrong["modules"] = json!("not a list");
    let (status, body) = app.post("/api/courses", f.t(), wrong).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["details"]["modules"].is_string(), "{body}");
    let count: i64 = app
        .sql()
        .await
        .query_one("select count(*) from course", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(count, 1, "no partial writes");
}

#[tokio::test]
async fn only_the_owner_or_an_admin_edits_and_deletes_and_progress_survives_edits() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let other = app.user("formateur").await;
    let student = app.user("student").await;
    let admin = app.user("admin").await;
    let course = app.published_course(&owner, "Editable course", false).await;
    let id = course["id"].as_str().expect("id").to_owned();
    let path = format!("/api/courses/{id}");
    app.enroll(&student, &id).await;
    let first_lesson = course["modules"][0]["lessons"][0]["id"]
        .as_str()
        .expect("lesson")
        .to_owned();
    assert_eq!(
        app.post(
            "/api/progress",
            student.t(),
            json!({"courseId": id, "lessonId": first_lesson})
        )
        .await
        .0,
        StatusCode::OK
    );

    let mut edit = course_body("Editable course v2");
    edit["modules"][0]["id"] = course["modules"][0]["id"].clone();
    edit["modules"][0]["lessons"][0]["id"] = json!(first_lesson);
    assert_eq!(
        app.put(&path, other.t(), edit.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.put(&path, student.t(), edit.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = app.put(&path, owner.t(), edit).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["course"]["title"], "Editable course v2");
    assert_eq!(
        body["course"]["modules"][0]["lessons"][0]["id"],
        json!(first_lesson),
        "kept lesson keeps its id"
    );
    let (_, progress) = app
        .get(&format!("/api/progress?courseId={id}"), student.t())
        .await;
    assert_eq!(
        progress["progress"][0]["completedLessons"],
        json!([first_lesson]),
        "progress survived: {progress}"
    );

    let mut foreign = course_body("Editable course v3");
    foreign["modules"][0]["id"] = json!(uuid::Uuid::new_v4());
    let (status, body) = app.put(&path, admin.t(), foreign).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    assert_eq!(app.delete(&path, other.t()).await.0, StatusCode::FORBIDDEN);
    assert_eq!(app.delete(&path, owner.t()).await.0, StatusCode::OK);
    assert_eq!(app.get(&path, owner.t()).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn approval_is_admin_only_and_notifies_the_owner() {
    let app = TestApp::spawn().await;
    let owner = app.user("formateur").await;
    let admin = app.user("admin").await;
    let course = app.course(&owner, "Course to review").await;
    let body = json!({"courseId": course["id"], "action": "reject", "reason": "Needs more detail"});
    assert_eq!(
        app.post("/api/admin/course-approval", owner.t(), body.clone())
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let (status, res) = app
        .post("/api/admin/course-approval", admin.t(), body.clone())
        .await;
    assert_eq!(status, StatusCode::OK, "{res}");
    assert_eq!(res["status"], "rejected");
    assert_eq!(res["message"], "Course rejected successfully");
    assert_eq!(
        app.post("/api/admin/course-approval", admin.t(), body)
            .await
            .0,
        StatusCode::CONFLICT,
        "only pending courses"
    );
    let (_, notes) = app.get("/api/notifications", owner.t()).await;
    assert!(
        notes["notifications"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("Needs more detail"),
        "{notes}"
    );
    let bad = json!({"courseId": course["id"], "action": "maybe"});
    assert_eq!(
        app.post("/api/admin/course-approval", admin.t(), bad)
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn dashboard_courses_are_shaped_by_role() {
    let app = TestApp::spawn().await;
    let f1 = app.user("formateur").await;
    let f2 = app.user("formateur").await;
    let student = app.user("student").await;
    let admin = app.user("admin").await;
    let open = app
        .published_course(&f1, "Open dashboard course", false)
        .await;
    let gated = app
        .published_course(&f2, "Gated dashboard course", true)
        .await;
    app.course(&f2, "Pending dashboard course").await;
    app.enroll(&student, open["id"].as_str().expect("id")).await;
    let (status, _) = app
        .post(
            "/api/enrollment",
            student.t(),
            json!({"courseId": gated["id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, body) = app.get("/api/dashboard/courses", student.t()).await;
    let courses = body["courses"].as_array().expect("courses");
    assert_eq!(courses.len(), 2, "published only: {body}");
    let by_id = |id: &serde_json::Value| {
        courses
            .iter()
            .find(|c| c["id"] == *id)
            .cloned()
            .expect("course")
    };
    assert_eq!(by_id(&open["id"])["isEnrolled"], true);
    assert_eq!(by_id(&open["id"])["enrollmentStatus"], "active");
    assert_eq!(by_id(&open["id"])["enrollmentProgress"], 0);
    assert_eq!(by_id(&gated["id"])["isEnrolled"], false);
    assert_eq!(by_id(&gated["id"])["enrollmentStatus"], "pending");

    assert_eq!(
        app.get("/api/dashboard/courses", f2.t()).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "own courses"
    );
    assert_eq!(
        app.get("/api/dashboard/courses", admin.t()).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "all courses"
    );
    assert_eq!(
        app.get("/api/dashboard/courses", None).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn formateur_and_admin_course_lists_keep_the_original_shapes() {
    let app = TestApp::spawn().await;
    let f1 = app.user("formateur").await;
    let f2 = app.user("formateur").await;
    let admin = app.user("admin").await;
    let student = app.user("student").await;
    app.course(&f1, "First formateur course").await;
    app.course(&f2, "Second formateur course").await;
    assert_eq!(
        app.get("/api/formateur/courses", f1.t()).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        app.get("/api/formateur/courses", admin.t()).await.1["courses"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        app.get("/api/formateur/courses", student.t()).await.0,
        StatusCode::FORBIDDEN
    );
    let (status, body) = app
        .get("/api/admin/courses?status=pending_approval", admin.t())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
    assert_eq!(body["total"], 2);
    assert_eq!(
        app.get("/api/admin/courses", f1.t()).await.0,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_formateur_path_accepts_json_and_multipart() {
    let app = TestApp::spawn().await;
    let f = app.user("formateur").await;
    let student = app.user("student").await;
    let (status, body) = app
        .post(
            "/api/formateur/courses",
            f.t(),
            course_body("Course from JSON path"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["success"], true);
    assert!(body["courseId"].is_string());
    let modules = serde_json::to_string(&course_body("x")["modules"]).expect("json");
    let form = |title: &str| {
        reqwest::multipart::Form::new()
            .text("title", title.to_owned())
            .text(
                "description",
                "A multipart course description, long enough.",
            )
            .text("category", "design")
            .text("level", "advanced")
            .text("price", "19.99")
            .text("instructorId", student.id.to_string())
            .text("modules", modules.clone())
    };
    let res = app
        .client
        .post(format!("{}/api/formateur/courses", app.addr))
        .bearer_auth(&f.token)
        .multipart(form("Course from a form"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.expect("json");
    assert_eq!(
        body["course"]["instructorId"],
        json!(f.id),
        "the owner is the caller, whatever the form says"
    );
    assert_eq!(body["course"]["price"], 19.99);
    let res = app
        .client
        .post(format!("{}/api/formateur/courses", app.addr))
        .bearer_auth(&student.token)
        .multipart(form("Student form course"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}
