//! `wisp stats`: an action's access pattern and call figures.

use serde_json::Value;

use crate::client::{Client, ClientOptions};

/// Show an action's access pattern (idle, SCMA, MCSA, MCMA), the figures it was
/// decided from, call counts and latency percentiles.
#[derive(clap::Args, Debug)]
pub struct StatsCommand {
    /// Action name.
    name: String,
    /// Print the server's JSON instead of a summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    client: ClientOptions,
}

impl StatsCommand {
    /// Prints the stats.
    pub fn execute(self) -> anyhow::Result<()> {
        let client = Client::new(&self.client)?;
        let s = client.request(
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
fn render(s: &Value) -> String {
    let f = &s["figures"];
    let c = &s["calls"];
    let num = |v: &Value| v.as_f64().map_or("-".to_string(), |x| format!("{x:.2}"));
    let int = |v: &Value| v.as_u64().map_or("-".to_string(), |x| x.to_string());
    let mut out = format!(
        "{}/{}: {} (last {} s)\n",
        s["namespace"].as_str().unwrap_or("?"),
        s["name"].as_str().unwrap_or("?"),
        s["pattern"].as_str().unwrap_or("?"),
        num(&s["window_seconds"]),
    );
    out += &format!(
        "  window:   {} calls from {} clients ({} per client, busiest {}), peak concurrency {}, hot {}\n",
        int(&f["calls"]),
        int(&f["clients"]),
        num(&f["calls_per_client"]),
        num(&f["top_client_share"]),
        int(&f["peak_concurrency"]),
        num(&f["hot_share"]),
    );
    out += &format!(
        "  total:    {} calls, {} errors; {} hot, {} cold from disk, {} compiled\n",
        int(&c["calls"]),
        int(&c["errors"]),
        int(&c["hot"]),
        int(&c["cold_disk"]),
        int(&c["cold_compiled"]),
    );
    let l = &s["latency_ms"];
    if l.is_object() {
        out += &format!(
            "  latency:  p50 {} ms, p90 {} ms, p99 {} ms, max {} ms\n",
            num(&l["p50"]),
            num(&l["p90"]),
            num(&l["p99"]),
            num(&l["max"]),
        );
    }
    out += &format!(
        "  memory:   {}; reserved instance slots: {}\n",
        if s["memory"]["hot"] == Value::Bool(true) {
            format!("hot ({} bytes of code)", int(&s["memory"]["code_bytes"]))
        } else {
            "not in memory (cold start from disk)".to_string()
        },
        int(&s["reserved_slots"]),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_pattern_and_figures() {
        let s = serde_json::json!({
            "namespace": "guest", "name": "hello", "pattern": "MCSA", "window_seconds": 60.0,
            "figures": {"calls": 25, "clients": 25, "calls_per_client": 1.0, "top_client_share": 0.04,
                        "peak_concurrency": 3, "hot_share": 1.0},
            "calls": {"calls": 30, "errors": 0, "hot": 29, "cold_disk": 1, "cold_compiled": 0},
            "latency_ms": {"p50": 0.5, "p90": 0.7, "p99": 1.0, "max": 1.2},
            "memory": {"hot": true, "code_bytes": 4096}, "reserved_slots": 3
        });
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
