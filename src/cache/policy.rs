//! THE cache policy table (API.md §4): every cacheable read is declared here, once — its
//! scope, its TTL in each tier, what browsers may do with it, and the tags whose writes
//! invalidate it. Handlers name a [`CacheKind`] and pass the values the key is made of; they
//! never build keys or pick TTLs themselves.

use std::time::Duration;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::extract::Role;

/// A cacheable read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CacheKind {
    /// `GET /api/courses`: the public catalogue pages.
    CourseList,
    /// `GET /api/courses/{id}`: a course with modules and lessons.
    CourseDetails,
    /// `GET /api/dashboard/courses`: the caller's role-shaped course list.
    DashboardCourses,
    /// `GET /api/dashboard/stats`: the caller's role-shaped figures.
    DashboardStats,
    /// `GET /api/formateur/quizzes/{id}`: a quiz as the caller may see it.
    QuizDetails,
    /// `GET /api/formateur/quizzes/{id}/stats`.
    QuizStats,
    /// `GET /api/notifications`: the caller's notifications and unread count.
    Notifications,
    /// `GET /api/auth/me`: the caller's profile.
    UserProfile,
    /// The account check behind every authenticated request (role and suspension).
    Principal,
    /// `GET /api/courses/{id}/image`: a resized course image (keyed by content hash, width and
    /// format, so a new upload is a new key).
    ImageRendition,
    /// Which image a course has now (content hash, format, size); a new upload invalidates it.
    CourseImage,
    /// Which courses a signed-in viewer may read in full (enrolled in or owns).
    CourseAccess,
}

impl CacheKind {
    /// Every kind, for statistics.
    pub const ALL: [Self; 12] = [
        Self::CourseList,
        Self::CourseDetails,
        Self::DashboardCourses,
        Self::DashboardStats,
        Self::QuizDetails,
        Self::QuizStats,
        Self::Notifications,
        Self::UserProfile,
        Self::Principal,
        Self::ImageRendition,
        Self::CourseImage,
        Self::CourseAccess,
    ];

