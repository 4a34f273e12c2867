//! Results: one row per measured workload, rendered as Markdown tables and JSON.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::cli::Plan;
use crate::goals::{self, Goal};
use crate::server::ServerKind;

/// One measured workload on one server.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Stable id, e.g. `put-64MiB-c4`; goals are looked up by it.
    pub id: String,
    pub label: String,
    /// Unit of `value`: MiB/s, ops/s, keys/s, s or MiB.
    pub unit: &'static str,
    pub value: f64,
    pub goal: Option<Goal>,
    pub ops: u64,
    pub wall_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub server_cpu_s: f64,
    pub client_cpu_s: f64,
    /// CPU used by other processes on the machine meanwhile.
    pub other_cpu_s: f64,
    pub server_peak_rss_mib: f64,
    pub note: String,
}

impl Row {
    /// Server CPU microseconds per request.
    #[must_use]
    pub fn server_us_per_op(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            self.server_cpu_s * 1e6 / self.ops as f64
        }
    }
}

/// All rows of one server.
#[derive(Debug, Serialize)]
pub struct TargetReport {
    pub target: ServerKind,
    pub rows: Vec<Row>,
    /// Whether VmHWM could be reset before each workload (else per-workload peaks are peaks
    /// since start).
    pub peak_reset: bool,
}

impl TargetReport {
    /// Adds the summary rows: peak RSS over the workloads (the big upload apart) and during
    /// the big upload.
    pub fn add_rss_summary(&mut self) {
        let (big, rest): (Vec<&Row>, Vec<&Row>) =
            self.rows.iter().partition(|r| r.id == "big-upload");
        let mut summary = Vec::new();
        if let Some(peak) = rest.iter().map(|r| r.server_peak_rss_mib).reduce(f64::max) {
            summary.push(rss_row("rss-workloads", "Server peak RSS, workloads", peak));
        }
        if let Some(big) = big.first() {
            summary.push(rss_row(
                "rss-big-upload",
                &format!("Server peak RSS, {}", big.label),
                big.server_peak_rss_mib,
            ));
        }
        self.rows.extend(summary);
    }
}

fn rss_row(id: &str, label: &str, mib: f64) -> Row {
    let mut row = summary_row(id, label, "MiB", mib);
    row.server_peak_rss_mib = mib;
    row
}

/// A row computed from other rows (a ratio, a peak): it appears in the summary table only.
#[must_use]
pub fn summary_row(id: &str, label: &str, unit: &'static str, value: f64) -> Row {
    Row {
        id: id.into(),
        label: label.into(),
        unit,
        value,
        goal: goals::lookup(id),
        ops: 0,
        wall_s: 0.0,
        p50_ms: 0.0,
        p99_ms: 0.0,
        server_cpu_s: 0.0,
        client_cpu_s: 0.0,
        other_cpu_s: 0.0,
        server_peak_rss_mib: 0.0,
        note: String::new(),
    }
}

#[derive(Debug, Serialize)]
pub struct Report<'a> {
    pub plan: &'a Plan,
    pub cpus: usize,
    /// `/proc/loadavg` when the run started.
    pub load_at_start: String,
    pub targets: &'a [TargetReport],
}

impl Report<'_> {
    pub fn write_json(&self, path: &Path) -> crate::error::Result<()> {
        let file = std::fs::File::create(path)?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), self)?;
        Ok(())
    }

    /// A summary table (goal, value per server) followed by one detail table per server.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} CPUs, load average at start {}; hot-path client: {:?}. \"Other CPU s\" is CPU \
             that other processes used during a workload (noise on a shared machine).\n",
            self.cpus, self.load_at_start, self.plan.client
        );
        let names: Vec<String> = self.targets.iter().map(|t| t.target.to_string()).collect();
        let _ = writeln!(out, "| Workload | Unit | Goal | {} |", names.join(" | "));
        let _ = writeln!(out, "|---|---|---|{}", "---:|".repeat(names.len()));
        // Every id any target reported, in order of first appearance (a target may lack some:
        // the tier workloads run on vmgw only).
        let mut ids: Vec<&Row> = Vec::new();
        for row in self.targets.iter().flat_map(|t| &t.rows) {
            if !ids.iter().any(|r| r.id == row.id) {
                ids.push(row);
            }
        }
        for row in ids {
            let cells: Vec<String> = self
                .targets
                .iter()
                .map(|t| {
                    t.rows.iter().find(|r| r.id == row.id).map_or_else(
                        || "–".into(),
                        |r| match r.goal {
                            Some(g) if g.met(r.value) => format!("{} ✅", num(r.value)),
                            Some(_) => format!("{} ❌", num(r.value)),
                            None => num(r.value),
                        },
                    )
                })
                .collect();
            let goal = row.goal.map_or_else(String::new, |g| g.to_string());
            let _ = writeln!(
                out,
                "| {} | {} | {goal} | {} |",
                row.label,
                row.unit,
                cells.join(" | ")
            );
        }
        for target in self.targets {
            let _ = writeln!(out, "\n**{}** (per workload)\n", target.target);
            let _ = writeln!(
                out,
                "| Workload | Result | Requests | Wall s | p50 ms | p99 ms | Server CPU s | \
                 Server CPU µs/req | Client CPU s | Other CPU s | Server peak RSS MiB | Notes |"
            );
            let _ = writeln!(
                out,
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
            );
            for r in target.rows.iter().filter(|r| r.ops > 0) {
                let _ = writeln!(
                    out,
                    "| {} | {} {} | {} | {:.2} | {} | {} | {:.2} | {} | {:.2} | {:.2} | {:.1} | {} |",
                    r.label,
                    num(r.value),
                    r.unit,
                    r.ops,
                    r.wall_s,
                    ms(r.p50_ms),
                    ms(r.p99_ms),
                    r.server_cpu_s,
                    num(r.server_us_per_op()),
                    r.client_cpu_s,
                    r.other_cpu_s,
                    r.server_peak_rss_mib,
                    r.note
                );
            }
            if !target.peak_reset {
                let _ = writeln!(
                    out,
                    "\n(VmHWM could not be reset: per-workload peaks are peaks since start)"
                );
            }
        }
        out
    }
}

/// A number with 3–4 significant digits and thousands separators.
#[must_use]
pub fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        let n = v.round() as i64;
        let digits = n.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if n < 0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::num;

    #[test]
    fn formats_numbers() {
        assert_eq!(num(150_000.4), "150,000");
        assert_eq!(num(1234.0), "1,234");
        assert_eq!(num(340.0), "340");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(1.234), "1.23");
    }
}
