//! `wisp stats`: an action's access pattern and call figures.

use wisp_api::Stats;

use crate::client::{Client, GlobalOptions};

/// Show an action's access pattern (idle, SCMA, MCSA, MCMA), the figures it was
/// decided from, call counts and latency percentiles.
#[derive(clap::Args, Debug)]
pub struct StatsCommand {
    /// Action name.
    name: String,
    /// Print the server's JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

impl StatsCommand {
    /// Prints the stats.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let s: Stats = client.request(
            http::Method::GET,
            &format!("/api/v1/namespaces/_/actions/{}/stats", self.name),
            "application/json",
            Vec::new(),
        )?;
        if self.json {
            println!("{}", serde_json::to_string_pretty(&s)?);
        } else {
            print!("{}", render(&s));
        }
        Ok(())
    }
}

/// The human summary of a stats document.
fn render(s: &Stats) -> String {
    let f = &s.figures;
    let c = &s.calls;
    let mut out = format!(
        "{}/{}: {} (last {:.2} s)\n",
        s.namespace, s.name, s.pattern, s.window_seconds,
    );
    out += &format!(
        "  window:   {} calls from {} clients ({:.2} per client, busiest {:.2}), peak concurrency {}, hot {:.2}\n",
        f.calls, f.clients, f.calls_per_client, f.top_client_share, f.peak_concurrency, f.hot_share,
    );
    out += &format!(
        "  total:    {} calls, {} errors; {} hot, {} cold from disk, {} compiled\n",
        c.calls, c.errors, c.hot, c.cold_disk, c.cold_compiled,
    );
    if let Some(l) = &s.latency_ms {
        out += &format!(
            "  latency:  p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n",
            l.p50, l.p90, l.p99, l.max,
        );
    }
    out += &format!(
        "  memory:   {}; reserved instance slots: {}\n",
        match (s.memory.hot, s.memory.code_bytes) {
            (true, Some(b)) => format!("hot ({b} bytes of code)"),
            (true, None) => "hot".to_string(),
            (false, _) => "not in memory (cold start from disk)".to_string(),
        },
        s.reserved_slots,
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_pattern_and_figures() {
        let s: Stats = serde_json::from_value(serde_json::json!({
            "namespace": "guest", "name": "hello", "pattern": "MCSA", "window_seconds": 60.0,
            "figures": {"calls": 25, "clients": 25, "calls_per_client": 1.0, "top_client_share": 0.04,
                        "peak_concurrency": 3, "hot_share": 1.0},
            "sampled_calls": 128,
            "calls": {"calls": 30, "errors": 0, "hot": 29, "cold_disk": 1, "cold_compiled": 0},
            "in_flight": 0,
            "latency_ms": {"p50": 0.5, "p90": 0.7, "p99": 1.0, "max": 1.2},
            "memory": {"hot": true, "code_bytes": 4096}, "reserved_slots": 3
        }))
        .unwrap();
        let text = render(&s);
        assert!(
            text.starts_with("guest/hello: MCSA (last 60.00 s)\n"),
            "{text}"
        );
        assert!(text.contains("25 calls from 25 clients"), "{text}");
        assert!(text.contains("29 hot, 1 cold from disk"), "{text}");
        assert!(text.contains("p99 1.00 ms"), "{text}");
        assert!(text.contains("reserved instance slots: 3"), "{text}");
    }
}
