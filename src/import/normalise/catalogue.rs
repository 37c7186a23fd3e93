//! Users and courses (with their modules and lessons).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::{Times, course_status, first_duplicate, one_of, role};
use crate::{
    api::courses::model::{CATEGORIES, CONTENT_TYPES, LEVELS, VIDEO_SOURCES},
    import::{
        export::{Document, Malformed},
        fields::{Fields, Reason},
    },
    validate::is_email,
};

/// An account from `users/{uid}`.
#[derive(Debug, Clone)]
pub struct UserRecord {
    /// The Firebase uid (the document id).
    pub uid: String,
    /// E-mail address as written.
    pub email: String,
    /// First word of `displayName`.
    pub first_name: String,
    /// The rest of `displayName` (may be empty).
    pub last_name: String,
    /// `admin`, `formateur` or `student`.
    pub role: &'static str,
    /// `active` or `suspended`.
    pub status: &'static str,
    /// Firebase uid of the account that created this one.
    pub created_by: Option<String>,
    /// `lastLoginAt`.
    pub last_login_at: Option<DateTime<Utc>>,
    /// `createdAt`, `updatedAt`.
    pub times: Times,
}

/// A course from `courses/{id}`.
#[derive(Debug, Clone)]
pub struct CourseRecord {
    /// The document id.
    pub legacy_id: String,
    /// 5–200 characters.
    pub title: String,
    /// 20–5000 characters.
    pub description: String,
    /// Firebase uid of the owner.
    pub instructor: String,
    /// One of the fixed categories.
    pub category: &'static str,
    /// `beginner`, `intermediate` or `advanced`.
    pub level: &'static str,
    /// `draft`, `pending_approval`, `published` or `rejected`.
    pub status: &'static str,
    /// Whether students must ask to join (the original's default: true).
    pub requires_approval: bool,
    /// Cover image URL.
    pub image_url: Option<String>,
    /// `aiHint`.
    pub ai_hint: Option<String>,
    /// `duration`, in minutes.
    pub duration_minutes: Option<i32>,
    /// `price` (a decimal amount), in cents.
    pub price_cents: Option<i32>,
    /// Firebase uid of the admin who approved or rejected it.
    pub approved_by: Option<String>,
    /// `approvedAt`.
    pub approved_at: Option<DateTime<Utc>>,
    /// `approvalReason`.
    pub approval_reason: Option<String>,
    /// `createdAt`, `updatedAt`.
    pub times: Times,
    /// Modules in order.
    pub modules: Vec<ModuleRecord>,
}

/// A module embedded in a course.
#[derive(Debug, Clone)]
pub struct ModuleRecord {
    /// Its `id`, unique within the course.
    pub legacy_id: String,
    /// 3–200 characters.
    pub title: String,
    /// Lessons in order.
    pub lessons: Vec<LessonRecord>,
}

/// A lesson embedded in a module.
#[derive(Debug, Clone)]
pub struct LessonRecord {
    /// Its `id`, unique within the course (progress documents list these).
    pub legacy_id: String,
    /// 3–200 characters.
    pub title: String,
    /// Up to 5000 characters.
    pub description: Option<String>,
    /// `contentType`; when missing, `video` for a lesson with a URL, else `text`.
    pub content_type: &'static str,
    /// `videoSource`.
    pub video_source: Option<&'static str>,
    /// Up to 100,000 characters.
    pub content: Option<String>,
    /// Up to 2048 characters.
    pub url: Option<String>,
    /// `duration`, in minutes.
    pub duration_minutes: Option<i32>,
}

/// Normalises a `users` document.
pub(super) fn user(doc: &Document, warnings: &mut Vec<String>) -> Result<UserRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let email = f.required_within("email", 3, 254)?;
    if !is_email(&email) {
        return Err(format!("'email' is not an e-mail address: '{email}'"));
    }
    let (first_name, last_name) = split_name(f.text("displayName")?.as_deref(), &email);
    for (part, value) in [("first name", &first_name), ("last name", &last_name)] {
        if value.chars().count() > 100 {
            return Err(format!(
                "'displayName' gives a {part} longer than 100 characters"
            ));
        }
    }
    let role = match f.text("role")? {
        None => {
            warnings.push("no role: imported as student".to_owned());
            "student"
        }
        Some(raw) => role(&raw).unwrap_or_else(|| {
            warnings.push(format!(
                "role '{raw}' is not admin, formateur or student: imported as student"
            ));
            "student"
        }),
    };
    let status = match f.text("status")? {
        None => "active",
        Some(raw) => one_of("status", &raw, &["active", "suspended"])?,
    };
    Ok(UserRecord {
        uid: doc.id.clone(),
        email,
        first_name,
        last_name,
        role,
        status,
        created_by: f.text("createdBy")?,
        last_login_at: f.timestamp("lastLoginAt")?,
        times: Times {
            created: f.timestamp("createdAt")?,
            updated: f.timestamp("updatedAt")?,
        },
    })
}

