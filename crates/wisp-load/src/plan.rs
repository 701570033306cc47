//! What a run does: the access pattern, how many clients and calls, when each
//! client starts, and the one request every call sends.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

/// Most calls one run may make (clients × calls per client).
pub const MAX_CALLS: usize = 1_000_000;
/// Most clients one run may have; each holds its own connection (and socket).
pub const MAX_CLIENTS: usize = 10_000;
/// Longest a run may be bounded to ([`Plan::max_duration`]): one day.
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Longest time limit of one call ([`Plan::timeout`]): one hour.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

pub use wisp_api::Pattern;

/// What a load run does for each access pattern by default.
pub trait LoadPattern {
    /// Clients when none are given: SCMA 1, MCSA 25, MCMA 5.
    fn default_clients(self) -> usize;
    /// Calls per client when none are given: SCMA 25, MCSA 1, MCMA 5.
    fn default_calls(self) -> usize;
    /// Ramp-up when none is given: SCMA none (its one client starts at once),
    /// MCSA and MCMA 5 s.
    fn default_ramp(self) -> Duration;
    /// The lowercase name: `scma`, `mcsa` or `mcma`.
    fn name(self) -> &'static str;
}

impl LoadPattern for Pattern {
    fn default_clients(self) -> usize {
        match self {
            Pattern::Scma | Pattern::Idle => 1,
            Pattern::Mcsa => 25,
            Pattern::Mcma => 5,
        }
    }

    fn default_calls(self) -> usize {
        match self {
            Pattern::Scma => 25,
            Pattern::Mcsa | Pattern::Idle => 1,
            Pattern::Mcma => 5,
        }
    }

    fn default_ramp(self) -> Duration {
        match self {
            Pattern::Scma | Pattern::Idle => Duration::ZERO,
            Pattern::Mcsa | Pattern::Mcma => Duration::from_secs(5),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Pattern::Idle => "idle",
            Pattern::Scma => "scma",
            Pattern::Mcsa => "mcsa",
            Pattern::Mcma => "mcma",
        }
    }
}

/// When one client makes its first call, relative to the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientStart {
    /// Client index, from 0.
    pub client: usize,
    /// Offset of its first call from the start of the run.
    pub start: Duration,
}

/// A complete description of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The access pattern.
    pub pattern: Pattern,
    /// Number of clients (exactly 1 for SCMA).
    pub clients: usize,
    /// Calls each client makes, one after the other (exactly 1 for MCSA).
    pub calls_per_client: usize,
    /// The window over which client starts are spread (see [`Plan::schedule`]).
    pub ramp: Duration,
    /// HTTP method of every call.
    pub method: Method,
    /// The one URL every call goes to (`http://` only).
    pub url: Uri,
    /// Request body of every call, if any.
    pub body: Option<Bytes>,
    /// Extra request headers of every call. `X-Client-Id` is always set by the run
    /// and replaces one given here; `Host` defaults to the URL's authority.
    pub headers: HeaderMap,
    /// Time limit of one call: connecting (when needed), sending, and reading the
    /// whole response.
    pub timeout: Duration,
    /// Bound on the whole run: calls not started by then are skipped, and calls
    /// still running then are cut off (and count as timeouts).
    pub max_duration: Duration,
}

impl Plan {
    /// A plan with the pattern's default clients, calls and ramp: `GET`, no body,
    /// no extra headers, 30 s per call, at most 120 s in all. Fails if `url` is not
    /// an `http://` URL with a host.
    pub fn new(pattern: Pattern, url: &str) -> anyhow::Result<Plan> {
        let url: Uri = url
            .trim()
            .parse()
            .with_context(|| format!("{url:?} is not a valid URL"))?;
        check_url(&url)?;
        if pattern == Pattern::Idle {
            bail!("idle is not a load pattern: use scma, mcsa or mcma");
        }
        Ok(Plan {
            pattern,
            clients: pattern.default_clients(),
            calls_per_client: pattern.default_calls(),
            ramp: pattern.default_ramp(),
            method: Method::GET,
            url,
            body: None,
            headers: HeaderMap::new(),
            timeout: Duration::from_secs(30),
            max_duration: Duration::from_secs(120),
        })
    }

    /// Total calls the plan makes: clients × calls per client (saturating).
    pub fn total_calls(&self) -> usize {
        self.clients.saturating_mul(self.calls_per_client)
    }

