//! Load shedding (API.md §5 "Overload"): at most `MAX_CONCURRENT_REQUESTS` requests run at
//! once; up to `MAX_QUEUED_REQUESTS` more may wait `QUEUE_TIMEOUT` for a slot; anything beyond is
//! answered 503 with `Retry-After` at once. Admitted requests keep their latency instead of
//! every request slowing down until all of them time out.
//!
//! Health checks and metrics are never shed: an overloaded instance is alive, and saying so
//! keeps Render from restarting it.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    extract::{MatchedPath, Request, State},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Paths that are always served.
const EXEMPT: &[&str] = &["/api/health", "/api/performance/health", "/metrics"];

/// The admission state shared by all requests.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    capacity: usize,
    max_queued: usize,
    queue_timeout: Duration,
    queued: AtomicUsize,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    shed: AtomicU64,
}

/// Admission figures.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionStats {
    /// Requests running now.
    pub in_flight: usize,
    /// Most requests running at once since start.
    pub peak_in_flight: usize,
    /// Requests waiting for a slot now.
    pub queued: usize,
    /// Requests answered 503 because the instance was full.
    pub shed: u64,
    /// `MAX_CONCURRENT_REQUESTS`.
    pub capacity: usize,
}

impl Admission {
    /// Room for `capacity` concurrent requests and `max_queued` waiting ones.
    pub fn new(capacity: usize, max_queued: usize, queue_timeout: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(capacity)),
            capacity,
            max_queued,
            queue_timeout,
            queued: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            shed: AtomicU64::new(0),
        }
    }

    /// Restarts the peak from the requests in flight now and zeroes the shed count.
    pub fn reset_peak(&self) {
        self.peak
            .store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        self.shed.store(0, Ordering::Relaxed);
    }

    /// Current figures.
    pub fn stats(&self) -> AdmissionStats {
        AdmissionStats {
            in_flight: self.in_flight.load(Ordering::Relaxed),
            peak_in_flight: self.peak.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
            capacity: self.capacity,
        }
    }

    fn overloaded(&self) -> Response {
        self.shed.fetch_add(1, Ordering::Relaxed);
        AppError::Unavailable {
            retry_after: 1,
            message: "the service is at capacity, please retry",
            code: "overloaded",
        }
        .into_response()
    }
}

/// One unit of a counter, given back when dropped: however the request ends, including a client
/// that disconnects while it waits or runs (its future is dropped at the `.await`), the figure
/// goes back down.
struct Counted<'a>(&'a AtomicUsize);

impl<'a> Counted<'a> {
    fn new(counter: &'a AtomicUsize) -> (Self, usize) {
        let before = counter.fetch_add(1, Ordering::AcqRel);
        (Self(counter), before)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Admits the request, queues it briefly, or sheds it.
pub async fn admit(State(admission): State<Arc<Admission>>, req: Request, next: Next) -> Response {
    let exempt = req
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|p| EXEMPT.contains(&p.as_str()));
    if exempt {
        return next.run(req).await;
    }
    let permit = match admission.slots.clone().try_acquire_owned() {
        Ok(p) => p,
        Err(_) => {
            // A short, bounded queue absorbs bursts; a longer one would only add latency.
            let (queued, before) = Counted::new(&admission.queued);
            if before >= admission.max_queued {
                drop(queued);
                return admission.overloaded();
            }
            let waited = tokio::time::timeout(
                admission.queue_timeout,
                admission.slots.clone().acquire_owned(),
            )
            .await;
            drop(queued);
            match waited {
                Ok(Ok(p)) => p,
                _ => return admission.overloaded(),
            }
        }
    };
    let (running, before) = Counted::new(&admission.in_flight);
    admission.peak.fetch_max(before + 1, Ordering::Relaxed);
    let response = next.run(req).await;
    drop(running);
    drop(permit);
    response
}
