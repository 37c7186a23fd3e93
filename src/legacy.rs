//! Ids as the API receives them: this service's UUIDs, or the Firestore document id of an
//! imported object (its `legacy_id`; a user's is its Firebase uid), so the ids the frontend
//! still holds from Firestore keep working in every route that takes an id.
//!
//! One resolver for every kind: a UUID is taken as it is; anything else is looked up by the
//! kind's unique index and remembered (found ids for an hour, unknown ones for a few seconds, so
//! an import shows at once and a flood of unknown ids costs one query each few seconds).

use std::{marker::PhantomData, time::Duration};

use axum::{
    extract::{FromRequestParts, Path},
    http::request::Parts,
};
use uuid::Uuid;

use crate::{error::AppError, state::AppState};

/// Longest Firestore document id.
const MAX_LEGACY_LEN: usize = 1500;

/// A kind of object whose id a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// An account (legacy id: its Firebase uid).
    User,
    /// A course.
    Course,
    /// A quiz.
    Quiz,
    /// A quiz attempt.
    QuizAttempt,
    /// An enrollment request.
    EnrollmentRequest,
    /// An enrollment (the original's `progress` document).
    Enrollment,
    /// A notification.
    Notification,
}

impl Kind {
    /// The noun of the 404 when an id names nothing.
    pub fn noun(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Course => "course",
            Self::Quiz => "quiz",
            Self::QuizAttempt => "attempt",
            Self::EnrollmentRequest => "enrollment request",
            Self::Enrollment => "enrollment",
            Self::Notification => "notification",
        }
    }

    fn sql(self) -> &'static str {
        match self {
            Self::User => "select id from app_user where firebase_uid = $1",
            Self::Course => "select id from course where legacy_id = $1",
            Self::Quiz => "select id from quiz where legacy_id = $1",
            Self::QuizAttempt => "select id from quiz_attempt where legacy_id = $1",
            Self::EnrollmentRequest => "select id from enrollment_request where legacy_id = $1",
            Self::Enrollment => "select id from enrollment where legacy_id = $1",
            Self::Notification => "select id from notification where legacy_id = $1",
        }
    }
}

/// Remembered resolutions of legacy ids.
pub struct LegacyIds {
    cache: moka::future::Cache<(Kind, Box<str>), Option<Uuid>>,
}

struct FoundOrNot;

impl moka::Expiry<(Kind, Box<str>), Option<Uuid>> for FoundOrNot {
    fn expire_after_create(
        &self,
        _: &(Kind, Box<str>),
        value: &Option<Uuid>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Some(_) => Duration::from_secs(3600),
            None => Duration::from_secs(5),
        })
    }
}

/// Bytes of remembered resolutions: weighed by the id's length, so a flood of long unknown ids
/// cannot take more than this much memory.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

impl Default for LegacyIds {
    fn default() -> Self {
        Self {
            cache: moka::future::Cache::builder()
                .weigher(|(_, raw): &(Kind, Box<str>), _| {
                    u32::try_from(raw.len() + 64).unwrap_or(u32::MAX)
                })
                .max_capacity(CACHE_BYTES)
                .expire_after(FoundOrNot)
                .build(),
        }
    }
}

/// Whether `raw` could be a Firestore document id (1–1500 bytes, no `/`, not `.` or `..`).
fn plausible(raw: &str) -> bool {
    !raw.is_empty()
        && raw.len() <= MAX_LEGACY_LEN
        && !raw.contains('/')
        && raw != "."
        && raw != ".."
        && !raw.contains('\0')
}

impl AppState {
    /// The object `raw` names: a UUID as it is, else the imported object whose Firestore id it
    /// is. `None` when it names nothing (callers answer 404, as for an id they may not see).
    pub async fn resolve_id(&self, kind: Kind, raw: &str) -> Result<Option<Uuid>, AppError> {
        let raw = raw.trim();
        if let Ok(id) = Uuid::parse_str(raw) {
            return Ok(Some(id));
        }
        if !plausible(raw) {
            return Ok(None);
        }
        self.legacy_ids
            .cache
            .try_get_with((kind, raw.into()), async {
                let client = self.db().await?;
                let stmt = client.prepare_cached(kind.sql()).await?;
                Ok::<_, AppError>(client.query_opt(&stmt, &[&raw]).await?.map(|r| r.get(0)))
            })
            .await
            .map_err(|e| e.duplicate())
    }

