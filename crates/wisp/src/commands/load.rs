//! `wisp load`: drive one URL with an access pattern (SCMA, MCSA, MCMA) and report
//! latencies. The work is done by the `wisp-load` crate; this is its command line.

use std::fs::File;
use std::io::{BufWriter, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use wisp_load::{ErrorKind, Pattern, Plan, parse_duration};

/// Largest request body `--data @FILE` may read.
const MAX_BODY: u64 = 64 << 20;

/// Drive an HTTP URL with an access pattern and report latencies.
#[derive(clap::Args, Debug)]
pub struct LoadCommand {
    /// The URL every call goes to (http:// only), e.g.
    /// http://127.0.0.1:8080/fn/hello.
    url: String,
    /// Access pattern: scma (one client, sequential calls), mcsa (many clients,
    /// one call each) or mcma (many clients, several calls each).
    #[arg(long, short, default_value = "scma")]
    pattern: Pattern,
    /// Number of clients. Default: scma 1, mcsa 25, mcma 5.
    #[arg(long, short, value_name = "N")]
    clients: Option<usize>,
    /// Calls per client, one after the other. Default: scma 25, mcsa 1, mcma 5.
    #[arg(long, short = 'n', value_name = "M")]
    calls: Option<usize>,
    /// Window over which client starts are spread evenly (500ms, 5s, 2m).
    /// Default: 5s for mcsa and mcma; scma's single client starts at once.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    ramp: Option<Duration>,
    /// HTTP method of every call.
    #[arg(long, short = 'X', default_value = "GET")]
    method: String,
    /// Request body of every call: a string, or @FILE to read it from a file.
    #[arg(long, short, value_name = "STRING|@FILE")]
    data: Option<String>,
    /// Extra request header 'NAME: VALUE'; repeatable.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Time limit of one call, connecting and reading the answer included.
    #[arg(long, value_parser = parse_duration, default_value = "30s", value_name = "DURATION")]
    timeout: Duration,
    /// Bound on the whole run: calls not started by then are skipped, calls
    /// still running are cut off.
    #[arg(long, value_parser = parse_duration, default_value = "120s", value_name = "DURATION")]
    max_duration: Duration,
    /// Write one line per call to this CSV file.
    #[arg(long, value_name = "FILE")]
    csv: Option<PathBuf>,
    /// Write the whole report (parameters, summary, calls) to this JSON file.
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Do not draw the progress bar (it is only drawn when stderr is a terminal).
    #[arg(long)]
    no_progress: bool,
}

impl LoadCommand {
    /// Runs the load and prints the summary. HTTP errors, timeouts and skipped
    /// calls are reported, not an error exit; bad arguments, an unresolvable host,
    /// and a URL no call could connect to are.
    pub fn execute(self) -> anyhow::Result<()> {
        let plan = self.plan()?;
        plan.validate()?;
        // Open the output files before the run, so a bad path fails at once.
        let csv = self.csv.as_ref().map(create).transpose()?;
        let json = self.json.as_ref().map(create).transpose()?;

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let progress = !self.no_progress && std::io::stderr().is_terminal();
        let report = runtime.block_on(wisp_load::run(&plan, progress))?;

        if let Some(mut out) = csv {
            wisp_load::write_csv(&report, &mut out).context("writing the CSV file")?;
        }
        if let Some(mut out) = json {
            wisp_load::write_json(&report, &mut out).context("writing the JSON file")?;
        }
        let mut stdout = std::io::stdout().lock();
        wisp_load::write_table(&report, &mut stdout)?;
        stdout.flush()?;

        let s = &report.summary;
        let connect_failures = s.errors_by_kind.get(&ErrorKind::Connect).copied();
        if s.errors > 0 && connect_failures == Some(s.errors) && s.ok == 0 {
            let why = report
                .error_samples
                .get(&ErrorKind::Connect)
                .map(String::as_str)
                .unwrap_or("connection failed");
            bail!("no call could connect: {why}");
        }
        Ok(())
    }

    /// The plan the flags describe (not yet validated).
    fn plan(&self) -> anyhow::Result<Plan> {
        let mut plan = Plan::new(self.pattern, &self.url)?;
        if let Some(clients) = self.clients {
            plan.clients = clients;
        }
        if let Some(calls) = self.calls {
            plan.calls_per_client = calls;
        }
        if let Some(ramp) = self.ramp {
            plan.ramp = ramp;
        }
        plan.method = http::Method::from_bytes(self.method.to_ascii_uppercase().as_bytes())
            .with_context(|| format!("{:?} is not a valid HTTP method", self.method))?;
        plan.body = self.data.as_deref().map(read_data).transpose()?;
        for h in &self.headers {
            let (name, value) = parse_header(h)?;
            plan.headers.append(name, value);
        }
        plan.timeout = self.timeout;
        plan.max_duration = self.max_duration;
        Ok(plan)
    }
}

/// `STRING` as is, or the contents of `FILE` for `@FILE`.
fn read_data(data: &str) -> anyhow::Result<Bytes> {
    let Some(path) = data.strip_prefix('@') else {
        return Ok(Bytes::copy_from_slice(data.as_bytes()));
    };
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read the --data file {path}"))?
        .len();
    if size > MAX_BODY {
        bail!(
            "the --data file {path} is larger than {} MiB",
            MAX_BODY >> 20
        );
    }
    let body =
        std::fs::read(path).with_context(|| format!("cannot read the --data file {path}"))?;
    Ok(Bytes::from(body))
}

/// `NAME: VALUE` into a header.
fn parse_header(text: &str) -> anyhow::Result<(HeaderName, HeaderValue)> {
    let Some((name, value)) = text.split_once(':') else {
        bail!("header {text:?} must have the form 'NAME: VALUE'");
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .with_context(|| format!("header {text:?} has an invalid name"))?;
    let value = HeaderValue::from_str(value.trim())
        .with_context(|| format!("header {text:?} has an invalid value"))?;
    Ok((name, value))
}

/// Creates (or truncates) an output file.
fn create(path: &PathBuf) -> anyhow::Result<BufWriter<File>> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::new(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse() -> anyhow::Result<()> {
        let (n, v) = parse_header("Content-Type: application/json")?;
        assert_eq!(n, "content-type");
        assert_eq!(v, "application/json");
        let (n, v) = parse_header("x-a:b:c")?;
        assert_eq!((n.as_str(), v.to_str()?), ("x-a", "b:c"));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x").is_err());
        Ok(())
    }

    #[test]
    fn data_is_a_string_or_a_file() -> anyhow::Result<()> {
        assert_eq!(read_data("{\"a\":1}")?, Bytes::from_static(b"{\"a\":1}"));
        let mut file = tempfile::NamedTempFile::new()?;
        file.write_all(b"from a file")?;
        let arg = format!("@{}", file.path().display());
        assert_eq!(read_data(&arg)?, Bytes::from_static(b"from a file"));
        assert!(read_data("@/nonexistent/wisp-load-body").is_err());
        Ok(())
    }
}