    /// Checks the plan against its pattern and the bounds ([`MAX_CALLS`],
    /// [`MAX_CLIENTS`], [`MAX_TIMEOUT`], [`MAX_DURATION`]).
    pub fn validate(&self) -> anyhow::Result<()> {
        check_url(&self.url)?;
        if self.clients == 0 {
            bail!("the number of clients must be at least 1");
        }
        if self.calls_per_client == 0 {
            bail!("the number of calls per client must be at least 1");
        }
        match self.pattern {
            Pattern::Scma if self.clients != 1 => bail!(
                "SCMA is a single client, but {} clients were asked for; \
                 use MCMA for several clients that call several times",
                self.clients
            ),
            Pattern::Mcsa if self.calls_per_client != 1 => bail!(
                "MCSA is one call per client, but {} calls per client were asked for; \
                 use MCMA for several calls per client",
                self.calls_per_client
            ),
            _ => {}
        }
        if self.clients > MAX_CLIENTS {
            bail!(
                "{} clients is more than the {MAX_CLIENTS} a run may have",
                self.clients
            );
        }
        let total = self.clients.checked_mul(self.calls_per_client);
        if total.is_none_or(|t| t > MAX_CALLS) {
            bail!(
                "{} clients x {} calls is more than the {MAX_CALLS} calls a run may make",
                self.clients,
                self.calls_per_client
            );
        }
        if self.timeout.is_zero() || self.timeout > MAX_TIMEOUT {
            bail!(
                "the per-call timeout must be more than 0 and at most {MAX_TIMEOUT:?} (got {:?})",
                self.timeout
            );
        }
        if self.max_duration.is_zero() || self.max_duration > MAX_DURATION {
            bail!(
                "the maximum duration must be more than 0 and at most {MAX_DURATION:?} (got {:?})",
                self.max_duration
            );
        }
        if self.ramp > self.max_duration {
            bail!(
                "the ramp ({:?}) is longer than the maximum duration ({:?}): \
                 the clients starting after it would all be skipped",
                self.ramp,
                self.max_duration
            );
        }
        Ok(())
    }

    /// The start of every client, in client order. Client `i` of `n` starts at
    /// `ramp * i / n`: the first at once, the others evenly spaced, the last one
    /// step before the end of the ramp (so `n` clients over a 5 s ramp start every
    /// `5 s / n`). SCMA's single client starts at 0 whatever the ramp.
    pub fn schedule(&self) -> Vec<ClientStart> {
        let n = self.clients.max(1) as u128;
        let ramp = self.ramp.as_nanos();
        (0..self.clients)
            .map(|client| {
                let nanos = ramp * client as u128 / n;
                ClientStart {
                    client,
                    start: Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
                }
            })
            .collect()
    }
}

