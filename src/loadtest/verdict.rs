//! The verdict: each figure against the seed documents' targets (with their Excellent / Good /
//! Fair bands) and against our own, stricter ones.

use serde::Serialize;

/// A seed document's band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Band {
    Excellent,
    Good,
    Fair,
    Poor,
}

impl std::fmt::Display for Band {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Excellent => "Excellent",
            Self::Good => "Good",
            Self::Fair => "Fair",
            Self::Poor => "Poor",
        })
    }
}

/// Where a lower value is better: `value` under `excellent` is Excellent, and so on.
pub fn band_below(value: f64, excellent: f64, good: f64, fair: f64) -> Band {
    if value < excellent {
        Band::Excellent
    } else if value < good {
        Band::Good
    } else if value < fair {
        Band::Fair
    } else {
        Band::Poor
    }
}

/// Where a higher value is better: `value` at or over `excellent` is Excellent, and so on.
pub fn band_at_least(value: f64, excellent: f64, good: f64, fair: f64) -> Band {
    if value >= excellent {
        Band::Excellent
    } else if value >= good {
        Band::Good
    } else if value >= fair {
        Band::Fair
    } else {
        Band::Poor
    }
}

/// One line of the verdict.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub figure: String,
    pub value: String,
    /// The seed documents' band, where they set one for this figure.
    pub seed_band: Option<Band>,
    pub seed_targets: String,
    pub our_target: String,
    /// `None` when we set no target for this figure (informational).
    pub our_target_met: Option<bool>,
}

/// The verdict's summary line.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// The worst seed band over the rows that have one.
    pub seed_grade: Option<Band>,
    pub our_targets_met: usize,
    pub our_targets: usize,
}

/// Sums up the rows.
pub fn summary(rows: &[Row]) -> Summary {
    Summary {
        seed_grade: rows.iter().filter_map(|r| r.seed_band).max(),
        our_targets_met: rows
            .iter()
            .filter(|r| r.our_target_met == Some(true))
            .count(),
        our_targets: rows.iter().filter(|r| r.our_target_met.is_some()).count(),
    }
}

/// The verdict as a text table.
pub fn table(rows: &[Row]) -> String {
    let headers = [
        "figure",
        "value",
        "seed band",
        "seed targets (E / G / F)",
        "our target",
        "met",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.figure.clone(),
                r.value.clone(),
                r.seed_band
                    .map_or_else(|| "-".to_owned(), |b| b.to_string()),
                r.seed_targets.clone(),
                r.our_target.clone(),
                match r.our_target_met {
                    Some(true) => "yes".to_owned(),
                    Some(false) => "NO".to_owned(),
                    None => "-".to_owned(),
                },
            ]
        })
        .collect();
    let mut widths = headers.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        cols.iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join(" | ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(&headers.map(str::to_owned));
    out.push('\n');
    out.push_str(&widths.map(|w| "-".repeat(w)).join("-|-"));
    for row in &cells {
        out.push('\n');
        out.push_str(&line(row));
    }
    let s = summary(rows);
    out.push_str(&format!(
        "\n\nseed grade (worst band): {}; our targets met: {} of {}",
        s.seed_grade
            .map_or_else(|| "-".to_owned(), |b| b.to_string()),
        s.our_targets_met,
        s.our_targets
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_follow_the_seed_tables() {
        // Response time: < 100 ms Excellent, < 200 Good, < 500 Fair.
        assert_eq!(band_below(99.9, 100.0, 200.0, 500.0), Band::Excellent);
        assert_eq!(band_below(100.0, 100.0, 200.0, 500.0), Band::Good);
        assert_eq!(band_below(499.0, 100.0, 200.0, 500.0), Band::Fair);
        assert_eq!(band_below(500.0, 100.0, 200.0, 500.0), Band::Poor);
        // Concurrent users: 2000+ Excellent, 1000+ Good, 500+ Fair.
        assert_eq!(
            band_at_least(2000.0, 2000.0, 1000.0, 500.0),
            Band::Excellent
        );
        assert_eq!(band_at_least(1999.0, 2000.0, 1000.0, 500.0), Band::Good);
        assert_eq!(band_at_least(499.0, 2000.0, 1000.0, 500.0), Band::Poor);
    }

    #[test]
    fn the_summary_takes_the_worst_band_and_counts_targets() {
        let row = |band, met| Row {
            figure: "f".into(),
            value: "v".into(),
            seed_band: band,
            seed_targets: String::new(),
            our_target: String::new(),
            our_target_met: met,
        };
        let rows = [
            row(Some(Band::Excellent), Some(true)),
            row(Some(Band::Fair), Some(false)),
            row(None, None),
        ];
        let s = summary(&rows);
        assert_eq!(s.seed_grade, Some(Band::Fair));
        assert_eq!((s.our_targets_met, s.our_targets), (1, 2));
        let t = table(&rows);
        assert!(
            t.contains("NO") && t.contains("our targets met: 1 of 2"),
            "{t}"
        );
    }
}