/// Splits a `displayName` into a first name (its first word) and a last name (the rest, maybe
/// empty); without a name, the first name is the e-mail's local part.
pub fn split_name(display_name: Option<&str>, email: &str) -> (String, String) {
    let mut words = display_name.unwrap_or_default().split_whitespace();
    match words.next() {
        Some(first) => (first.to_owned(), words.collect::<Vec<_>>().join(" ")),
        None => {
            let local = email.split('@').next().unwrap_or(email);
            (local.to_owned(), String::new())
        }
    }
}

/// The order in which to import `users` (indices into it): an account after the account that
/// created it when both are in the export, so that `created_by` is set on the first run, not
/// on a later one; otherwise the export's order.
pub fn creators_first(users: &[Result<Document, Malformed>]) -> Vec<usize> {
    let position: HashMap<&str, usize> = users
        .iter()
        .enumerate()
        .filter_map(|(i, e)| e.as_ref().ok().map(|d| (d.id.as_str(), i)))
        .collect();
    let creator = |i: usize| -> Option<usize> {
        let doc = users[i].as_ref().ok()?;
        let uid = doc.fields.get("createdBy")?.as_str()?;
        position.get(uid).copied()
    };
    let mut order = Vec::with_capacity(users.len());
    let mut placed = HashSet::new();
    for start in 0..users.len() {
        // Walk up the chain of creators, then place it top-down.
        let mut chain = Vec::new();
        let mut next = Some(start);
        while let Some(i) = next {
            if placed.contains(&i) || chain.contains(&i) {
                break;
            }
            chain.push(i);
            next = creator(i);
        }
        for i in chain.into_iter().rev() {
            placed.insert(i);
            order.push(i);
        }
    }
    order
}

/// Normalises a `courses` document.
pub(super) fn course(doc: &Document, warnings: &mut Vec<String>) -> Result<CourseRecord, Reason> {
    let f = Fields::new(&doc.fields);
    let title = f.required_within("title", 5, 200)?;
    let description = f.required_within("description", 20, 5000)?;
    let instructor = f.required_text("instructorId")?;
    let category = one_of("category", &f.required_text("category")?, CATEGORIES)?;
    let level = one_of("level", &f.required_text("level")?, LEVELS)?;
    let status = match f.text("status")? {
        None => {
            warnings.push("no status: imported as pending_approval".to_owned());
            "pending_approval"
        }
        Some(raw) => course_status(&raw).ok_or_else(|| {
            format!("'status' is '{raw}', not one of: Draft, Published, pending_approval, rejected")
        })?,
    };
    let image_url = match f.text_within("imageUrl", 1, 2048)? {
        Some(url) if url.starts_with("blob:") => {
            warnings.push(
                "imageUrl is a blob: URL that only the uploader's browser could load: left empty"
                    .to_owned(),
            );
            None
        }
        url => url,
    };
    let price_cents = match f.number("price")? {
        None => None,
        Some(price) if (0.0..=1_000_000.0).contains(&price) => Some((price * 100.0).round() as i32),
        Some(price) => {
            return Err(format!(
                "'price' must be between 0 and 1000000 (it is {price})"
            ));
        }
    };
    let modules = f
        .objects("modules")?
        .iter()
        .map(module)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(id) = first_duplicate(modules.iter().map(|m| m.legacy_id.as_str())) {
        return Err(format!("two modules have the id '{id}'"));
    }
    let lessons = modules.iter().flat_map(|m| &m.lessons);
    if let Some(id) = first_duplicate(lessons.map(|l| l.legacy_id.as_str())) {
        return Err(format!("two lessons of the course have the id '{id}'"));
    }
    Ok(CourseRecord {
        legacy_id: doc.id.clone(),
        title,
        description,
        instructor,
        category,
        level,
        status,
        requires_approval: f.boolean("requiresApproval")?.unwrap_or(true),
        image_url,
        ai_hint: f.text_within("aiHint", 1, 200)?,
        duration_minutes: f.int_within("duration", 0, 100_000)?,
        price_cents,
        approved_by: f.text("approvedBy")?,
        approved_at: f.timestamp("approvedAt")?,
        approval_reason: f.text("approvalReason")?,
        times: Times {
            created: f.timestamp("createdAt")?,
            updated: f.timestamp("updatedAt")?,
        },
        modules,
    })
}

