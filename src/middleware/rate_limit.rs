//! Applies [`crate::ratelimit`] to every API route and writes the answers of API.md §5: the
//! remaining allowance on every response (`X-RateLimit-*` and the IETF draft's `RateLimit` /
//! `RateLimit-Policy`), and a 429 with `Retry-After` beyond it.

use std::net::IpAddr;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::client_ip::ClientIp;
use crate::{
    error::AppError,
    extract::auth::bearer_token,
    jsontime,
    ratelimit::{Decision, Group, Identity, RateRequest},
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
        .and_then(|p| Group::of(p.as_str()))
    else {
        return next.run(req).await;
    };
    let ip = req
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.0);
    let ip_key = ip_key(ip);
    // A verified session token identifies the user (no database lookup here); anything else,
    // including a forged or expired token, is counted by address.
    let claims = bearer_token(req.headers()).and_then(|t| state.jwt.verify(t));
    let (identity, key, role_multiplier) = match &claims {
        Some(c) => (
            Identity::User,
            format!("u:{}", c.sub),
            state.config.limits.role_multiplier(&c.role),
        ),
        None => (Identity::Ip, format!("ip:{ip_key}"), 1.0),
    };
    let rate = RateRequest {
        group,
        identity,
        key,
        ip: ip_key,
        cost: 1,
        role_multiplier,
    };
    let decision = state.limits.check_request(&rate).await;
    // Bulk handlers charge their extra items against the same allowance.
    let mut req = req;
    req.extensions_mut().insert(rate);
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        refused(&decision)
    };
    add_headers(response.headers_mut(), group, &decision);
    response
}

/// IPv6 clients are keyed by their /64: one host usually holds a whole /64.
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
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

fn add_headers(headers: &mut HeaderMap, group: Group, d: &Decision) {
    let reset_secs = d.reset.as_secs_f64().ceil() as u64;
    let reset_at = Utc::now() + chrono::Duration::from_std(d.reset).unwrap_or_default();
    let name = group.name();
    let pairs = [
        ("x-ratelimit-limit", d.spec.limit.to_string()),
        ("x-ratelimit-remaining", d.remaining.to_string()),
        ("x-ratelimit-reset", jsontime::iso(reset_at)),
        (
            "ratelimit-policy",
            format!(
                "\"{name}\";q={};w={}",
                d.spec.limit,
                d.spec.window.as_secs()
            ),
        ),
        (
            "ratelimit",
            format!("\"{name}\";r={};t={reset_secs}", d.remaining),
        ),
    ];
    for (k, v) in pairs {
        if let Ok(v) = HeaderValue::from_str(&v) {
            headers.insert(k, v);
        }
    }
}
