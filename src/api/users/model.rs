//! User shapes on the wire.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{extract::Role, jsontime, validate::Validator};

/// A user's profile (never the password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id.
    pub id: Uuid,
    /// The id the frontend knows the user by (the original's name): the Firebase uid of an
    /// account linked to Firebase, else the same as `id`.
    pub uid: String,
    /// E-mail address.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// `firstName lastName`.
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// `active` or `suspended`.
    pub status: String,
    /// Creation time.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime<Utc>,
    /// Last change.
    #[serde(serialize_with = "jsontime::ser")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime<Utc>,
    /// Last successful login.
    #[serde(serialize_with = "jsontime::ser_opt")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<DateTime<Utc>>,
}

impl User {
    /// Columns [`User::from_row`] reads.
    pub const COLUMNS: &'static str = "id, firebase_uid, email, first_name, last_name, role, status, created_at, updated_at, last_login_at";

    /// Maps a row selected with [`User::COLUMNS`].
    pub fn from_row(row: &Row) -> Self {
        let id: Uuid = row.get("id");
        let first_name: String = row.get("first_name");
        let last_name: String = row.get("last_name");
        Self {
            id,
            uid: row
                .get::<_, Option<String>>("firebase_uid")
                .unwrap_or_else(|| id.to_string()),
            email: row.get("email"),
            display_name: format!("{first_name} {last_name}").trim().to_owned(),
            first_name,
            last_name,
            role: Role::parse(row.get("role")).unwrap_or(Role::Student),
            status: row.get("status"),
            created_at: row.get("created_at"),
            updated_at: row.get("updated_at"),
            last_login_at: row.get("last_login_at"),
        }
    }
}

/// Body of signup and of user creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    /// E-mail address (unique, case-insensitive).
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 8 characters.
    #[schema(example = "correct horse battery")]
    pub password: String,
    /// Given name.
    #[schema(example = "Ada")]
    pub first_name: String,
    /// Family name.
    #[schema(example = "Lovelace")]
    pub last_name: String,
    /// Role (`admin`, `formateur`, `student`); ignored on signup, which always makes a student.
    #[serde(default)]
    pub role: Option<String>,
}

impl CreateUser {
    /// Validates the fields common to signup and creation.
    pub fn validate(&self, v: &mut Validator) {
        v.email("email", self.email.trim());
        v.length("password", &self.password, 8, 128);
        v.length("firstName", &self.first_name, 1, 100);
        v.length("lastName", &self.last_name, 1, 100);
    }
}

/// Body of `PATCH /api/admin/users/{id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdateUser {
    /// New role.
    pub role: Option<String>,
    /// `active` or `suspended`.
    pub status: Option<String>,
    /// New given name.
    pub first_name: Option<String>,
    /// New family name.
    pub last_name: Option<String>,
}
