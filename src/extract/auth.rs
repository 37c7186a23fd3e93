//! Who is calling: the token from `Authorization: Bearer` or the `AuthToken` cookie (this
//! service's own session token, or a Firebase ID token when `FIREBASE_PROJECT_ID` is set),
//! checked against the database so that a suspended account or a changed role takes effect at the
//! next request, whatever the token says.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    cache::{CacheKind, Loaded},
    error::AppError,
    state::AppState,
};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages everything.
    Admin,
    /// Instructor: manages their own courses, quizzes and enrollment requests.
    Formateur,
    /// Learner.
    Student,
}

impl Role {
    /// The database and JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Formateur => "formateur",
            Self::Student => "student",
        }
    }

    /// Parses the database and JSON spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "formateur" => Some(Self::Formateur),
            "student" => Some(Self::Student),
            _ => None,
        }
    }
}

/// An authenticated, active user.
#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    /// User id.
    pub id: Uuid,
    /// Current role (from the database).
    pub role: Role,
}

impl AuthUser {
    /// 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), AppError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(AppError::Forbidden("your role may not do this"))
        }
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The bearer token of the request, from the header or else the cookie.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        return scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty());
    }
    cookie(headers, "AuthToken")
}

/// The cookie holding an operator's dashboard session (see `api::dashboard`).
pub const OPS_SESSION_COOKIE: &str = "OpsSession";

/// The role claim of an operator session (never a user's role; its subject is the nil id).
pub const OPS_SESSION_ROLE: &str = "operator";

/// The value of the cookie `name`, if the request carries a non-empty one.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim())
        .filter(|t| !t.is_empty())
}

/// The account of the request's token, once its signature and expiry are verified (by the rate
/// limiter, which needs the user id first), so it is verified once per request.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedToken {
    /// The account.
    pub id: Uuid,
    /// Whether the session cookie is to be replaced by a fresh session (see [`SessionRenewal`]).
    pub renew: bool,
}

/// Where the `AuthUser` extractor leaves a fresh session token for the response's
/// `Set-Cookie`; the access log layer puts one on every request whose credentials are the
/// `AuthToken` cookie, and sets the cookie from it.
///
/// The frontend of the original app stores a Firebase ID token in that cookie once, at sign-in,
/// and never refreshes it, while the token expires after an hour. So a Firebase token arriving in
/// the cookie is exchanged for this service's own session, and a session cookie past half its
/// life is renewed: a user who keeps using the app stays signed in; one idle for longer than
/// `JWT_TTL` signs in again. Tokens sent in the `Authorization` header are never replaced.
#[derive(Debug, Clone, Default)]
pub struct SessionRenewal(std::sync::Arc<std::sync::Mutex<Option<String>>>);

