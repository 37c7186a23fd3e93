//! Cross-instance invalidation: every instance subscribes to `<prefix>invalidate` and drops
//! from its memory what other instances invalidated or cleared.
//!
//! Redis pub/sub delivers at most once: a message published while this instance is
//! disconnected is lost. So on every (re)connection of the subscriber, the memory tier is
//! flushed, and while Redis is away memory entries live only `DEGRADED_MEMORY_TTL`.

use fred::{
    clients::SubscriberClient,
    interfaces::{ClientLike, EventInterface, PubsubInterface},
    types::config::ReconnectPolicy,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{Cache, CacheKind};
use crate::config::RedisConfig;

/// An invalidation message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Drop the entries carrying any of these tags.
    Tags(Vec<String>),
    /// Empty the memory tier, or only one cache type.
    Clear(Option<String>),
    /// "I applied your broadcast": sent to the instance named, with the broadcast's number.
    Ack(Uuid),
}

impl Message {
    /// `<instance>/<seq> tags <t1,t2>` or `<instance>/<seq> clear [TYPE]`; `seq` lets the
    /// sender recognise the echo of its own message.
    pub fn encode(&self, instance: Uuid, seq: u64) -> String {
        match self {
            Self::Tags(tags) => format!("{instance}/{seq} tags {}", tags.join(",")),
            Self::Clear(None) => format!("{instance}/{seq} clear"),
            Self::Clear(Some(kind)) => format!("{instance}/{seq} clear {kind}"),
            Self::Ack(to) => format!("{instance}/{seq} ack {to}"),
        }
    }

    /// Parses [`Message::encode`]'s output: the sender, its sequence number and the message.
    pub fn decode(text: &str) -> Option<(Uuid, u64, Self)> {
        let mut parts = text.splitn(3, ' ');
        let (sender, seq) = parts.next()?.split_once('/')?;
        let (sender, seq) = (sender.parse().ok()?, seq.parse().ok()?);
        let message = match (parts.next()?, parts.next()) {
            ("tags", Some(tags)) => Self::Tags(
                tags.split(',')
                    .filter(|t| !t.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            ("clear", kind) => Self::Clear(kind.map(str::to_owned)),
            ("ack", Some(to)) => Self::Ack(to.parse().ok()?),
            _ => return None,
        };
        Some((sender, seq, message))
    }
}

/// Subscribes and applies other instances' messages until `stop` is cancelled.
pub async fn listen(cache: Cache, cfg: RedisConfig, stop: CancellationToken) {
    let subscriber = match build(&cfg) {
        Ok(s) => s,
        Err(err) => {
            tracing::error!(error = %err, "cannot build the cache invalidation subscriber");
            return;
        }
    };
    let channel = cache.shared().channel();
    let mut messages = subscriber.message_rx();
    let mut reconnects = subscriber.reconnect_rx();
    subscriber.connect();
    // Re-subscribes by itself after every reconnection.
    let _manager = subscriber.manage_subscriptions();
    let first = async {
        subscriber.wait_for_connect().await?;
        subscriber.subscribe(channel.clone()).await
    };
    match tokio::time::timeout(cfg.redis_connect_timeout * 2, first).await {
        // Only a subscribed instance announces itself: writers then wait for its ack.
        Ok(Ok(())) => cache.heartbeat().await,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, "subscribing to cache invalidations failed; will retry on reconnect")
        }
        Err(_) => tracing::debug!(
            "Redis not reachable yet for cache invalidations; will subscribe on connect"
        ),
    }
    cache.subscription_settled();
    // The first "reconnection" event is the initial connection: nothing was missed yet.
    let mut connected_before = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            Ok(_) = reconnects.recv() => {
                if !std::mem::replace(&mut connected_before, true) {
                    continue;
                }
                // Messages published while we were away are lost: start afresh.
                let n = cache.clear_memory(None).await;
                cache.heartbeat().await;
                tracing::info!(entries = n, "cache invalidation channel reconnected: flushed the memory tier");
            }
            Ok(message) = messages.recv() => {
                let Some(text) = message.value.as_string() else { continue };
                let Some((sender, seq, message)) = Message::decode(&text) else { continue };
                if sender == cache.instance() {
                    continue;
                }
                match message {
                    Message::Tags(tags) => {
                        cache.invalidate_local(&tags);
                        cache.acknowledge(sender, seq).await;
                    }
                    Message::Clear(kind) => {
                        cache.clear_memory(kind.as_deref().and_then(CacheKind::parse)).await;
                        cache.acknowledge(sender, seq).await;
                    }
                    Message::Ack(to) if to == cache.instance() => cache.acked(seq, sender),
                    Message::Ack(_) => {}
                }
            }
        }
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), subscriber.quit()).await;
}

fn build(cfg: &RedisConfig) -> anyhow::Result<SubscriberClient> {
    let config = cfg.fred_config()?;
    let client = fred::types::Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = cfg.redis_connect_timeout;
            c.internal_command_timeout = cfg.redis_connect_timeout;
        })
        .with_performance_config(|p| p.default_command_timeout = cfg.redis_connect_timeout)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .build_subscriber_client()?;
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let id = Uuid::new_v4();
        for m in [
            Message::Tags(vec!["courses".into(), "course:x".into()]),
            Message::Clear(None),
            Message::Clear(Some("COURSE_LIST".into())),
            Message::Ack(Uuid::new_v4()),
        ] {
            assert_eq!(Message::decode(&m.encode(id, 7)), Some((id, 7, m)));
        }
        assert_eq!(Message::decode("garbage"), None);
    }
}
