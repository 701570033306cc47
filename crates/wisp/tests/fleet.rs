//! A fleet on one machine: a real PostgreSQL (Debian's), three `wisp serve`
//! nodes sharing it (`--registry postgres://…`), and Debian's nginx in front
//! with the configuration `scripts/fleet.sh` uses. Changes made through one
//! node are served by all within 1 s; a node killed under load costs only
//! the calls it had in flight; a restarted node catches up; an alarm fires
//! once per tick; key-value increments from every node add up exactly. The
//! first fleet keeps its modules in Debian's docker-registry
//! (`--artifacts oci://…`), as scripts/fleet.sh does.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;
#[path = "../../wisp-registry/tests/support/postgres.rs"]
mod postgres;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::*;
use postgres::Postgres;
use serde_json::json;

/// nginx with `scripts/fleet/nginx.conf.in` in front of `nodes`, on a free
/// loopback port; stopped on drop.
struct Nginx {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(nodes: &[&Server]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        // Its workers run as `nobody` when the tests run as root: they
        // must reach their temporary files.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let port = free_port();
        let servers: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    "server {} max_fails=1 fail_timeout=2s;",
                    n.url.trim_start_matches("http://")
                )
            })
            .collect();
        let conf = include_str!("../../../scripts/fleet/nginx.conf.in")
            .replace("@DIR@", &dir.path().display().to_string())
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@SERVERS@", &servers.join("\n        "));
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx (Debian's package; scripts/setup.sh installs it)");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM: the master stops its workers (SIGKILL would leave them
        // serving).
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// PostgreSQL, three nodes on it, nginx in front; the modules in an OCI
/// registry when there is one.
struct Fleet {
    nginx: Nginx,
    nodes: Vec<Server>,
    _pg: Postgres,
    _oci: Option<OciRegistry>,
    _key_dir: tempfile::TempDir,
}

fn fleet(oci: Option<OciRegistry>) -> Fleet {
    let pg = Postgres::start();
    let key_dir = tempfile::tempdir().unwrap();
    let key_file = key_dir.path().join("secret.key");
    let mut args = vec!["--registry".to_string(), pg.url()];
    if let Some(oci) = &oci {
        args.extend([
            "--artifacts".to_string(),
            format!("oci://{}/wisp/modules", oci.addr),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start_node(&args, &key_file, free_port()))
        .collect();
    let nginx = Nginx::start(&nodes.iter().collect::<Vec<_>>());
    Fleet {
        nginx,
        nodes,
        _pg: pg,
        _oci: oci,
        _key_dir: key_dir,
    }
}

/// `GET {base}/fn/{name}/config/version`: which version of an action answers.
fn version_at(base: &str, name: &str) -> (u16, String) {
    let r = try_request(
        "GET",
        &format!("{base}/fn/{name}/config/version"),
        None,
        None,
        "",
    );
    match r {
        Ok(r) => (r.status, r.text()),
        Err(e) => (0, e),
    }
}

/// Deploys `kv-counter` as `name` through `base`, its `version` parameter
/// saying which deploy it is.
fn deploy_at(base: &str, name: &str, version: &str) -> Resp {
    request(
        "PUT",
        &format!("{base}/api/v1/namespaces/_/actions/{name}?overwrite=true"),
        Some(KEY),
        Some("application/json"),
        action_doc(
            &example_bytes("kv-counter"),
            json!({"parameters": [{"key": "version", "value": version}]}),
        ),
    )
}

/// How many calls of an action a node ran, from its `/metrics`.
fn calls_of(node: &Server, action: &str) -> u64 {
    let r = node.get("/metrics");
    assert_eq!(r.status, 200, "{}", r.text());
    let prefix = format!("wisp_activations_total{{namespace=\"guest\",action=\"{action}\",");
    r.text()
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Waits until every base answers `want` for `name` (a status and body);
/// how long that took.
fn seen_everywhere(bases: &[&str], name: &str, want: (u16, &str), within: Duration) -> Duration {
    let start = Instant::now();
    for base in bases {
        loop {
            let (status, text) = version_at(base, name);
            if status == want.0 && (want.1.is_empty() || text == want.1) {
                break;
            }
            assert!(
                start.elapsed() < within,
                "{base} still answers {status} {text:?} for {name} after {:?}, not {want:?}",
                start.elapsed()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    start.elapsed()
}

#[test]
fn changes_through_one_node_are_served_everywhere_and_a_killed_node_costs_only_its_calls() {
    // The modules in an OCI registry: nodes pull what they lack by hash.
    let mut f = fleet(Some(OciRegistry::start()));
    let bases: Vec<String> = std::iter::once(f.nginx.url.clone())
        .chain(f.nodes.iter().map(|n| n.url.clone()))
        .collect();
    let all: Vec<&str> = bases.iter().map(String::as_str).collect();
    let second = Duration::from_secs(1);

    // A deploy through node 1 answers everywhere within 1 s.
    let node1 = f.nodes[0].url.clone();
    assert_eq!(deploy_at(&node1, "svc", "v1").status, 200);
    let took = seen_everywhere(&all, "svc", (200, "v1"), second);
    eprintln!("deploy v1 served by nginx and all 3 nodes after {took:?}");
    // An update through node 2, a rollback through node 3, a delete through
    // nginx: each everywhere within 1 s.
    assert_eq!(deploy_at(&f.nodes[1].url, "svc", "v2").status, 200);
    let took = seen_everywhere(&all, "svc", (200, "v2"), second);
    eprintln!("update v2 served everywhere after {took:?}");
    let r = request(
        "POST",
        &format!(
            "{}/api/v1/namespaces/_/actions/svc/rollback",
            f.nodes[2].url
        ),
        Some(KEY),
        Some("application/json"),
        "{}",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let took = seen_everywhere(&all, "svc", (200, "v1"), second);
    eprintln!("rollback served everywhere after {took:?}");
    let r = request(
        "DELETE",
        &format!("{}/api/v1/namespaces/_/actions/svc", f.nginx.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let took = seen_everywhere(&all, "svc", (404, ""), second);
    eprintln!("delete seen everywhere after {took:?}");

    // 3 nodes × 16 concurrent increments each end exactly right.
    assert_eq!(deploy_at(&node1, "counter", "c").status, 200);
    seen_everywhere(&all, "counter", (200, "c"), second);
    let threads: Vec<_> = f
        .nodes
        .iter()
        .flat_map(|n| std::iter::repeat_n(n.url.clone(), 16))
        .map(|base| {
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let r = request("POST", &format!("{base}/fn/counter/count"), None, None, "");
                    assert_eq!(r.status, 200, "{}", r.text());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    for base in &all {
        let r = request(
            "GET",
            &format!("{base}/fn/counter/kv/default/count"),
            None,
            None,
            "",
        );
        assert_eq!(
            r.text(),
            "240",
            "3 nodes × 16 callers × 5 increments, read at {base}"
        );
    }

    // kill -9 of one node under a steady call loop through nginx, while
    // deploys go on through nginx: calls go on, the failed ones are counted,
    // and no acknowledged deploy is lost.
    for name in ["a", "b", "c", "d", "e", "f"] {
        assert_eq!(deploy_at(&f.nginx.url, name, name).status, 200);
    }
    for name in ["a", "b", "c", "d", "e", "f"] {
        seen_everywhere(&all, name, (200, name), second);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let caller = {
        let (stop, ok, failed, base) = (
            stop.clone(),
            ok.clone(),
            failed.clone(),
            f.nginx.url.clone(),
        );
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                for name in ["a", "b", "c", "d", "e", "f"] {
                    let (status, text) = version_at(&base, name);
                    if status == 200 && text == name {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let before = ok.load(Ordering::Relaxed);
    assert!(before > 0, "the call loop runs");
    // The node nginx sends `a` to: the one that ran it most.
    let victim = (0..3).max_by_key(|&i| calls_of(&f.nodes[i], "a")).unwrap();
    assert!(
        calls_of(&f.nodes[victim], "a") > 10,
        "nginx sends `a` to one node"
    );
    f.nodes[victim].kill();
    let mut acknowledged = Vec::new();
    for i in 0..10 {
        let version = format!("d{i}");
        if deploy_at(&f.nginx.url, "deployed", &version).status == 200 {
            acknowledged.push(version);
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let after_kill = ok.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    caller.join().unwrap();
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "kill -9 of node {} under load: {ok} calls answered, {failed} failed ({:.2}%)",
        victim + 1,
        100.0 * failed as f64 / (ok + failed) as f64
    );
    assert!(after_kill > before + 20, "calls went on after the kill");
    assert!(
        failed * 20 <= ok + failed,
        "at most 5% of calls failed: {failed} of {}",
        ok + failed
    );
    assert_eq!(
        acknowledged.len(),
        10,
        "deploys through nginx go on: {acknowledged:?}"
    );
    let survivors: Vec<&str> = std::iter::once(f.nginx.url.as_str())
        .chain(
            f.nodes
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != victim)
                .map(|(_, n)| n.url.as_str()),
        )
        .collect();
    seen_everywhere(&survivors, "deployed", (200, "d9"), second);
    let alive = f.nodes[(victim + 1) % 3].url.clone();
    let r = request(
        "GET",
        &format!("{alive}/api/v1/namespaces/_/actions/deployed/versions"),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json().as_array().unwrap().len(),
        10,
        "every acknowledged deploy is kept: {}",
        r.text()
    );

    // While it is down, another deploy; restarted, it catches up, and
    // follows the changes after.
    assert_eq!(deploy_at(&alive, "late", "l1").status, 200);
    f.nodes[victim].resume();
    let restarted = f.nodes[victim].url.clone();
    seen_everywhere(&[&restarted], "late", (200, "l1"), second);
    seen_everywhere(&[&restarted], "deployed", (200, "d9"), second);
    assert_eq!(deploy_at(&alive, "late", "l2").status, 200);
    seen_everywhere(&all, "late", (200, "l2"), second);
}

#[test]
fn an_alarm_fires_once_per_tick_with_three_nodes() {
    let f = fleet(None);
    let api = |i: usize, method: &str, path: &str, body: serde_json::Value| {
        request(
            method,
            &format!("{}/api/v1/namespaces/{path}", f.nodes[i].url),
            Some(KEY),
            Some("application/json"),
            serde_json::to_vec(&body).unwrap(),
        )
    };
    assert_eq!(api(0, "PUT", "_/triggers/tick", json!({})).status, 200);
    let r = api(
        1,
        "POST",
        "whisk.system/actions/alarms/alarm?blocking=true&result=true",
        json!({"lifecycleEvent": "CREATE", "triggerName": "/_/tick", "authKey": KEY, "cron": "* * * * * *"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    std::thread::sleep(Duration::from_secs(6));
    let r = api(
        2,
        "GET",
        "_/activations?name=tick&docs=true&limit=200",
        json!(null),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let mut starts: Vec<i64> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["start"].as_i64().unwrap())
        .collect();
    starts.sort_unstable();
    eprintln!("the alarm fired {} times in 6 s with 3 nodes", starts.len());
    // Once a second: 4 to 7 firings in 6 s, never two in one tick.
    assert!((4..=7).contains(&starts.len()), "{starts:?}");
    for pair in starts.windows(2) {
        assert!(
            pair[1] - pair[0] >= 500,
            "two firings {} ms apart: {starts:?}",
            pair[1] - pair[0]
        );
    }
    let r = api(
        0,
        "POST",
        "whisk.system/actions/alarms/alarm?blocking=true&result=true",
        json!({"lifecycleEvent": "READ", "triggerName": "/_/tick", "authKey": KEY}),
    );
    let fired = r.json()["status"]["fired"].as_u64().unwrap();
    assert!(fired as usize >= starts.len(), "{}", r.text());
}
