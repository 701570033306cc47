//! The process's own figures, read from `/proc/self` at scrape time by a
//! [`Collector`]: CPU time, resident and virtual memory, open and maximum file
//! descriptors, start time. The names are the ones every Prometheus client
//! library exports, so existing dashboards work. On a system without `/proc`,
//! the figures that cannot be read are left out.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

/// Clock ticks per second of the times in `/proc/PID/stat`: `USER_HZ`, fixed
/// at 100 in the kernel's user-space ABI on every architecture wisp runs on.
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says of the process.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessFigures {
    /// User and system CPU time, seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size, bytes.
    pub virtual_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// Start time, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
}

impl ProcessFigures {
    /// Reads them now.
    pub fn read() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).ok();
        let stat = read("/proc/self/stat").and_then(|s| parse_stat(&s));
        let status = read("/proc/self/status");
        let status_bytes = |field: &str| status.as_deref().and_then(|s| status_kib(s, field));
        let boot = read("/proc/stat").and_then(|s| boot_time(&s));
        ProcessFigures {
            cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / USER_HZ),
            resident_bytes: status_bytes("VmRSS").map(|k| k << 10),
            virtual_bytes: status_bytes("VmSize").map(|k| k << 10),
            open_fds: std::fs::read_dir("/proc/self/fd")
                .ok()
                .map(|d| d.count() as u64),
            max_fds: read("/proc/self/limits").and_then(|s| max_open_files(&s)),
            start_time_seconds: stat
                .zip(boot)
                .map(|(s, boot)| boot as f64 + s.starttime as f64 / USER_HZ),
        }
    }
}

/// The fields of `/proc/PID/stat` wisp reads, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
}

/// Parses `/proc/PID/stat`. The command name (field 2) is in parentheses and
/// may hold spaces and parentheses itself, so fields are counted from the last
/// `)`: field 3 (state) is the first after it.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field N of proc(5) is fields[N - 3].
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
    })
}

/// A `Name:   1234 kB` line of `/proc/PID/status`, in KiB.
fn status_kib(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// `btime` of `/proc/stat`: when the machine booted, seconds since the epoch.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of `Max open files` in `/proc/PID/limits` (`None` when
/// unlimited).
fn max_open_files(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Encodes [`ProcessFigures`], read at each scrape.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let p = ProcessFigures::read();
        if let Some(v) = p.cpu_seconds {
            encoder
                .encode_descriptor(
                    "process_cpu",
                    "Total user and system CPU time spent",
                    Some(&Unit::Seconds),
                    MetricType::Counter,
                )?
                .encode_counter::<NoLabelSet, _, f64>(&v, None)?;
        }
        let gauges: [(&str, &str, Option<Unit>, Option<u64>); 4] = [
            (
                "process_resident_memory",
                "Resident memory size",
                Some(Unit::Bytes),
                p.resident_bytes,
            ),
            (
                "process_virtual_memory",
                "Virtual memory size",
                Some(Unit::Bytes),
                p.virtual_bytes,
            ),
            (
                "process_open_fds",
                "Open file descriptors",
                None,
                p.open_fds,
            ),
            (
                "process_max_fds",
                "Most open file descriptors allowed (the soft limit)",
                None,
                p.max_fds,
            ),
        ];
        for (name, help, unit, value) in &gauges {
            if let Some(v) = value {
                encoder
                    .encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?
                    .encode_gauge(v)?;
            }
        }
        if let Some(v) = p.start_time_seconds {
            encoder
                .encode_descriptor(
                    "process_start_time",
                    "Start time of the process since the Unix epoch",
                    Some(&Unit::Seconds),
                    MetricType::Gauge,
                )?
                .encode_gauge(&v)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // A command name with a space and a parenthesis of its own.
        let line = "4242 (wisp (x) y) S 1 4242 4242 0 -1 4194560 1093 0 0 0 \
                    250 75 0 0 20 0 3 0 123456 1048576 512 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                utime: 250,
                stime: 75,
                starttime: 123456
            })
        );
        assert_eq!(parse_stat("12 (short) S 1"), None);
    }

    #[test]
    fn status_limits_and_boot_time_parse() {
        let status = "Name:\twisp\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(2048));
        assert_eq!(status_kib(status, "VmSize"), Some(123_456));
        assert_eq!(status_kib(status, "VmHWM"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1764000000\n"),
            Some(1_764_000_000)
        );
    }

    #[test]
    fn this_process_can_be_read() {
        let p = ProcessFigures::read();
        assert!(p.resident_bytes.unwrap() > 0);
        assert!(p.open_fds.unwrap() > 0);
        assert!(p.cpu_seconds.is_some());
        assert!(p.start_time_seconds.unwrap() > 1e9);
    }
}
