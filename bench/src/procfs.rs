//! Process figures from `/proc`: CPU seconds (utime + stime), resident set size and its
//! high-water mark, and a background sampler of the peak.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{BenchError, Result};

/// A process to observe (the server, or the benchmark itself).
#[derive(Debug, Clone, Copy)]
pub struct Proc {
    pub pid: u32,
}

impl Proc {
    #[must_use]
    pub fn new(pid: u32) -> Self {
        Self { pid }
    }

    /// This benchmark process (the client side).
    #[must_use]
    pub fn current() -> Self {
        Self::new(std::process::id())
    }

    fn read(&self, file: &str) -> Result<String> {
        std::fs::read_to_string(format!("/proc/{}/{file}", self.pid)).map_err(|source| {
            BenchError::Proc {
                pid: self.pid,
                source,
            }
        })
    }

    /// User + system CPU seconds used so far (all threads).
    pub fn cpu_seconds(&self) -> Result<f64> {
        let stat = self.read("stat")?;
        // The command name (field 2) may contain spaces; fields after it are plain.
        let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after_comm.split_whitespace().collect();
        // after_comm starts at field 3 (state); utime and stime are fields 14 and 15.
        let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<u64>().ok());
        match (ticks(14), ticks(15)) {
            (Some(utime), Some(stime)) => Ok((utime + stime) as f64 / clock_ticks_per_sec()),
            _ => Err(BenchError::Check(format!(
                "unexpected /proc/{}/stat: {stat}",
                self.pid
            ))),
        }
    }

    /// `(VmRSS, VmHWM)` in bytes.
    pub fn rss(&self) -> Result<(u64, u64)> {
        let status = self.read("status")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    /// Resets VmHWM to the current RSS (`echo 5 > clear_refs`, Linux ≥ 4.0). Returns whether it
    /// worked; when not, VmHWM stays the peak since the process started.
    #[must_use]
    pub fn reset_peak(&self) -> bool {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok()
    }
}

/// CPU seconds all processes on the machine have used since boot (user, nice, system, irq,
/// softirq; from the first line of `/proc/stat`).
pub fn machine_busy_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat")
        .map_err(|source| BenchError::Proc { pid: 0, source })?;
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq
    let busy: u64 = [0, 1, 2, 5, 6].iter().filter_map(|&i| ticks.get(i)).sum();
    Ok(busy as f64 / clock_ticks_per_sec())
}

/// `getconf CLK_TCK` (asked once), 100 when unavailable (the value on every Linux this runs on).
fn clock_ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// Samples a process's RSS every few milliseconds on its own thread and keeps the maximum of
/// VmRSS and VmHWM seen since the last [`RssSampler::take_peak`].
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    #[must_use]
    pub fn start(proc: Proc, every: Duration) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Ok((rss, hwm)) = proc.rss() {
                        peak.fetch_max(rss.max(hwm), Ordering::Relaxed);
                    }
                    std::thread::sleep(every);
                }
            })
        };
        Self {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak since the previous call, and starts a new interval.
    pub fn take_peak(&self) -> u64 {
        self.peak.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
