//! Reading a process's CPU time and memory from `/proc`, and latency percentiles.

use std::fmt;
use std::time::Duration;

/// CPU time and memory of a process at one moment.
pub struct ProcessUsage {
    /// User + system CPU time so far.
    pub cpu_seconds: f64,
    pub rss_kb: u64,
    /// The largest resident set so far (VmHWM).
    pub peak_rss_kb: u64,
}

impl ProcessUsage {
    pub fn read(pid: u32) -> Self {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks: f64 = fields.get(11).and_then(|t| t.parse().ok()).unwrap_or(0.0)
            + fields
                .get(12)
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(0.0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = |key: &str| {
            status
                .lines()
                .find(|line| line.starts_with(key))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|value| value.parse().ok())
                .unwrap_or(0)
        };
        ProcessUsage {
            cpu_seconds: ticks / clock_ticks(),
            rss_kb: kb("VmRSS:"),
            peak_rss_kb: kb("VmHWM:"),
        }
    }
}

/// User + system CPU time so far of every process named `postgres` on this machine (the
/// server's backends, WAL writer, checkpointer…): run on a machine whose PostgreSQL serves
/// the benchmark alone. A backend that exited between two readings is not counted.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| ProcessUsage::read(pid).cpu_seconds)
        .sum()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100.0)
}

pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

/// p50/p95/p99/max of a set of durations.
pub struct Percentiles(Vec<Duration>);

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Percentiles(samples)
    }

    fn at(&self, quantile: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.0.len() as f64 * quantile).ceil() as usize).clamp(1, self.0.len()) - 1;
        self.0[index]
    }
}

impl fmt::Display for Percentiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        write!(
            f,
            "p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} samples)",
            ms(self.at(0.50)),
            ms(self.at(0.95)),
            ms(self.at(0.99)),
            ms(self.at(1.0)),
            self.0.len()
        )
    }
}
