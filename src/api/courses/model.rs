//! Course shapes on the wire, and validation of course input (the original's zod schema).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{jsontime, validate::Validator};

/// Course categories (the original's fixed list).
pub const CATEGORIES: &[&str] = &[
    "programming",
    "design",
    "music",
    "gaming",
    "business",
    "lifestyle",
];
/// Course levels.
pub const LEVELS: &[&str] = &["beginner", "intermediate", "advanced"];
/// Lesson content types.
pub const CONTENT_TYPES: &[&str] = &["video", "document", "text", "quiz", "assignment"];
/// Where a video lesson is hosted.
pub const VIDEO_SOURCES: &[&str] = &["youtube", "vimeo", "gdrive", "self-hosted"];
/// A course's status. The database spells every state in lowercase; on the wire the status
/// follows the frontend's declared type (`'Draft' | 'Published'`, in its
/// `src/lib/types/index.ts`), and the two states that type lacks keep the original's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum CourseStatus {
    /// Being written; not visible to students.
    #[serde(rename = "Draft")]
    Draft,
    /// Waiting for an admin's review.
    #[serde(rename = "pending_approval")]
    PendingApproval,
    /// In the public catalogue.
    #[serde(rename = "Published")]
    Published,
    /// Refused by an admin; editing it sends it back to review.
    #[serde(rename = "rejected")]
    Rejected,
}

impl CourseStatus {
    /// Every status.
    pub const ALL: [Self; 4] = [
        Self::Draft,
        Self::PendingApproval,
        Self::Published,
        Self::Rejected,
    ];

    /// The database spelling.
    pub fn as_db(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::PendingApproval => "pending_approval",
            Self::Published => "published",
            Self::Rejected => "rejected",
        }
    }

    /// The wire spelling.
    pub fn wire(self) -> &'static str {
        match self {
            Self::Draft => "Draft",
            Self::PendingApproval => "pending_approval",
            Self::Published => "Published",
            Self::Rejected => "rejected",
        }
    }

    /// Parses the database spelling.
    pub fn from_db(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_db() == s)
    }

    /// Parses a filter value: either spelling, any case (`Published`, `published`, `PENDING`).
    pub fn parse_any(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "pending" => Some(Self::PendingApproval),
            _ => Self::from_db(&s),
        }
    }
}

/// SQL turning `c.status` into its wire spelling, for answers built as JSON in SQL.
pub const STATUS_WIRE_SQL: &str =
    "(case c.status when 'draft' then 'Draft' when 'published' then 'Published' else c.status end)";

const MAX_MODULES: usize = 50;
const MAX_LESSONS: usize = 100;

/// A course in a list: everything but its modules.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CourseSummary {
    /// Course id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// One of the fixed categories.
    pub category: String,
    /// `beginner`, `intermediate` or `advanced`.
    pub level: String,
    /// `Draft`, `pending_approval`, `Published` or `rejected`.
    pub status: CourseStatus,
    /// Whether students must be approved to enroll.
    pub requires_approval: bool,
    /// Cover image.
    pub image_url: Option<String>,
    /// What the cover shows, in a few words (the original's hint for generated images).
    pub ai_hint: Option<String>,
    /// Owner (formateur): the id the frontend knows them by, their Firebase uid when their
    /// account is linked to Firebase, else their id here.
    pub instructor_id: String,
    /// Owner's name.
    pub instructor_name: String,
    /// Total duration in minutes.
    pub duration: Option<i32>,
    /// Price.
    pub price: Option<f64>,
    /// Number of modules.
    pub module_count: i64,
    /// Number of lessons.
    pub lesson_count: i64,
    /// Number of enrolled students.
    pub student_count: i64,
    /// Creation time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// For a student's dashboard: whether they are enrolled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_enrolled: Option<bool>,
    /// For a student's dashboard: their progress (0–100) when enrolled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_progress: Option<i32>,
    /// For a student's dashboard: `active`, `completed`, `pending` or `denied`, when any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment_status: Option<String>,
}

impl CourseSummary {
    /// Maps a row selected with `repo::SUMMARY_COLUMNS`.
    pub fn from_row(row: &Row) -> Self {
        Self {
            id: row.get("id"),
            title: row.get("title"),
            description: row.get("description"),
            category: row.get("category"),
            level: row.get("level"),
            status: CourseStatus::from_db(row.get("status")).unwrap_or(CourseStatus::Draft),
            requires_approval: row.get("requires_approval"),
            image_url: row.get("image_url"),
            ai_hint: row.get("ai_hint"),
            instructor_id: row.get("instructor_uid"),
            instructor_name: row.get("instructor_name"),
            duration: row.get("duration_minutes"),
            price: row
                .get::<_, Option<i32>>("price_cents")
                .map(|c| f64::from(c) / 100.0),
            module_count: row.get("module_count"),
            lesson_count: row.get("lesson_count"),
            student_count: row.get("student_count"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            is_enrolled: None,
            enrollment_progress: None,
            enrollment_status: None,
        }
    }
}

/// A course with its modules and lessons.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Course {
    /// The summary fields.
    #[serde(flatten)]
    pub summary: CourseSummary,
    /// When an admin approved or rejected it.
    #[serde(serialize_with = "jsontime::ser_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub approved_at: Option<DateTime<Utc>>,
    /// The admin's reason, when given.
    pub approval_reason: Option<String>,
    /// Modules in order, each with its lessons in order.
    pub modules: Vec<Module>,
}