    /// The name used in keys, figures and `POST /api/performance/clear-cache`'s `type`.
    pub fn name(self) -> &'static str {
        match self {
            Self::CourseList => "COURSE_LIST",
            Self::CourseDetails => "COURSE_DETAILS",
            Self::DashboardCourses => "DASHBOARD_COURSES",
            Self::DashboardStats => "DASHBOARD_STATS",
            Self::QuizDetails => "QUIZ_DETAILS",
            Self::QuizStats => "QUIZ_STATS",
            Self::Notifications => "NOTIFICATIONS",
            Self::UserProfile => "USER_PROFILE",
            Self::Principal => "PRINCIPAL",
            Self::ImageRendition => "IMAGE_RENDITION",
            Self::CourseImage => "COURSE_IMAGE",
            Self::CourseAccess => "COURSE_ACCESS",
        }
    }

    /// Parses [`CacheKind::name`].
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Position in [`CacheKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    /// The policy of this kind for a caller with `role` (`None`: anonymous).
    pub fn policy(self, role: Option<Role>) -> Policy {
        const fn secs(s: u64) -> Option<Duration> {
            Some(Duration::from_secs(s))
        }
        match self {
            // One entry per page and filter, shared by everyone: the hottest read.
            Self::CourseList => Policy {
                scope: Scope::Public,
                redis_ttl: secs(900),
                memory_ttl: None,
                browser: Browser::Public { s_maxage: 60 },
            },
            // Two entries per course, shared by everyone: with lesson content (admins, the owner
            // and enrolled students) and without. Browsers may keep a signed-in viewer's copy
            // only for themselves.
            Self::CourseDetails => match role {
                None => Policy {
                    scope: Scope::Public,
                    redis_ttl: secs(1800),
                    memory_ttl: None,
                    browser: Browser::Public { s_maxage: 60 },
                },
                Some(_) => Policy {
                    scope: Scope::Public,
                    redis_ttl: secs(1800),
                    memory_ttl: None,
                    browser: Browser::Private,
                },
            },
            // Which courses a signed-in viewer may read in full (enrolled in or owns): decides
            // which of the two course entries they get. In process memory only, like the
            // principal; enrollments and course changes invalidate it on every instance.
            Self::CourseAccess => Policy {
                scope: Scope::User,
                redis_ttl: None,
                memory_ttl: Some(Duration::from_secs(60)),
                browser: Browser::Private,
            },
            Self::DashboardCourses => Policy {
                scope: Scope::User,
                redis_ttl: secs(60),
                memory_ttl: None,
                browser: Browser::Private,
            },
            // The original's role-dependent TTL: admins get fresher figures.
            Self::DashboardStats => Policy {
                scope: Scope::User,
                redis_ttl: if role == Some(Role::Admin) {
                    secs(30)
                } else {
                    secs(60)
                },
                memory_ttl: None,
                browser: Browser::Private,
            },
            Self::QuizDetails => Policy {
                scope: Scope::User,
                redis_ttl: secs(1200),
                memory_ttl: None,
                browser: Browser::Private,
            },
            Self::QuizStats => Policy {
                scope: Scope::User,
                redis_ttl: secs(300),
                memory_ttl: None,
                browser: Browser::Private,
            },
            Self::Notifications => Policy {
                scope: Scope::User,
                redis_ttl: secs(30),
                memory_ttl: None,
                browser: Browser::Private,
            },
            Self::UserProfile => Policy {
                scope: Scope::User,
                redis_ttl: secs(300),
                memory_ttl: None,
                browser: Browser::Private,
            },
            // Authentication state stays in process memory only, briefly; a suspension
            // invalidates it on every instance.
            Self::Principal => Policy {
                scope: Scope::User,
                redis_ttl: None,
                memory_ttl: Some(Duration::from_secs(30)),
                browser: Browser::Private,
            },
            // Content-addressed, so it never goes stale; the handler sets the TTL from
            // `IMAGE_CACHE_TTL` and its own browser headers (ETag, immutable).
            Self::ImageRendition => Policy {
                scope: Scope::Public,
                redis_ttl: secs(86_400),
                memory_ttl: secs(86_400),
                browser: Browser::Public { s_maxage: 86_400 },
            },
            Self::CourseImage => Policy {
                scope: Scope::Public,
                redis_ttl: secs(3600),
                memory_ttl: None,
                browser: Browser::Public { s_maxage: 60 },
            },
        }
    }

    /// Tags every entry of this kind carries, from the key's subjects; loaders add the tags of
    /// what they found (e.g. each course of a list page).
    pub fn tags(self, viewer: Option<Uuid>, subject: Option<Uuid>) -> Vec<Tag> {
        let mut tags = Vec::with_capacity(4);
        match self {
            Self::CourseList => tags.extend([Tag::Courses, Tag::Users]),
            Self::CourseDetails => {
                tags.extend([Tag::Users]);
                tags.extend(subject.map(Tag::Course));
            }
            // New enrollments touch the student's tag, new courses the course lists'.
            Self::CourseAccess => {
                tags.push(Tag::Courses);
                tags.extend(viewer.map(Tag::Enrollments));
                tags.extend(viewer.map(Tag::User));
            }
            Self::DashboardCourses => {
                tags.extend([Tag::Courses, Tag::Users]);
                tags.extend(viewer.map(Tag::Enrollments));
                tags.extend(viewer.map(Tag::User));
            }
            Self::DashboardStats => {
                tags.push(Tag::Stats);
                tags.extend(viewer.map(Tag::Enrollments));
                tags.extend(viewer.map(Tag::User));
            }
            Self::QuizDetails => {
                tags.extend(subject.map(Tag::Quiz));
                tags.extend(viewer.map(Tag::Enrollments));
                tags.extend(viewer.map(Tag::User));
            }
            Self::QuizStats => {
                tags.extend(subject.map(Tag::Quiz));
                tags.extend(viewer.map(Tag::User));
            }
            Self::Notifications => tags.extend(viewer.map(Tag::Notifications)),
            Self::UserProfile | Self::Principal => tags.extend(viewer.map(Tag::User)),
            Self::ImageRendition => {}
            Self::CourseImage => tags.extend(subject.map(Tag::Course)),
        }
        tags
    }
}

/// Who shares one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone who sees the same thing.
    Public,
    /// Everyone with the same role.
    Role,
    /// One user (the key holds the user id).
    User,
}

/// What browsers and CDNs are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// `public, max-age=0, s-maxage=N`: shared caches may keep it N seconds.
    Public {
        /// Seconds a CDN may keep it.
        s_maxage: u32,
    },
    /// `private, no-store`: personal data.
    Private,
}

/// How one kind is cached.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Who shares an entry.
    pub scope: Scope,
    /// Lifetime in Redis; `None` keeps it out of Redis.
    pub redis_ttl: Option<Duration>,
    /// Lifetime in memory; `None` means `MEMORY_CACHE_TTL`.
    pub memory_ttl: Option<Duration>,
    /// The `Cache-Control` answer.
    pub browser: Browser,
}

/// What a write invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// Course membership of any list (creation, deletion, approval, a new category or level).
    Courses,
    /// Results of catalogue searches (`q`): a new title or description may add or remove a
    /// course from them. Other lists carry the tags of the courses they show, so an edit that
    /// keeps a course where it was only reaches the pages that show it.
    Search,
    /// One course's content or counts.
    Course(Uuid),
    /// Names shown next to courses (any user change).
    Users,
    /// One user's enrollments, requests and progress.
    Enrollments(Uuid),
    /// One user's notifications.
    Notifications(Uuid),
    /// One account (role, status, profile).
    User(Uuid),
    /// One quiz and its statistics.
    Quiz(Uuid),
    /// Dashboard figures (bumped by every write that changes a counter).
    Stats,
}

impl Tag {
    /// Stable text form, used in Redis and in invalidation messages.
    pub fn key(&self) -> String {
        match self {
            Self::Courses => "courses".to_owned(),
            Self::Search => "search".to_owned(),
            Self::Course(id) => format!("course:{id}"),
            Self::Users => "users".to_owned(),
            Self::Enrollments(id) => format!("enrollments:{id}"),
            Self::Notifications(id) => format!("notifications:{id}"),
            Self::User(id) => format!("user:{id}"),
            Self::Quiz(id) => format!("quiz:{id}"),
            Self::Stats => "stats".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personal_data_is_never_public() {
        for kind in CacheKind::ALL {
            let p = kind.policy(Some(Role::Student));
            if p.scope == Scope::User {
                assert_eq!(p.browser, Browser::Private, "{kind:?}");
            }
        }
        assert!(
            CacheKind::Principal
                .policy(Some(Role::Admin))
                .redis_ttl
                .is_none(),
            "auth state stays out of Redis"
        );
    }

    #[test]
    fn names_round_trip() {
        for kind in CacheKind::ALL {
            assert_eq!(CacheKind::parse(kind.name()), Some(kind));
        }
    }

    #[test]
    fn admin_dashboard_figures_live_shorter_in_redis() {
        let admin = CacheKind::DashboardStats
            .policy(Some(Role::Admin))
            .redis_ttl;
        let other = CacheKind::DashboardStats
            .policy(Some(Role::Student))
            .redis_ttl;
        assert!(admin < other);
    }
}
