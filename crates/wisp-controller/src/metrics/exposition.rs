//! The exposition: a [`Snapshot`] of every figure, taken at scrape time, and
//! its encoding by `prometheus-client` in the Prometheus text format (0.0.4)
//! or OpenMetrics, whichever the scraper asks for.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};
use wisp_api::Pattern;

use super::histogram::HistogramValues;
use super::{COLD_LABELS, OTHER, STATUS_LABELS, process::ProcessCollector, throttle_labels};
use crate::Controller;

/// The patterns, as the `pattern` label has them.
const PATTERNS: [Pattern; 4] = [Pattern::Idle, Pattern::Scma, Pattern::Mcsa, Pattern::Mcma];

/// One action's recorded values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionValues {
    /// Activations by [`STATUS_LABELS`].
    pub activations: [u64; 4],
    /// Cold starts by [`COLD_LABELS`].
    pub cold: [u64; 2],
    /// From the activation's start (admitted) to its end.
    pub duration: HistogramValues,
    /// Waiting for admission.
    pub wait: HistogramValues,
    /// Creating the instance.
    pub init: HistogramValues,
}

/// The series of one action, or of all the actions beyond the cap.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionSeries {
    /// `namespace` label.
    pub namespace: String,
    /// `action` label.
    pub action: String,
    /// Its access pattern now (none for the shared `_other` series).
    pub pattern: Option<Pattern>,
    /// What it recorded.
    pub values: ActionValues,
}

/// Every figure of one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Per action, sorted by namespace and name; `_other` last.
    pub actions: Vec<ActionSeries>,
    /// Calls holding an instance slot.
    pub instances_in_flight: usize,
    /// Calls waiting for admission (the pool's queue and every action's own).
    pub queue_depth: usize,
    /// Refusals by reason, in the order of [`throttle_labels`].
    pub throttled: [u64; 4],
    /// Bytes of compiled code in memory.
    pub compiled_code_bytes: usize,
    /// Actions deployed.
    pub actions_deployed: usize,
}

impl Snapshot {
    /// Takes one from the controller: its actions, the invoker's slots and
    /// templates, and the recorded values.
    pub fn take(ctl: &Controller) -> Snapshot {
        use wisp_patterns::Actions as _;
        let deployed = ctl.actions();
        let window = wisp_patterns::keeper::window_ms(ctl.config.pattern_window);
        let now = wisp_patterns::now_ms();
        let mut actions: Vec<ActionSeries> = deployed
            .iter()
            .filter_map(|d| {
                let m = d.metrics.as_ref()?;
                if ctl.metrics.is_other(m) {
                    return None;
                }
                let observations = d.calls.observations();
                Some(ActionSeries {
                    namespace: d.record.namespace.clone(),
                    action: d.record.name.clone(),
                    pattern: Some(
                        wisp_patterns::classify::classify(&observations, now, window).pattern,
                    ),
                    values: m.values(),
                })
            })
            .collect();
        actions.sort_by(|a, b| (&a.namespace, &a.action).cmp(&(&b.namespace, &b.action)));
        actions.push(ActionSeries {
            namespace: OTHER.to_string(),
            action: OTHER.to_string(),
            pattern: None,
            values: ctl.metrics.other().values(),
        });
        Snapshot {
            actions,
            instances_in_flight: ctl.invoker.in_flight().unwrap_or(0),
            queue_depth: ctl.invoker.queued()
                + deployed.iter().map(|d| d.slots.queued()).sum::<usize>(),
            throttled: ctl.metrics.throttled(),
            compiled_code_bytes: ctl.invoker.hot().iter().map(|(_, bytes)| bytes).sum(),
            actions_deployed: deployed.len(),
        }
    }
}

/// A format the exposition is served in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format, version 0.0.4: what every scraper and
    /// `promtool check metrics` read.
    Prometheus,
    /// OpenMetrics 1.0.0, for scrapers that ask for it.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, else the Prometheus text
    /// format.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Prometheus,
        }
    }

    /// Its `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Prometheus => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Encodes a snapshot, with the process's own figures read now.
pub fn encode(snapshot: Snapshot, format: Format) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(snapshot));
    registry.register_collector(Box::new(ProcessCollector));
    let mut out = String::new();
    match format {
        Format::Prometheus => {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?
        }
        Format::OpenMetrics => prometheus_client::encoding::text::encode(&mut out, &registry)?,
    }
    Ok(out)
}

/// Which of an action's histograms a family encodes.
type HistogramOf = fn(&ActionValues) -> &HistogramValues;

/// The labels of one action's series, with one more.
fn labels<'a>(a: &'a ActionSeries, key: &'a str, value: &'a str) -> [(&'a str, &'a str); 3] {
    [
        ("namespace", a.namespace.as_str()),
        ("action", a.action.as_str()),
        (key, value),
    ]
}

