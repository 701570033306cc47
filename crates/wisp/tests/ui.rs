//! The dashboard's files through the real server: served at `/ui` from the
//! binary, with a Content-Security-Policy that forbids inline scripts and
//! other origins, `nosniff`, and a first load under 300 KB; the page itself
//! holds no inline script, style or handler, and renders server data as text.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod common;

use common::*;

fn get(s: &Server, path: &str) -> (u16, Vec<(String, String)>, String) {
    let r = try_request("GET", &format!("{}{path}", s.url), None, None, "").unwrap();
    let headers = r
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (r.status, headers, r.text())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
}

/// Whether an HTML text has an attribute such as `onclick=`.
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        !name.is_empty() && rest[name.len()..].starts_with('=')
    })
}

#[test]
fn the_dashboard_is_served_from_the_binary_under_a_strict_policy() {
    let s = Server::start(&[]);
    let mut total = 0;
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/style.css", "text/css"),
    ] {
        let (status, headers, body) = get(&s, path);
        assert_eq!(status, 200, "{path}");
        assert!(header(&headers, "content-type").starts_with(kind), "{path}");
        assert_eq!(
            header(&headers, "content-security-policy"),
            "default-src 'self'"
        );
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        if path != "/ui/" {
            total += body.len();
        }
    }
    assert!(total < 300 * 1024, "first load is {total} bytes");
    assert_eq!(get(&s, "/ui/missing.js").0, 404);
    // The page loads its script and style from files, and nothing inline.
    let (_, _, page) = get(&s, "/ui");
    assert!(page.contains(r#"<script src="/ui/app.js""#), "{page}");
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    assert!(!has_inline_handler(&page), "{page}");
    // The script never writes server data as HTML and keeps the key out of
    // cookies and localStorage.
    let (_, _, script) = get(&s, "/ui/app.js");
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.cookie",
        "localStorage",
        "eval(",
    ] {
        assert!(!script.contains(banned), "app.js uses {banned}");
    }
    assert!(script.contains("sessionStorage"));

    // The overview's figures, for the server's key only.
    let r = s.get("/api/v1/admin/overview");
    assert_eq!(r.status, 200, "{}", r.text());
    let o = r.json();
    assert_eq!(o["instances_in_flight"], 0);
    assert_eq!(o["actions_deployed"], 0);
    assert!(o["instance_capacity"].as_u64().unwrap() > 0, "{o}");
    assert!(
        o["throttled"].is_object() && o["resident_bytes"].as_u64().unwrap() > 0,
        "{o}"
    );
    let r = request(
        "PUT",
        &format!("{}/api/v1/admin/namespaces/team", s.url),
        Some(KEY),
        None,
        "",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let team = r.json()["key"].as_str().unwrap().to_string();
    let r = request(
        "GET",
        &format!("{}/api/v1/admin/overview", s.url),
        Some(&team),
        None,
        "",
    );
    assert_eq!(r.status, 403, "{}", r.text());
}

#[test]
fn the_dashboard_works_in_a_real_browser() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui-browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run scripts/setup.sh (scripts/test.sh does)"
    );
    assert!(
        std::path::Path::new("/usr/bin/chromium").is_file(),
        "Debian's chromium is not installed: run scripts/setup.sh (scripts/test.sh does)"
    );
    let s = Server::start(&[]);
    let examples = example("json-rust").parent().unwrap().to_path_buf();
    let out = std::process::Command::new("node")
        .arg(dir.join("run.js"))
        .arg(&s.url)
        .arg(KEY)
        .arg(&examples)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("ok: sign-out forgets the key"), "{stdout}");
}
