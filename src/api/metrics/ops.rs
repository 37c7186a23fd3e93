//! The quota and notification families of `/metrics`.

use prometheus_client::{encoding::DescriptorEncoder, metrics::MetricType, registry::Unit};

use super::{Labels, counter, family, gauge};
use crate::api::operations::Stats;

/// Writes the quota and notification families of `s`.
pub(super) fn encode(s: &Stats, enc: &mut DescriptorEncoder<'_>) -> std::fmt::Result {
    let q = &s.quota;
    let bytes = Unit::Bytes;
    let mut used: Vec<(Labels<'_>, f64)> = Vec::new();
    let mut limit: Vec<(Labels<'_>, f64)> = Vec::new();
    let mut percent: Vec<(Labels<'_>, f64)> = Vec::new();
    if let Some(db) = &q.database {
        used.push((vec![("resource", "database")], db.used_bytes as f64));
        if let (Some(l), Some(p)) = (db.limit_bytes, db.percent) {
            limit.push((vec![("resource", "database")], l as f64));
            percent.push((vec![("resource", "database")], p));
        }
    }
    if let Some(r) = &q.redis {
        used.push((vec![("resource", "redis")], r.used_bytes as f64));
        if let (Some(l), Some(p)) = (r.limit_bytes, r.percent) {
            limit.push((vec![("resource", "redis")], l as f64));
            percent.push((vec![("resource", "redis")], p));
        }
    }
    if let Some(c) = &q.connections {
        percent.push((vec![("resource", "connections")], c.percent));
    }
    family(
        enc,
        (
            "elearning_quota_used",
            "Storage used: the database's size, Redis's used_memory.",
            Some(&bytes),
            MetricType::Gauge,
        ),
        used,
        gauge,
    )?;
    family(
        enc,
        (
            "elearning_quota_limit",
            "The limit each quota is judged against: DATABASE_QUOTA_MB, Redis's limit.",
            Some(&bytes),
            MetricType::Gauge,
        ),
        limit,
        gauge,
    )?;
    family(
        enc,
        (
            "elearning_quota_usage_percent",
            "Used share of each quota's limit, in %.",
            None,
            MetricType::Gauge,
        ),
        percent,
        gauge,
    )?;
    if let Some(c) = &q.connections {
        family(
            enc,
            (
                "elearning_db_server_connections",
                "Connections of the PostgreSQL server: max_connections, reserved for superusers, open (every client), open by this service.",
                None,
                MetricType::Gauge,
            ),
            [
                (vec![("state", "max")], c.server_max as f64),
                (vec![("state", "reserved")], c.reserved as f64),
                (vec![("state", "in_use")], c.in_use as f64),
                (vec![("state", "this_service")], c.this_service as f64),
            ],
            gauge,
        )?;
    }
    let n = &s.notifications;
    family(
        enc,
        (
            "elearning_alert_changes",
            "Alert changes seen by this instance, by what became of them (announced here, announced by another instance, held back by the cool-down).",
            None,
            MetricType::Counter,
        ),
        [
            (vec![("outcome", "announced")], n.announced),
            (vec![("outcome", "elsewhere")], n.announced_elsewhere),
            (vec![("outcome", "held")], n.held),
        ],
        counter,
    )?;
    family(
        enc,
        (
            "elearning_operator_messages",
            "Messages to operators by outcome (sent, failed, dropped for a full queue).",
            None,
            MetricType::Counter,
        ),
        [
            (vec![("outcome", "sent")], n.sent),
            (vec![("outcome", "failed")], n.failed),
            (vec![("outcome", "dropped")], n.dropped),
        ],
        counter,
    )?;
    family(
        enc,
        (
            "elearning_operator_message_retries",
            "Retried deliveries of operator messages (429s honoured included).",
            None,
            MetricType::Counter,
        ),
        [(vec![], n.retries)],
        counter,
    )
}