fn histogram(
    m: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    h: &HistogramValues,
) -> Result<(), std::fmt::Error> {
    m.encode_family(labels)?.encode_histogram::<NoLabelSet>(
        h.sum_seconds(),
        h.count(),
        &h.seconds(),
        None,
    )
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(
            "wisp_activations",
            "Activations by how they ended",
            None,
            MetricType::Counter,
        )?;
        for a in &self.actions {
            for (status, n) in STATUS_LABELS.iter().zip(a.values.activations) {
                m.encode_family(&labels(a, "status", status))?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "wisp_cold_starts",
            "Activations whose compiled code was not in memory, by where it came from",
            None,
            MetricType::Counter,
        )?;
        for a in &self.actions {
            for (warmth, n) in COLD_LABELS.iter().zip(a.values.cold) {
                m.encode_family(&labels(a, "warmth", warmth))?
                    .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
            }
        }
        let histograms: [(&str, &str, HistogramOf); 3] = [
            (
                "wisp_activation_duration",
                "Time from an activation's start, once admitted, to its end",
                |v| &v.duration,
            ),
            (
                "wisp_activation_wait",
                "Time an activation waited for admission (an instance slot)",
                |v| &v.wait,
            ),
            (
                "wisp_activation_init",
                "Time creating an activation's instance, for activations that ran to an answer",
                |v| &v.init,
            ),
        ];
        for (name, help, field) in histograms {
            let mut m = encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Seconds),
                MetricType::Histogram,
            )?;
            for a in &self.actions {
                let labels = [
                    ("namespace", a.namespace.as_str()),
                    ("action", a.action.as_str()),
                ];
                histogram(&mut m, &labels, field(&a.values))?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "wisp_action_pattern",
            "1 for an action's current access pattern over the pattern window, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for a in &self.actions {
            let Some(current) = a.pattern else { continue };
            for p in PATTERNS {
                m.encode_family(&labels(a, "pattern", p.as_str()))?
                    .encode_gauge(&i64::from(p == current))?;
            }
        }
        let gauges: [(&str, &str, Option<Unit>, usize); 4] = [
            (
                "wisp_instances_in_flight",
                "Calls holding an instance slot (admitted, their instance not yet dropped)",
                None,
                self.instances_in_flight,
            ),
            (
                "wisp_admission_queue_depth",
                "Calls waiting for admission, in the shared pool's queue and the actions' own",
                None,
                self.queue_depth,
            ),
            (
                "wisp_compiled_code",
                "Compiled code held in memory",
                Some(Unit::Bytes),
                self.compiled_code_bytes,
            ),
            (
                "wisp_actions",
                "Actions deployed",
                None,
                self.actions_deployed,
            ),
        ];
        for (name, help, unit, value) in &gauges {
            encoder
                .encode_descriptor(name, help, unit.as_ref(), MetricType::Gauge)?
                .encode_gauge(value)?;
        }
        let mut m = encoder.encode_descriptor(
            "wisp_throttled",
            "Requests turned away unserved (429, or 503 while draining), by reason",
            None,
            MetricType::Counter,
        )?;
        for (reason, n) in throttle_labels().iter().zip(self.throttled) {
            m.encode_family(&[("reason", *reason)])?
                .encode_counter::<NoLabelSet, _, u64>(&n, None)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        let mut values = ActionValues {
            activations: [3, 1, 1, 0],
            cold: [1, 0],
            ..Default::default()
        };
        values.duration.buckets[2] = 5;
        values.duration.sum_ns = 250_000;
        Snapshot {
            actions: vec![
                ActionSeries {
                    namespace: "guest".into(),
                    action: "hello".into(),
                    pattern: Some(Pattern::Scma),
                    values,
                },
                ActionSeries {
                    namespace: OTHER.into(),
                    action: OTHER.into(),
                    pattern: None,
                    values: ActionValues::default(),
                },
            ],
            instances_in_flight: 2,
            queue_depth: 1,
            throttled: [4, 0, 0, 1],
            compiled_code_bytes: 1 << 20,
            actions_deployed: 1,
        }
    }

    #[test]
    fn the_prometheus_text_names_every_series_as_documented() {
        let text = encode(snapshot(), Format::Prometheus).unwrap();
        for line in [
            "# TYPE wisp_activations_total counter",
            r#"wisp_activations_total{namespace="guest",action="hello",status="success"} 3"#,
            r#"wisp_activations_total{namespace="guest",action="hello",status="developer_error"} 1"#,
            r#"wisp_cold_starts_total{namespace="guest",action="hello",warmth="cold-disk"} 1"#,
            "# TYPE wisp_activation_duration_seconds histogram",
            r#"wisp_activation_duration_seconds_bucket{namespace="guest",action="hello",le="5e-05"} 5"#,
            r#"wisp_activation_duration_seconds_bucket{namespace="guest",action="hello",le="+Inf"} 5"#,
            r#"wisp_activation_duration_seconds_count{namespace="guest",action="hello"} 5"#,
            r#"wisp_activation_duration_seconds_sum{namespace="guest",action="hello"} 0.00025"#,
            r#"wisp_activation_wait_seconds_count{namespace="_other",action="_other"} 0"#,
            r#"wisp_action_pattern{namespace="guest",action="hello",pattern="SCMA"} 1"#,
            r#"wisp_action_pattern{namespace="guest",action="hello",pattern="idle"} 0"#,
            "wisp_instances_in_flight 2",
            "wisp_admission_queue_depth 1",
            "wisp_compiled_code_bytes 1048576",
            "wisp_actions 1",
            r#"wisp_throttled_total{reason="action_cap"} 4"#,
            r#"wisp_throttled_total{reason="draining"} 1"#,
            "# TYPE process_cpu_seconds_total counter",
            "# TYPE process_resident_memory_bytes gauge",
            "# TYPE process_open_fds gauge",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        // The shared series has no pattern.
        assert!(!text.contains(r#"wisp_action_pattern{namespace="_other""#));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_is_served_to_who_asks_for_it() {
        let accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::negotiate(Some(accept)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Prometheus);
        assert_eq!(Format::negotiate(None), Format::Prometheus);
        let text = encode(snapshot(), Format::OpenMetrics).unwrap();
        assert!(text.ends_with("# EOF\n"));
        assert!(text.contains("# TYPE wisp_activations counter\n"));
        assert!(text.contains("# UNIT wisp_activation_duration_seconds seconds\n"));
    }
}