impl SessionRenewal {
    /// Leaves `token` for the response.
    pub fn set(&self, token: String) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(token);
        }
    }

    /// The token left for the response, if any.
    pub fn take(&self) -> Option<String> {
        self.0.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// Whether the request's credentials are the `AuthToken` cookie (no `Authorization` header).
pub fn credentials_in_cookie(headers: &axum::http::HeaderMap) -> bool {
    !headers.contains_key(header::AUTHORIZATION) && cookie(headers, "AuthToken").is_some()
}

/// What a verified token says about its holder, without touching the database.
pub enum TokenSubject {
    /// This service's own session: the account id and the role it was issued with.
    Session {
        /// The account.
        id: Uuid,
        /// The role at issue time (informational: the database decides).
        role: String,
        /// Expiry, seconds since the epoch.
        exp: i64,
    },
    /// A Firebase ID token; the account is known only once linked.
    Firebase(std::sync::Arc<crate::firebase::FirebaseIdentity>),
}

impl TokenSubject {
    /// Verifies `token` as this service's session or, when configured, as a Firebase ID token.
    /// `None` for anything that verifies as neither.
    pub async fn verify(state: &AppState, token: &str) -> Option<Self> {
        if let Some(firebase) = &state.firebase {
            // A token seen before is a hash lookup; only a new one has its header parsed.
            if let Some(hit) = firebase.cached(token) {
                return Some(Self::Firebase(hit));
            }
            if crate::firebase::FirebaseAuth::looks_like_firebase(token) {
                return firebase.verify(token).await.map(Self::Firebase);
            }
        }
        state.jwt.verify(token).map(|c| Self::Session {
            id: c.sub,
            role: c.role,
            exp: c.exp,
        })
    }

    /// Whether a session cookie holding this token is to be replaced (see [`SessionRenewal`]):
    /// always for a Firebase token, for a session once past half its life.
    pub fn wants_renewal(&self, state: &AppState) -> bool {
        match self {
            Self::Firebase(_) => true,
            Self::Session { exp, .. } => {
                let half = (state.jwt.ttl().as_secs() / 2) as i64;
                *exp - chrono::Utc::now().timestamp() < half
            }
        }
    }

    /// The account id when it is known without the database: a session's subject, or a
    /// Firebase user already linked in this instance's memory.
    pub fn known_account(&self, state: &AppState) -> Option<Uuid> {
        match self {
            Self::Session { id, .. } => Some(*id),
            Self::Firebase(identity) => state
                .firebase
                .as_ref()
                .and_then(|f| f.linked(&identity.uid)),
        }
    }

    /// The account id, linking or creating the account of a first-seen Firebase user.
    pub async fn account(&self, state: &AppState) -> Result<Uuid, AppError> {
        match self {
            Self::Session { id, .. } => Ok(*id),
            Self::Firebase(identity) => {
                crate::firebase::accounts::account_of(state, identity).await
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Principal {
    role: String,
    status: String,
}

const INVALID_TOKEN: AppError = AppError::Unauthenticated {
    message: "invalid or expired token",
    code: "invalid_token",
};

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        if let Some(user) = parts.extensions.get::<Self>() {
            return Ok(*user);
        }
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        // The rate limiter has usually verified the token already.
        let (id, renew) = match parts.extensions.get::<VerifiedToken>() {
            Some(verified) => (verified.id, verified.renew),
            None => {
                let subject = TokenSubject::verify(state, token)
                    .await
                    .ok_or(INVALID_TOKEN)?;
                (subject.account(state).await?, subject.wants_renewal(state))
            }
        };
        // Role and status are cached in memory only (the PRINCIPAL row of the policy table);
        // a change to the account invalidates them on every instance.
        let kind = CacheKind::Principal;
        let principal = state
            .cache
            .get_or_load(
                kind,
                None,
                &id.to_string(),
                kind.tags(Some(id), None),
                || async {
                    let client = state.db().await?;
                    let stmt = client
                        .prepare_cached("select role, status from app_user where id = $1")
                        .await?;
                    let row = client
                        .query_opt(&stmt, &[&id])
                        .await?
                        .ok_or(INVALID_TOKEN)?;
                    let principal = Principal {
                        role: row.get("role"),
                        status: row.get("status"),
                    };
                    Loaded::json(&principal, vec![])
                },
            )
            .await?;
        let principal: Principal =
            serde_json::from_slice(&principal.body).map_err(|_| INVALID_TOKEN)?;
        if principal.status != "active" {
            return Err(AppError::Unauthenticated {
                message: "this account is suspended",
                code: "account_suspended",
            });
        }
        let role = Role::parse(&principal.role).ok_or(INVALID_TOKEN)?;
        let user = Self { id, role };
        if renew
            && credentials_in_cookie(&parts.headers)
            && let Some(slot) = parts.extensions.get::<SessionRenewal>()
        {
            slot.set(state.jwt.issue(id, role.as_str())?);
        }
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        parts.extensions.insert(user);
        Ok(user)
    }
}

impl OptionalFromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    /// No credentials at all: anonymous. Credentials that do not verify: still a 401, so a
    /// client with an expired session learns it instead of silently seeing the public view.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        if bearer_token(&parts.headers).is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
            .map(Some)
    }
}

/// An optional caller, for routes open to anyone that show more to some.
pub type MaybeAuthUser = Option<AuthUser>;

/// A set of roles allowed on a route (for [`Allowed`]).
pub trait Roles: Send + Sync {
    /// The roles.
    const ALLOWED: &'static [Role];
}

macro_rules! role_sets {
    ($($(#[$doc:meta])* $name:ident = [$($role:ident),+];)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl Roles for $name {
            const ALLOWED: &'static [Role] = &[$(Role::$role),+];
        }
    )*};
}
role_sets! {
    /// Admins only.
    Admins = [Admin];
    /// Formateurs only.
    Formateurs = [Formateur];
    /// Formateurs and admins.
    Staff = [Formateur, Admin];
    /// Students only.
    Students = [Student];
}

/// An authenticated caller with one of `R`'s roles, checked as an extractor: written before the
/// body in a handler's arguments, it answers 401 or 403 before the body is read or parsed, so a
/// caller who may not write learns that first, whatever they sent.
#[derive(Debug, Clone, Copy)]
pub struct Allowed<R>(pub AuthUser, pub std::marker::PhantomData<R>);

impl<R: Roles> FromRequestParts<AppState> for Allowed<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let user =
            <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        user.require(R::ALLOWED)?;
        Ok(Self(user, std::marker::PhantomData))
    }
}

/// An operator: the `OPS_TOKEN` bearer token, or an admin's session (API.md §3).
#[derive(Debug, Clone, Copy)]
pub struct Operator {
    /// The admin behind the request, when it was an admin's session.
    pub admin: Option<Uuid>,
}

impl FromRequestParts<AppState> for Operator {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // The dashboard's session: the operator token, exchanged once for a signed cookie.
        if let Some(session) = cookie(&parts.headers, OPS_SESSION_COOKIE)
            && state
                .jwt
                .verify(session)
                .is_some_and(|c| c.role == OPS_SESSION_ROLE && c.sub.is_nil())
        {
            return Ok(Self { admin: None });
        }
        let token = bearer_token(&parts.headers).ok_or(AppError::Unauthorized)?;
        // Wrong operator tokens slow their sender down (by address: the token has one owner,
        // whom a throttle on the token itself would lock out of the figures).
        let ip = parts
            .extensions
            .get::<crate::middleware::client_ip::ClientIp>()
            .map_or_else(String::new, |c| c.0.to_string());
        if let Err(wait) = state.guard.check("ops", &ip).await {
            return Err(crate::api::auth::too_many_failures(wait));
        }
        if let Some(ops) = &state.config.ops.ops_token
            && crate::auth::secret_matches(token.as_bytes(), ops)
        {
            return Ok(Self { admin: None });
        }
        let user = match <AuthUser as FromRequestParts<AppState>>::from_request_parts(parts, state)
            .await
        {
            Ok(user) => user,
            Err(e) => {
                if e.status() == axum::http::StatusCode::UNAUTHORIZED {
                    state.guard.failed("ops", &ip).await;
                }
                return Err(e);
            }
        };
        if user.is_admin() {
            Ok(Self {
                admin: Some(user.id),
            })
        } else {
            Err(AppError::Forbidden(
                "an operator token or an admin session is required",
            ))
        }
    }
}
