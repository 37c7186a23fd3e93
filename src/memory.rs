//! Process memory figures: resident set size from `/proc`, heap figures from jemalloc.

use serde::Serialize;
use utoipa::ToSchema;

/// Memory of this process, in bytes (the shape of Node's `process.memoryUsage()`).
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryUsage {
    /// Resident set size.
    pub rss: u64,
    /// Bytes allocated by the application.
    pub heap_used: u64,
    /// Bytes the allocator holds in resident pages.
    pub heap_total: u64,
}

/// Reads the current figures. Cheap: one small `/proc` read and two jemalloc reads.
pub fn usage() -> MemoryUsage {
    let (heap_used, heap_total) = jemalloc_stats().unwrap_or_default();
    MemoryUsage {
        rss: rss_bytes().unwrap_or(0),
        heap_used,
        heap_total,
    }
}

fn jemalloc_stats() -> Option<(u64, u64)> {
    use tikv_jemalloc_ctl::{epoch, stats};
    // Statistics are cached per epoch; advancing it refreshes them.
    epoch::advance().ok()?;
    let allocated = stats::allocated::read().ok()? as u64;
    let resident = stats::resident::read().ok()? as u64;
    Some((allocated, resident))
}

/// Resident set size from `/proc/self/status` (Linux); `None` elsewhere.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
