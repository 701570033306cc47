//! The experiments (`experiments/run.sh`, docs/experiments.md): the benchmark
//! workloads answer through wisp exactly what the native build prints, and the
//! driver's smoke mode produces its tables and plots.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;
use serde_json::json;

const WORKLOADS: [&str; 3] = ["plate", "classify", "resize"];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn native_cli() -> PathBuf {
    let p = repo().join("examples/build/native/workload");
    assert!(
        p.exists(),
        "{} is missing: run scripts/build-examples.sh",
        p.display()
    );
    p
}

/// The sample inputs, sorted by name.
fn samples() -> Vec<(String, Vec<u8>)> {
    let dir = repo().join("examples/workloads/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "no sample inputs in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// `workload NAME < input`, natively: (success, stdout, stderr).
fn native(cli: &Path, name: &str, input: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(cli)
        .arg(name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn wisp_outputs_equal_native_outputs() {
    let s = Server::start(&[]);
    s.deploy("workloads", &example_bytes("workloads-http"), json!({}));
    s.deploy("workloads-cgi", &example_bytes("workloads-cli"), json!({}));
    let cli = native_cli();
    let mut compared = 0;
    for (file, input) in samples() {
        for name in WORKLOADS {
            let (ok, expected, stderr) = native(&cli, name, &input);
            for action in ["workloads", "workloads-cgi"] {
                let url = format!("{}/fn/{action}/{name}", s.url);
                let r = request("POST", &url, None, Some("image/png"), input.clone());
                let what = format!("{action} {name} on {file}");
                if ok {
                    assert_eq!(r.status, 200, "{what}: {}", r.text());
                    assert!(
                        r.body.as_ref() == expected.as_slice(),
                        "{what}: {} bytes from wisp differ from the {} native bytes",
                        r.body.len(),
                        expected.len()
                    );
                } else {
                    // The native command reports `workload: <error>` on stderr;
                    // the web routes answer 400 with the error itself.
                    assert_eq!(r.status, 400, "{what}: {}", r.text());
                    let msg = stderr.trim_end().trim_start_matches("workload: ");
                    assert_eq!(r.text().trim_end(), msg, "{what}");
                }
                let ns = r
                    .headers
                    .get("x-compute-ns")
                    .unwrap_or_else(|| panic!("{what}: no X-Compute-Ns header"));
                let ns: u64 = ns.to_str().unwrap().parse().unwrap();
                assert!(ns > 0, "{what}: X-Compute-Ns is 0");
                compared += 1;
            }
        }
    }
    assert!(compared >= 18, "only {compared} comparisons");
    // A path that is no workload has no timing header (nothing ran).
    let r = request(
        "GET",
        &format!("{}/fn/workloads/nothing", s.url),
        None,
        None,
        "",
    );
    assert_eq!(r.status, 404, "{}", r.text());
    assert!(r.headers.get("x-compute-ns").is_none());
}

#[test]
fn driver_smoke_mode_writes_tables_and_plots() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(repo().join("experiments/run.sh"))
        .args(["--tiny", "--systems", "wisp", "--no-setup", "--no-build"])
        .arg("--wisp-bin")
        .arg(env!("CARGO_BIN_EXE_wisp"))
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "experiments/run.sh failed:\n{stdout}\n{stderr}"
    );

    let md = std::fs::read_to_string(out.path().join("results.md")).unwrap();
    for heading in [
        "## Table 2",
        "Table 3: SCMA",
        "Table 4: MCSA",
        "Table 5: MCMA",
        "## Cold starts",
        "## Memory",
        "## Targets",
        "- machine: ",
    ] {
        assert!(md.contains(heading), "no {heading:?} in results.md:\n{md}");
    }
    // Table 2 rows for every wisp deployment (the command with and without
    // its init), and a wisp row in each pattern table with every call answered.
    assert!(md.contains("| plate | wisp | "), "{md}");
    assert!(
        md.contains("| plate | wisp (wasip1 CGI, pre-initialized) | "),
        "{md}"
    );
    assert!(
        md.contains("| plate | wisp (wasip1 CGI, no init) | "),
        "{md}"
    );
    for pattern in ["SCMA", "MCSA", "MCMA"] {
        let section = md.split(&format!(": {pattern}: ")).nth(1).unwrap();
        let table = section.split("\n\n").nth(1).unwrap();
        let row = table
            .lines()
            .find(|l| l.starts_with("| plate | wisp | "))
            .unwrap_or_else(|| panic!("no wisp row in the {pattern} table:\n{table}"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (ok, calls) = cells[3].split_once(" / ").unwrap();
        assert_eq!(ok, calls, "{pattern}: {row}");
    }

    let svgs: Vec<_> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "svg"))
        .collect();
    assert!(!svgs.is_empty(), "no SVG in {}", out.path().display());
    for svg in &svgs {
        let text = std::fs::read_to_string(svg).unwrap();
        assert!(
            text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
            "{}",
            svg.display()
        );
    }

    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("results.json")).unwrap()).unwrap();
    assert_eq!(doc["mode"], "tiny");
    assert!(
        doc["table2"]["plate"]["wisp"]["median_ms"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert_eq!(doc["patterns"].as_array().unwrap().len(), 3);
    assert!(
        out.path().join("raw/plate-mcsa-wisp.json").exists(),
        "no raw wisp load report"
    );
    // The driver prints the tables and the target checks at the end.
    assert!(stdout.contains("Targets"), "{stdout}");
}
