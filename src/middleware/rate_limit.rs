//! Applies [`crate::ratelimit`] to every API route and writes the answers of API.md §5: the
//! remaining allowance on every response (`X-RateLimit-*` and the IETF draft's `RateLimit` /
//! `RateLimit-Policy`), and a 429 with `Retry-After` beyond it.

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{cell::RefCell, net::IpAddr};

use chrono::{DateTime, Utc};

use super::client_ip::ClientIp;
use crate::{
    error::AppError,
    extract::auth::{TokenSubject, VerifiedToken, bearer_token},
    jsontime,
    ratelimit::{Decision, Group, RateRequest},
    state::AppState,
};

/// Counts the request; refuses it with 429 beyond the caller's allowance.
pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if !state.config.limits.rate_limit_enabled {
        return next.run(req).await;
    }
    let Some(group) = req
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| Group::of_request(req.method(), p.as_str()))
    else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0);
    // A verified token identifies the user (no database lookup here: a Firebase user not yet
    // linked in memory is counted by address this once); anything else, including a forged or
    // expired token, is counted by address.
    let subject = match bearer_token(req.headers()) {
        Some(token) => TokenSubject::verify(&state, token).await,
        None => None,
    };
    // The password group is counted by address only: a session does not buy its holder a
    // fresh allowance of sign-in attempts (each new account's token would be one).
    let counted = subject.as_ref().filter(|_| group != Group::Auth);
    let rate = RateRequest {
        group,
        user: counted.and_then(|s| s.known_account(&state)),
        ip,
        cost: 1,
        role_multiplier: match counted {
            Some(TokenSubject::Session { role, .. }) => state.limits.role_multiplier(role),
            _ => 1.0,
        },
    };
    let decision = state.limits.check_request(&rate).await;
    // Bulk handlers charge their extra items against the same allowance.
    let mut req = req;
    req.extensions_mut().insert(rate);
    if let (Some(id), Some(subject)) = (rate.user, &subject) {
        let renew = subject.wants_renewal(&state);
        req.extensions_mut().insert(VerifiedToken { id, renew });
    }
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        refused(&decision)
    };
    add_headers(response.headers_mut(), group, &decision);
    response
}

fn refused(decision: &Decision) -> Response {
    rate_limited(decision).into_response()
}

/// The 429 for a refused decision.
pub fn rate_limited(decision: &Decision) -> AppError {
    let reset = Utc::now() + chrono::Duration::from_std(decision.reset).unwrap_or_default();
    AppError::RateLimited {
        retry_after: decision.reset.as_secs_f64().ceil().max(1.0) as u64,
        reset_time: jsontime::iso(reset),
    }
}

/// Writes the allowance headers. The reset instant is rounded up to the whole second (the
/// allowance is whole by then), so it and the policy, which change rarely for one caller, are
/// formatted once per worker thread and reused.
fn add_headers(headers: &mut HeaderMap, group: Group, d: &Decision) {
    thread_local! {
        static RESET: Memo<i64> = const { RefCell::new(None) };
        static POLICY: Memo<(Group, u32, u64)> =
            const { RefCell::new(None) };
    }
    let name = group.name();
    let window = d.spec.window.as_secs();
    let reset_secs = d.reset.as_secs_f64().ceil() as u64;
    let now = Utc::now();
    let reset_at = (now + chrono::Duration::from_std(d.reset).unwrap_or_default())
        .timestamp()
        .saturating_add(1);
    headers.insert("x-ratelimit-limit", HeaderValue::from(d.spec.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(d.remaining));
    if let Some(v) = memo(&RESET, reset_at, || {
        DateTime::from_timestamp(reset_at, 0).map(jsontime::iso)
    }) {
        headers.insert("x-ratelimit-reset", v);
    }
    if let Some(v) = memo(&POLICY, (group, d.spec.limit, window), || {
        Some(format!("\"{name}\";q={};w={window}", d.spec.limit))
    }) {
        headers.insert("ratelimit-policy", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";r={};t={reset_secs}", d.remaining)) {
        headers.insert("ratelimit", v);
    }
}

/// A one-entry memo of a formatted header value.
type Memo<K> = RefCell<Option<(K, HeaderValue)>>;

/// The header value for `key` from a one-entry per-thread memo, formatted on a miss.
fn memo<K: PartialEq + Copy + 'static>(
    cell: &'static std::thread::LocalKey<Memo<K>>,
    key: K,
    format: impl FnOnce() -> Option<String>,
) -> Option<HeaderValue> {
    cell.with(|c| {
        let mut c = c.borrow_mut();
        if let Some((k, v)) = c.as_ref()
            && *k == key
        {
            return Some(v.clone());
        }
        let v = HeaderValue::from_str(&format()?).ok()?;
        *c = Some((key, v.clone()));
        Some(v)
    })
}