    /// Like [`Self::resolve_id`], with a 404 naming the kind when `raw` names nothing.
    pub async fn object_id(&self, kind: Kind, raw: &str) -> Result<Uuid, AppError> {
        self.resolve_id(kind, raw)
            .await?
            .ok_or(AppError::NotFound(kind.noun()))
    }
}

impl AppState {
    /// An optional id in the query string (`?courseId=`): absent or empty is `None`; a UUID is
    /// taken as it is (one naming nothing matches nothing); the Firestore id of an imported
    /// object is that object's id; anything else is a 400 naming the parameter.
    pub async fn query_id(
        &self,
        kind: Kind,
        param: &str,
        raw: Option<&str>,
    ) -> Result<Option<Uuid>, AppError> {
        let Some(raw) = raw.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(None);
        };
        match self.resolve_id(kind, raw).await? {
            Some(id) => Ok(Some(id)),
            None => Err(crate::extract::pagination::bad_query(
                param,
                "must be an id (a UUID, or the Firestore id of an imported object)",
            )),
        }
    }

    /// The lesson of `course` that `raw` names: its UUID or its Firestore id in that course.
    pub async fn lesson_id(&self, course: Uuid, raw: &str) -> Result<Option<Uuid>, AppError> {
        let raw = raw.trim();
        if let Ok(id) = Uuid::parse_str(raw) {
            return Ok(Some(id));
        }
        if !plausible(raw) {
            return Ok(None);
        }
        let client = self.db().await?;
        let stmt = client
            .prepare_cached("select id from lesson where course_id = $1 and legacy_id = $2")
            .await?;
        Ok(client
            .query_opt(&stmt, &[&course, &raw])
            .await?
            .map(|r| r.get(0)))
    }
}

/// A kind of object named in a path, as a type (for [`IdPath`]).
pub trait PathKind: Send + Sync {
    /// The kind.
    const KIND: Kind;
}

macro_rules! path_kinds {
    ($($name:ident),*) => {$(
        #[doc = concat!("A path segment naming a ", stringify!($name), " (for [`IdPath`]).")]
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl PathKind for $name {
            const KIND: Kind = Kind::$name;
        }
    )*};
}
path_kinds!(User, Course, Quiz, QuizAttempt);

/// One `{id}` path parameter naming a `K`: its UUID or its Firestore id. Anything that names
/// nothing is a 404 before the handler runs.
#[derive(Debug, Clone, Copy)]
pub struct IdPath<K>(pub Uuid, pub PhantomData<K>);

/// Two path parameters, e.g. a quiz's `{id}` and its `{attemptId}`.
#[derive(Debug, Clone, Copy)]
pub struct IdPath2<A, B>(pub Uuid, pub Uuid, pub PhantomData<(A, B)>);

impl<K: PathKind> FromRequestParts<AppState> for IdPath<K> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound(K::KIND.noun()))?;
        Ok(Self(state.object_id(K::KIND, &raw).await?, PhantomData))
    }
}

impl<A: PathKind, B: PathKind> FromRequestParts<AppState> for IdPath2<A, B> {
    type Rejection = AppError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let Path((a, b)) = Path::<(String, String)>::from_request_parts(parts, state)
            .await
            .map_err(|_| AppError::NotFound(A::KIND.noun()))?;
        Ok(Self(
            state.object_id(A::KIND, &a).await?,
            state.object_id(B::KIND, &b).await?,
            PhantomData,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::plausible;

    #[test]
    fn firestore_ids_are_checked_before_any_query() {
        assert!(plausible("a1B2c3D4e5F6g7H8i9J0"));
        assert!(!plausible(""));
        assert!(!plausible("a/b"));
        assert!(!plausible(".."));
        assert!(!plausible(&"x".repeat(1501)));
    }
}
