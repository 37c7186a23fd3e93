//! Delivery of operators' messages: one bounded queue and one task per operator, so that a chat
//! under flood control delays no other and each chat gets its messages in order.
//!
//! Each message is retried on transport failures and 5xx with capped exponential backoff (with
//! jitter), after exactly the `retry_after` a 429 names, and given up when the Bot API refuses it
//! for good (a 4xx other than 429: bad token, chat not found, bot blocked) or when the next try
//! would fall outside `NOTIFY_RETRY_WINDOW`. Queuing never waits: a full queue drops the message
//! and counts it. Messages to one chat are spaced by a second, Telegram's pace for one chat.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use rand::Rng;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::telegram::{BotApi, BotApiError};

/// Messages that may wait for one operator.
const QUEUE: usize = 32;
/// First backoff after a failure; doubled each time up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest backoff between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Telegram's pace for one chat: about one message a second (reliability §1, API4).
const PACE: Duration = Duration::from_secs(1);

/// The queues, one per operator.
pub struct Delivery {
    api: Option<BotApi>,
    queues: Vec<(i64, mpsc::Sender<Arc<str>>)>,
    receivers: Mutex<Vec<mpsc::Receiver<Arc<str>>>>,
    window: Duration,
    counters: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    queued: AtomicUsize,
}

/// Delivery figures.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryStats {
    /// Messages delivered.
    pub sent: u64,
    /// Messages given up.
    pub failed: u64,
    /// Messages dropped for a full queue.
    pub dropped: u64,
    /// Retried attempts.
    pub retries: u64,
    /// 429s honoured.
    pub rate_limited: u64,
    /// Messages waiting.
    pub queued: usize,
}

impl Delivery {
    /// Queues for `operators` through `api` (none without a bot).
    pub fn new(api: Option<BotApi>, operators: &[i64], window: Duration) -> Self {
        let mut queues = Vec::new();
        let mut receivers = Vec::new();
        if api.is_some() {
            for &chat in operators {
                let (tx, rx) = mpsc::channel(QUEUE);
                queues.push((chat, tx));
                receivers.push(rx);
            }
        }
        Self {
            api,
            queues,
            receivers: Mutex::new(receivers),
            window,
            counters: Arc::default(),
        }
    }

    /// Starts one delivery task per operator (once).
    pub fn start(&self, stop: &CancellationToken) {
        let Some(api) = &self.api else { return };
        let receivers = self
            .receivers
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        for ((chat, _), rx) in self.queues.iter().zip(receivers) {
            tokio::spawn(worker(
                api.clone(),
                *chat,
                rx,
                self.window,
                self.counters.clone(),
                stop.clone(),
            ));
        }
    }

    /// Whether there is anyone to tell and a bot to tell them with.
    pub fn enabled(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Operators told.
    pub fn operators(&self) -> usize {
        self.queues.len()
    }

    /// Queues `html` for every operator, without waiting; returns how many queues took it.
    pub fn broadcast(&self, html: &str) -> usize {
        let text: Arc<str> = Arc::from(html);
        let mut accepted = 0;
        for (chat, queue) in &self.queues {
            match queue.try_send(text.clone()) {
                Ok(()) => {
                    accepted += 1;
                    self.counters.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        chat_id = chat,
                        "operator message dropped: the queue is full (the Bot API is not keeping up)"
                    );
                }
            }
        }
        accepted
    }

    /// Figures now.
    pub fn stats(&self) -> DeliveryStats {
        let c = &self.counters;
        DeliveryStats {
            sent: c.sent.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            queued: c.queued.load(Ordering::Relaxed),
        }
    }
}

/// Delivers one operator's messages in order until the service stops.
async fn worker(
    api: BotApi,
    chat: i64,
    mut rx: mpsc::Receiver<Arc<str>>,
    window: Duration,
    counters: Arc<Counters>,
    stop: CancellationToken,
) {
    loop {
        let text = tokio::select! {
            () = stop.cancelled() => return,
            next = rx.recv() => match next {
                Some(text) => text,
                None => return,
            },
        };
        let started = Instant::now();
        let delivered = tokio::select! {
            () = stop.cancelled() => return,
            ok = deliver(&api, chat, &text, window, &counters) => ok,
        };
        counters.queued.fetch_sub(1, Ordering::Relaxed);
        if delivered {
            counters.sent.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.failed.fetch_add(1, Ordering::Relaxed);
        }
        let pause = PACE.saturating_sub(started.elapsed());
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Sends `text` to `chat`, retrying within `window`; whether it was delivered.
async fn deliver(
    api: &BotApi,
    chat: i64,
    text: &str,
    window: Duration,
    counters: &Counters,
) -> bool {
    let give_up_at = Instant::now() + window;
    let mut backoff = FIRST_BACKOFF;
    let mut attempt = 1u32;
    loop {
        let Err(err) = api.send_message(chat, text).await else {
            return true;
        };
        if err.is_permanent() {
            tracing::warn!(chat_id = chat, error = %err, "operator message refused by the Bot API; not retried");
            return false;
        }
        let wait = match err.retry_after() {
            Some(wait) => {
                counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                wait
            }
            None => {
                let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 4);
                let wait = backoff + Duration::from_millis(jitter);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        if Instant::now() + wait > give_up_at {
            tracing::warn!(
                chat_id = chat,
                attempts = attempt,
                error = %err,
                "operator message given up: NOTIFY_RETRY_WINDOW passed"
            );
            return false;
        }
        log_retry(chat, attempt, wait, &err);
        counters.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn log_retry(chat: i64, attempt: u32, wait: Duration, err: &BotApiError) {
    tracing::info!(
        chat_id = chat,
        attempt,
        retry_in_ms = wait.as_millis() as u64,
        error = %err,
        "operator message not delivered yet; retrying"
    );
}