fn module(m: &Fields<'_>) -> Result<ModuleRecord, Reason> {
    Ok(ModuleRecord {
        legacy_id: m.required_text("id")?,
        title: m.required_within("title", 3, 200)?,
        lessons: m
            .objects("lessons")?
            .iter()
            .map(lesson)
            .collect::<Result<_, _>>()?,
    })
}

fn lesson(l: &Fields<'_>) -> Result<LessonRecord, Reason> {
    let url = l.text_within("url", 1, 2048)?;
    let content_type = match l.text("contentType")? {
        Some(raw) => one_of(&l.name("contentType"), &raw, CONTENT_TYPES)?,
        None if url.is_some() => "video",
        None => "text",
    };
    let video_source = match l.text("videoSource")? {
        Some(raw) => Some(one_of(&l.name("videoSource"), &raw, VIDEO_SOURCES)?),
        None => None,
    };
    Ok(LessonRecord {
        legacy_id: l.required_text("id")?,
        title: l.required_within("title", 3, 200)?,
        description: l.text_within("description", 1, 5000)?,
        content_type,
        video_source,
        content: l.text_within("content", 1, 100_000)?,
        url,
        duration_minutes: l.int_within("duration", 0, 10_000)?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::import::export::Document;

    fn doc(id: &str, fields: Value) -> Document {
        let Value::Object(fields) = fields else {
            panic!("object")
        };
        Document {
            id: id.to_owned(),
            fields,
        }
    }

    #[test]
    fn display_names_split_into_first_word_and_rest() {
        for (name, expected) in [
            (Some("Youssef Ben Salah"), ("Youssef", "Ben Salah")),
            (Some("Nour"), ("Nour", "")),
            (Some("  "), ("sami.trabelsi", "")),
            (None, ("sami.trabelsi", "")),
        ] {
            let (first, last) = split_name(name, "sami.trabelsi@example.com");
            assert_eq!((first.as_str(), last.as_str()), expected, "{name:?}");
        }
    }

    #[test]
    fn creators_come_before_the_accounts_they_created() {
        let users = vec![
            Ok(doc("student", json!({"createdBy": "formateur"}))),
            Ok(doc("formateur", json!({"createdBy": "admin"}))),
            Ok(doc("loop-a", json!({"createdBy": "loop-b"}))),
            Ok(doc("admin", json!({}))),
            Ok(doc("loop-b", json!({"createdBy": "loop-a"}))),
        ];
        let order: Vec<&str> = creators_first(&users)
            .into_iter()
            .filter_map(|i| users[i].as_ref().ok().map(|d| d.id.as_str()))
            .collect();
        assert_eq!(order, ["admin", "formateur", "student", "loop-b", "loop-a"]);
    }

    #[test]
    fn a_course_with_an_unknown_category_is_rejected_in_words() {
        let mut warnings = Vec::new();
        let reason = course(
            &doc(
                "c1",
                json!({"title": "Data Science Fundamentals", "description": "Introduction to data analysis and machine learning",
                       "instructorId": "u1", "category": "Data Science", "level": "Intermediate", "status": "Draft"}),
            ),
            &mut warnings,
        )
        .expect_err("unknown category");
        assert!(reason.contains("'category' is 'Data Science'"), "{reason}");
    }

    #[test]
    fn lessons_without_a_content_type_are_video_with_a_url_and_text_without() {
        let mut warnings = Vec::new();
        let record = course(
            &doc(
                "c1",
                json!({"title": "Introduction to Web Development", "description": "Learn the basics of HTML, CSS, and JavaScript",
                       "instructorId": "u1", "category": "Programming", "level": "Beginner", "status": "Published", "price": 49.99,
                       "modules": [{"id": "module-1", "title": "HTML Basics", "lessons": [
                           {"id": "lesson-1-1", "title": "Introduction to HTML", "duration": 15},
                           {"id": "lesson-1-2", "title": "HTML in video", "url": "https://youtu.be/x", "videoSource": "YouTube"}]}]}),
            ),
            &mut warnings,
        )
        .expect("valid");
        let lessons = &record.modules[0].lessons;
        assert_eq!(
            (lessons[0].content_type, lessons[1].content_type),
            ("text", "video")
        );
        assert_eq!(lessons[1].video_source, Some("youtube"));
        assert_eq!(
            (record.category, record.level, record.status),
            ("programming", "beginner", "published")
        );
        assert_eq!(record.price_cents, Some(4999));
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