/// A module of a course.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Module {
    /// Module id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Order within the course, from 0.
    pub position: i32,
    /// Lessons in order.
    pub lessons: Vec<Lesson>,
}

/// A lesson. `content` and `url` are only shown to enrolled students, the owner and admins.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Lesson {
    /// Lesson id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Order within the module, from 0.
    pub position: i32,
    /// Short description.
    pub description: Option<String>,
    /// `video`, `document`, `text`, `quiz` or `assignment`.
    pub content_type: String,
    /// Video host, for videos.
    pub video_source: Option<String>,
    /// Duration in minutes.
    pub duration: Option<i32>,
    /// The lesson body (restricted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Link to the material (restricted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Body of course creation and of a full update (`PUT`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateCourse {
    /// 5–200 characters, unique.
    #[schema(example = "Rust for web developers")]
    pub title: String,
    /// 20–5000 characters.
    #[schema(
        example = "Build fast, reliable web services in Rust, from the first route to production."
    )]
    pub description: String,
    /// One of `programming`, `design`, `music`, `gaming`, `business`, `lifestyle`.
    #[schema(example = "programming")]
    pub category: String,
    /// One of `beginner`, `intermediate`, `advanced`.
    #[schema(example = "beginner")]
    pub level: String,
    /// Whether enrollment needs approval (default true).
    pub requires_approval: Option<bool>,
    /// Cover image URL (http/https).
    pub image_url: Option<String>,
    /// Total duration in minutes.
    pub duration: Option<i64>,
    /// Price (0 or more, two decimals).
    pub price: Option<f64>,
    /// Admins only: the formateur who will own the course (default: the caller).
    pub instructor_id: Option<Uuid>,
    /// At least one module. On update, modules and lessons carrying their `id` are kept (with
    /// their students' progress); those left out are deleted.
    pub modules: Vec<ModuleInput>,
}

/// A module in course input.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleInput {
    /// Existing module to keep (updates only).
    pub id: Option<Uuid>,
    /// 3–200 characters.
    pub title: String,
    /// Lessons in order.
    #[serde(default)]
    pub lessons: Vec<LessonInput>,
}

/// A lesson in course input.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LessonInput {
    /// Existing lesson to keep (updates only).
    pub id: Option<Uuid>,
    /// 3–200 characters.
    pub title: String,
    /// Optional description.
    pub description: Option<String>,
    /// One of `video`, `document`, `text`, `quiz`, `assignment`.
    pub content_type: String,
    /// One of `youtube`, `vimeo`, `gdrive`, `self-hosted`.
    pub video_source: Option<String>,
    /// Body text.
    pub content: Option<String>,
    /// Link (http/https).
    pub url: Option<String>,
    /// Minutes.
    pub duration: Option<i64>,
}

impl CreateCourse {
    /// Validates every field, naming each failing one (`modules[0].lessons[1].title`).
    pub fn validate(&self) -> Result<(), crate::error::AppError> {
        let mut v = Validator::new();
        v.length("title", &self.title, 5, 200);
        v.length("description", &self.description, 20, 5000);
        v.one_of("category", &self.category, CATEGORIES);
        v.one_of("level", &self.level, LEVELS);
        v.url("imageUrl", self.image_url.as_deref());
        if let Some(d) = self.duration {
            v.range("duration", d, 0, 100_000);
        }
        if let Some(p) = self.price
            && !(p.is_finite() && (0.0..=1_000_000.0).contains(&p))
        {
            v.fail("price", "must be between 0 and 1000000");
        }
        if self.modules.is_empty() {
            v.fail("modules", "at least one module is required");
        }
        if self.modules.len() > MAX_MODULES {
            v.fail("modules", format!("at most {MAX_MODULES} modules"));
        }
        for (i, m) in self.modules.iter().enumerate() {
            v.length(&format!("modules[{i}].title"), &m.title, 3, 200);
            if m.lessons.len() > MAX_LESSONS {
                v.fail(
                    format!("modules[{i}].lessons"),
                    format!("at most {MAX_LESSONS} lessons per module"),
                );
            }
            for (j, l) in m.lessons.iter().enumerate() {
                let f = |name: &str| format!("modules[{i}].lessons[{j}].{name}");
                v.length(&f("title"), &l.title, 3, 200);
                v.one_of(&f("contentType"), &l.content_type, CONTENT_TYPES);
                if let Some(s) = &l.video_source {
                    v.one_of(&f("videoSource"), s, VIDEO_SOURCES);
                }
                v.opt_length(&f("description"), l.description.as_deref(), 5000);
                v.opt_length(&f("content"), l.content.as_deref(), 100_000);
                v.url(&f("url"), l.url.as_deref());
                if let Some(d) = l.duration {
                    v.range(&f("duration"), d, 0, 10_000);
                }
            }
        }
        v.finish()
    }

    /// Price in cents.
    pub fn price_cents(&self) -> Option<i32> {
        self.price.map(|p| (p * 100.0).round() as i32)
    }
}