/// The URL must be `http://host[:port]/...`.
fn check_url(url: &Uri) -> anyhow::Result<()> {
    match url.scheme_str() {
        Some("http") => {}
        Some("https") => {
            bail!("{url} is an https URL: wisp load speaks plain HTTP/1.1 only (use http://)")
        }
        Some(other) => bail!("{url}: unsupported scheme {other:?} (use http://)"),
        None => bail!("{url} has no scheme: give a full URL such as http://127.0.0.1:8080/"),
    }
    match url.host() {
        Some(h) if !h.is_empty() => Ok(()),
        _ => bail!("{url} has no host"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(pattern: Pattern) -> anyhow::Result<Plan> {
        Plan::new(pattern, "http://127.0.0.1:8080/fn/hello")
    }

    fn err(p: &Plan) -> String {
        p.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn pattern_parses_in_any_case() -> anyhow::Result<()> {
        assert_eq!(
            "scma".parse::<Pattern>().map_err(anyhow::Error::msg)?,
            Pattern::Scma
        );
        assert_eq!(
            "MCSA".parse::<Pattern>().map_err(anyhow::Error::msg)?,
            Pattern::Mcsa
        );
        assert_eq!(
            "McMa".parse::<Pattern>().map_err(anyhow::Error::msg)?,
            Pattern::Mcma
        );
        assert!("mcxx".parse::<Pattern>().is_err());
        assert_eq!(Pattern::Mcma.name(), "mcma");
        assert!(Plan::new(Pattern::Idle, "http://127.0.0.1:1/").is_err());
        Ok(())
    }

    #[test]
    fn defaults_follow_the_pattern() -> anyhow::Result<()> {
        let p = plan(Pattern::Scma)?;
        assert_eq!(
            (p.clients, p.calls_per_client, p.ramp),
            (1, 25, Duration::ZERO)
        );
        let p = plan(Pattern::Mcsa)?;
        assert_eq!((p.clients, p.calls_per_client), (25, 1));
        assert_eq!(p.ramp, Duration::from_secs(5));
        let p = plan(Pattern::Mcma)?;
        assert_eq!((p.clients, p.calls_per_client), (5, 5));
        assert_eq!(p.ramp, Duration::from_secs(5));
        for pattern in [Pattern::Scma, Pattern::Mcsa, Pattern::Mcma] {
            plan(pattern)?.validate()?;
        }
        Ok(())
    }

    #[test]
    fn scma_is_one_client_starting_at_once() -> anyhow::Result<()> {
        let mut p = plan(Pattern::Scma)?;
        p.ramp = Duration::from_secs(5);
        assert_eq!(
            p.schedule(),
            vec![ClientStart {
                client: 0,
                start: Duration::ZERO
            }]
        );
        assert_eq!(p.total_calls(), 25);
        Ok(())
    }

    #[test]
    fn mcsa_spreads_clients_over_the_ramp() -> anyhow::Result<()> {
        let p = plan(Pattern::Mcsa)?;
        let s = p.schedule();
        assert_eq!(s.len(), 25);
        for (i, c) in s.iter().enumerate() {
            assert_eq!(c.client, i);
            assert_eq!(c.start, Duration::from_millis(200 * i as u64));
        }
        assert!(s.iter().all(|c| c.start < p.ramp));
        assert_eq!(p.total_calls(), 25);
        Ok(())
    }

    #[test]
    fn mcma_spreads_clients_and_counts_all_calls() -> anyhow::Result<()> {
        let mut p = plan(Pattern::Mcma)?;
        p.clients = 4;
        p.calls_per_client = 3;
        p.ramp = Duration::from_secs(1);
        let starts: Vec<_> = p.schedule().iter().map(|c| c.start).collect();
        assert_eq!(
            starts,
            [0, 250, 500, 750].map(Duration::from_millis).to_vec()
        );
        assert_eq!(p.total_calls(), 12);
        Ok(())
    }

    #[test]
    fn zero_ramp_starts_everyone_at_once() -> anyhow::Result<()> {
        let mut p = plan(Pattern::Mcsa)?;
        p.ramp = Duration::ZERO;
        assert!(p.schedule().iter().all(|c| c.start.is_zero()));
        Ok(())
    }

    #[test]
    fn uneven_ramp_stays_inside_the_window() -> anyhow::Result<()> {
        let mut p = plan(Pattern::Mcsa)?;
        p.clients = 3;
        p.ramp = Duration::from_nanos(10);
        let starts: Vec<_> = p.schedule().iter().map(|c| c.start.as_nanos()).collect();
        assert_eq!(starts, vec![0, 3, 6]);
        Ok(())
    }

    #[test]
    fn validation_refuses_bad_shapes() -> anyhow::Result<()> {
        let mut p = plan(Pattern::Scma)?;
        p.clients = 3;
        assert!(err(&p).starts_with("SCMA is a single client, but 3 clients"));

        let mut p = plan(Pattern::Mcsa)?;
        p.calls_per_client = 2;
        assert!(err(&p).starts_with("MCSA is one call per client, but 2 calls"));

        let mut p = plan(Pattern::Mcma)?;
        p.clients = 0;
        assert_eq!(err(&p), "the number of clients must be at least 1");
        let mut p = plan(Pattern::Mcma)?;
        p.calls_per_client = 0;
        assert_eq!(err(&p), "the number of calls per client must be at least 1");

        let mut p = plan(Pattern::Mcma)?;
        p.clients = MAX_CLIENTS + 1;
        assert!(err(&p).contains("clients is more than"));

        let mut p = plan(Pattern::Mcma)?;
        p.clients = 1000;
        p.calls_per_client = 1001;
        assert!(err(&p).contains("calls a run may make"));
        p.calls_per_client = 1000;
        p.validate()?;
        p.calls_per_client = usize::MAX;
        assert!(err(&p).contains("calls a run may make"));
        assert_eq!(p.total_calls(), usize::MAX);

        let mut p = plan(Pattern::Mcma)?;
        p.timeout = Duration::ZERO;
        assert!(err(&p).contains("timeout"));
        let mut p = plan(Pattern::Mcma)?;
        p.max_duration = MAX_DURATION + Duration::from_secs(1);
        assert!(err(&p).contains("maximum duration"));
        let mut p = plan(Pattern::Mcma)?;
        p.ramp = Duration::from_secs(10);
        p.max_duration = Duration::from_secs(5);
        assert!(err(&p).contains("the ramp (10s) is longer than the maximum duration (5s)"));
        Ok(())
    }

    #[test]
    fn only_plain_http_urls() {
        let e = |u: &str| {
            Plan::new(Pattern::Scma, u)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(e("https://example.org/").contains("plain HTTP/1.1 only"));
        assert!(e("ftp://example.org/").contains("unsupported scheme"));
        assert!(e("/fn/hello").contains("has no scheme"));
        assert!(e("127.0.0.1:8080").contains("no scheme"));
        assert!(e("http://").contains("not a valid URL"));
        assert!(e("not a url").contains("not a valid URL"));
        assert!(Plan::new(Pattern::Scma, "http://localhost:8080").is_ok());
        assert!(Plan::new(Pattern::Scma, "http://[::1]:8080/x?y=1").is_ok());
    }
}
