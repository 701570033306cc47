//! `wisp build [SOURCE] [-o OUT.wasm]`: turns a function's source into the
//! WebAssembly binary wisp runs, with the toolchain its kind needs.
//!
//! | source | toolchain | binary |
//! |---|---|---|
//! | a Rust crate directory | cargo, `--release` | a `cdylib`: a `wasm32-wasip2` component; a binary: a `wasm32-wasip1` command; `[package.metadata.wisp] target` overrides |
//! | `.c` | clang + wasi-libc, `--target=wasm32-wasi -O2` | a WASI command |
//! | `.cpp`, `.cc`, `.cxx` | Emscripten, `em++ -O2 -sSTANDALONE_WASM` | a WASI command |
//! | `.js`, `.mjs` | componentize-js | a `wasi:http` component (the fetch event) |
//! | `.py` | componentize-py | a `wasi:http` component (`IncomingHandler`) |
//!
//! A directory without `Cargo.toml` is a project `wisp new` made: the one
//! `app.js`, `app.py`, `main.c` or `main.cpp` in it. Progress goes to
//! stderr; stdout gets only the path of the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::toolchain;

/// The first four bytes of every WebAssembly module and component.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Build a function's source into a .wasm and print its path.
#[derive(clap::Args, Debug)]
pub struct BuildCommand {
    /// A Rust crate directory, a .c, .cpp, .js or .py file, or a directory
    /// `wisp new` made. Default: the current directory.
    #[arg(default_value = ".")]
    source: PathBuf,
    /// Where to write the binary. Default: next to the source file
    /// (`app.js` → `app.wasm`); for a Rust crate, cargo's own output in its
    /// target directory.
    #[arg(short = 'o', long = "out", value_name = "OUT.wasm")]
    out: Option<PathBuf>,
}

impl BuildCommand {
    /// Builds and prints the path of the binary.
    pub fn execute(self) -> anyhow::Result<()> {
        let out = build(&self.source, self.out.as_deref())?;
        println!("{}", out.display());
        Ok(())
    }
}

/// The kinds of source `wisp build` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Cargo package directory.
    Rust,
    /// C, with clang and wasi-libc.
    C,
    /// C++, with Emscripten.
    Cpp,
    /// JavaScript, with componentize-js.
    JavaScript,
    /// Python, with componentize-py.
    Python,
}

impl Kind {
    fn tool(self) -> &'static str {
        match self {
            Kind::Rust => "cargo",
            Kind::C => "clang",
            Kind::Cpp => "em++",
            Kind::JavaScript => "componentize-js",
            Kind::Python => "componentize-py",
        }
    }
}

/// The files a directory `wisp new` made is built from, in the order they are
/// looked for.
const PROJECT_ENTRIES: [(&str, Kind); 4] = [
    ("app.js", Kind::JavaScript),
    ("app.py", Kind::Python),
    ("main.c", Kind::C),
    ("main.cpp", Kind::Cpp),
];

/// What wisp builds, for messages.
const KNOWN: &str = "a Rust crate directory, a .c, .cpp, .js or .py file, or a directory made \
                     by `wisp new` (a .wasm file needs no build)";

/// A source to build: its kind and the file (or, for Rust, the crate
/// directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its kind.
    pub kind: Kind,
    /// The file to compile, or the crate directory.
    pub path: PathBuf,
}

/// The kind of a file by its extension; none for one wisp does not build.
fn kind_of_file(path: &Path) -> Option<Kind> {
    if path.file_name().is_some_and(|n| n == "Cargo.toml") {
        return Some(Kind::Rust);
    }
    let ext = path.extension()?.to_str()?;
    Some(match ext {
        "c" => Kind::C,
        "cpp" | "cc" | "cxx" => Kind::Cpp,
        "js" | "mjs" => Kind::JavaScript,
        "py" => Kind::Python,
        _ => return None,
    })
}

/// What `path` is to build, or why it cannot be built.
pub fn detect(path: &Path) -> anyhow::Result<Source> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("cannot read {shown}"))?;
    if meta.is_dir() {
        if path.join("Cargo.toml").is_file() {
            return Ok(Source {
                kind: Kind::Rust,
                path: path.to_path_buf(),
            });
        }
        let found: Vec<_> = PROJECT_ENTRIES
            .iter()
            .filter(|(file, _)| path.join(file).is_file())
            .collect();
        return match found.as_slice() {
            [(file, kind)] => Ok(Source {
                kind: *kind,
                path: path.join(file),
            }),
            [] => bail!(
                "{shown} holds nothing wisp builds: no Cargo.toml, app.js, app.py, main.c or \
                 main.cpp; wisp builds {KNOWN}"
            ),
            many => {
                let names: Vec<&str> = many.iter().map(|(f, _)| *f).collect();
                bail!(
                    "{shown} holds {}: name the file to build",
                    names.join(" and ")
                )
            }
        };
    }
    if is_wasm_file(path) {
        bail!("{shown} is WebAssembly already: deploy it as it is");
    }
    match kind_of_file(path) {
        Some(Kind::Rust) => Ok(Source {
            kind: Kind::Rust,
            path: parent_dir(path).to_path_buf(),
        }),
        Some(kind) => Ok(Source {
            kind,
            path: path.to_path_buf(),
        }),
        None => bail!("cannot build {shown}: unknown kind of source; wisp builds {KNOWN}"),
    }
}

/// Whether `path` names a source `wisp build` would build (by its name and
/// whether it is a directory; its contents are not checked).
pub fn looks_like_source(path: &Path) -> bool {
    if path.is_dir() {
        return true;
    }
    !is_wasm_file(path) && kind_of_file(path).is_some()
}

/// A file named `.wasm` or starting with WebAssembly's magic number.
fn is_wasm_file(path: &Path) -> bool {
    if path.extension().is_some_and(|e| e == "wasm") {
        return true;
    }
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok_and(|()| &magic == WASM_MAGIC)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The module `wisp deploy` uploads for `path`: the file itself when it is
/// WebAssembly, else what building it makes.
pub fn module_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    if let Some(source) = path.to_str().filter(|s| crate::oci::is_reference(s)) {
        return crate::oci::pull(source);
    }
    let file = if path.is_file() && is_wasm_file(path) {
        path.to_path_buf()
    } else {
        build(path, None)?
    };
    std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))
}

/// Builds `source` and returns the path of the binary: `out` when given, else
/// the default (next to a source file; cargo's output for a crate).
pub fn build(source: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let src = detect(source)?;
    let began = Instant::now();
    eprintln!("building {} with {}", src.path.display(), src.kind.tool());
    let made = match src.kind {
        Kind::Rust => rust(&src.path, out)?,
        kind => {
            let out = match out {
                Some(o) => o.to_path_buf(),
                None => src.path.with_extension("wasm"),
            };
            if let Some(dir) = out.parent()
                && !dir.as_os_str().is_empty()
            {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            // A failed build must not leave an older binary to be deployed.
            match std::fs::remove_file(&out) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("cannot replace {}", out.display()));
                }
                _ => {}
            }
            match kind {
                Kind::C => c(&src.path, &out)?,
                Kind::Cpp => cpp(&src.path, &out)?,
                Kind::JavaScript => javascript(&src.path, &out)?,
                Kind::Python => python(&src.path, &out)?,
                Kind::Rust => unreachable!("handled above"),
            }
            out
        }
    };
    let bytes = std::fs::metadata(&made)
        .with_context(|| format!("{} made no {}", src.kind.tool(), made.display()))?
        .len();
    eprintln!(
        "built {} ({} KiB) in {:.1} s",
        made.display(),
        bytes.div_ceil(1024),
        began.elapsed().as_secs_f64()
    );
    Ok(made)
}

/// Runs a compiler with its stdout sent to stderr (stdout is the binary's
/// path alone); a failure names the tool and adds `hint`.
fn run(mut cmd: Command, tool: &str, hint: Option<&str>) -> anyhow::Result<()> {
    cmd.stdin(Stdio::null()).stdout(std::io::stderr());
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {tool} ({:?})", cmd.get_program()))?;
    if !status.success() {
        match hint {
            Some(h) => bail!("{tool} failed ({status}); its messages are above. {h}"),
            None => bail!("{tool} failed ({status}); its messages are above"),
        }
    }
    Ok(())
}

fn c(src: &Path, out: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new(toolchain::clang()?);
    cmd.args(["--target=wasm32-wasi", "-O2", "-o"])
        .arg(out)
        .arg(src);
    run(cmd, "clang", Some(&toolchain::clang_hint()))
}

fn cpp(src: &Path, out: &Path) -> anyhow::Result<()> {
    let mut cmd = Command::new(toolchain::em_plus_plus()?);
    // Debian's Emscripten comes with its system libraries built, in a cache
    // it keeps frozen: `EM_CACHE` elsewhere must hold them too.
    cmd.args(["-O2", "-sSTANDALONE_WASM", "-o"])
        .arg(out)
        .arg(src);
    run(cmd, "em++", None)
}

/// The wasi:http version componentize-js's engine (StarlingMonkey) exports:
/// it attaches the fetch event to this version's incoming-handler only.
pub const JS_WASI_HTTP_VERSION: &str = "0.2.10";

/// The wasi:http version of the WIT in `templates/wit` (wasmtime-wasi-http 48).
pub const WASI_HTTP_VERSION: &str = "0.2.12";

/// The world the JavaScript and Python functions are built for.
const WORLD: &str = "http-function";

/// The WIT of `templates/wit`, by its path there.
const WIT: [(&str, &str); 8] = [
    ("world.wit", include_str!("../../templates/wit/world.wit")),
    (
        "deps/cli.wit",
        include_str!("../../templates/wit/deps/cli.wit"),
    ),
    (
        "deps/clocks.wit",
        include_str!("../../templates/wit/deps/clocks.wit"),
    ),
    (
        "deps/filesystem.wit",
        include_str!("../../templates/wit/deps/filesystem.wit"),
    ),
    (
        "deps/http.wit",
        include_str!("../../templates/wit/deps/http.wit"),
    ),
    (
        "deps/io.wit",
        include_str!("../../templates/wit/deps/io.wit"),
    ),
    (
        "deps/random.wit",
        include_str!("../../templates/wit/deps/random.wit"),
    ),
    (
        "deps/sockets.wit",
        include_str!("../../templates/wit/deps/sockets.wit"),
    ),
];

/// A WIT file at another 0.2 version: every `@0.2.12` renumbered, and every
/// item added after `version` (its `@since` line and the one line of the item
/// after it) left out.
fn renumbered(text: &str, version: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut skip_next = false;
    for line in text.lines() {
        if skip_next {
            skip_next = false;
            continue;
        }
        if let Some(since) = line
            .trim()
            .strip_prefix("@since(version = ")
            .and_then(|r| r.strip_suffix(')'))
            && newer(since, version)
        {
            skip_next = true;
            continue;
        }
        out.push_str(&line.replace(&format!("@{WASI_HTTP_VERSION}"), &format!("@{version}")));
        out.push('\n');
    }
    out
}

/// Whether dotted version `a` is above `b`.
fn newer(a: &str, b: &str) -> bool {
    let parts = |v: &str| -> Vec<u64> { v.split('.').map(|p| p.parse().unwrap_or(0)).collect() };
    parts(a) > parts(b)
}

/// Writes the WIT at `version` into a fresh temporary directory.
fn write_wit(version: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix("wisp-wit-")
        .tempdir()
        .context("cannot create a temporary directory for the WIT")?;
    std::fs::create_dir(dir.path().join("deps"))?;
    for (name, text) in WIT {
        let text = if version == WASI_HTTP_VERSION {
            text.to_string()
        } else {
            renumbered(text, version)
        };
        std::fs::write(dir.path().join(name), text)?;
    }
    Ok(dir)
}

fn javascript(src: &Path, out: &Path) -> anyhow::Result<()> {
    let (node, cli) = toolchain::componentize_js()?;
    let wit = write_wit(JS_WASI_HTTP_VERSION)?;
    let mut cmd = Command::new(node);
    // The AOT option (weval) stays off: it downloads its compiler when used.
    cmd.arg(cli)
        .arg(src)
        .arg("--wit")
        .arg(wit.path())
        .args(["--world-name", WORLD, "--out"])
        .arg(out);
    run(cmd, "componentize-js", None)
}

fn python(src: &Path, out: &Path) -> anyhow::Result<()> {
    let bin = toolchain::componentize_py()?;
    let module = src
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("{} has no module name", src.display()))?;
    let wit = write_wit(WASI_HTTP_VERSION)?;
    let mut cmd = Command::new(bin);
    cmd.arg("-d")
        .arg(wit.path())
        .args(["-w", WORLD, "componentize", "-p"])
        .arg(parent_dir(src))
        .arg(module)
        .arg("-o")
        .arg(out);
    run(cmd, "componentize-py", None)
}

/// What a Rust crate builds into.
#[derive(Debug, PartialEq, Eq)]
struct RustPlan {
    /// The package name.
    package: String,
    /// `wasm32-wasip2` (a component) or `wasm32-wasip1` (a command).
    target: String,
    /// Whether the artifact is the library (a cdylib) rather than a binary.
    cdylib: bool,
}

/// Reads a crate's Cargo.toml: a `cdylib` builds for wasm32-wasip2, anything
/// else (a binary) for wasm32-wasip1; `[package.metadata.wisp] target`
/// chooses either explicitly.
fn rust_plan(manifest: &str) -> anyhow::Result<RustPlan> {
    let doc: toml::Table = toml::from_str(manifest).context("Cargo.toml does not parse")?;
    let Some(package) = doc.get("package").and_then(|p| p.as_table()) else {
        bail!("Cargo.toml has no [package]: point at the function's crate, not a workspace");
    };
    let name = package
        .get("name")
        .and_then(|n| n.as_str())
        .context("Cargo.toml has no package name")?
        .to_string();
    let cdylib = doc
        .get("lib")
        .and_then(|l| l.get("crate-type"))
        .and_then(|t| t.as_array())
        .is_some_and(|types| types.iter().any(|t| t.as_str() == Some("cdylib")));
    let chosen = package
        .get("metadata")
        .and_then(|m| m.get("wisp"))
        .and_then(|w| w.get("target"));
    let target = match chosen {
        None => if cdylib {
            "wasm32-wasip2"
        } else {
            "wasm32-wasip1"
        }
        .to_string(),
        Some(t) => match t.as_str() {
            Some(t @ ("wasm32-wasip1" | "wasm32-wasip2")) => t.to_string(),
            _ => bail!(
                "[package.metadata.wisp] target must be \"wasm32-wasip2\" (a wasi:http component) \
                 or \"wasm32-wasip1\" (a WASI command), got {t:?}"
            ),
        },
    };
    Ok(RustPlan {
        package: name,
        target,
        cdylib,
    })
}

fn rust(dir: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    let manifest = dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let plan = rust_plan(&text).with_context(|| manifest.display().to_string())?;
    let cargo = toolchain::cargo_for(&plan.target, dir)?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .args(["build", "--release", "--target", &plan.target])
        .args(["--message-format", "json-render-diagnostics"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let child = cmd.spawn().context("cannot run cargo")?;
    let output = child.wait_with_output().context("cargo")?;
    if !output.status.success() {
        bail!("cargo failed ({}); its messages are above", output.status);
    }
    let kind = if plan.cdylib { "cdylib" } else { "bin" };
    // The artifacts of this crate (not of its dependencies) of that kind.
    let ours = manifest.canonicalize().unwrap_or(manifest.clone());
    let mut artifacts = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let of_crate = msg["reason"] == "compiler-artifact"
            && msg["manifest_path"]
                .as_str()
                .is_some_and(|m| Path::new(m) == ours);
        let of_kind = msg["target"]["kind"]
            .as_array()
            .is_some_and(|k| k.iter().any(|k| k == kind));
        if !of_crate || !of_kind {
            continue;
        }
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        for f in msg["filenames"].as_array().into_iter().flatten() {
            if let Some(f) = f.as_str().filter(|f| f.ends_with(".wasm")) {
                artifacts.push((name.to_string(), PathBuf::from(f)));
            }
        }
    }
    let made = match artifacts.as_slice() {
        [] => bail!(
            "cargo built no {kind} .wasm for {} (target {})",
            plan.package,
            plan.target
        ),
        [(_, one)] => one.clone(),
        many => match many.iter().find(|(name, _)| *name == plan.package) {
            Some((_, p)) => p.clone(),
            None => bail!(
                "{} builds several binaries ({}); keep one",
                plan.package,
                many.iter()
                    .map(|(n, _)| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    };
    match out {
        None => Ok(made),
        Some(out) => {
            if let Some(d) = out.parent()
                && !d.as_os_str().is_empty()
            {
                std::fs::create_dir_all(d)
                    .with_context(|| format!("cannot create {}", d.display()))?;
            }
            std::fs::copy(&made, out)
                .with_context(|| format!("cannot copy {} to {}", made.display(), out.display()))?;
            Ok(out.to_path_buf())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_javascript_wit_is_0_2_10_without_what_came_later() {
        let cli = WIT.iter().find(|(n, _)| *n == "deps/cli.wit").unwrap().1;
        assert!(cli.contains("exit-with-code"));
        for (name, text) in WIT {
            let old = renumbered(text, JS_WASI_HTTP_VERSION);
            assert!(!old.contains("0.2.12"), "{name} still names 0.2.12");
            assert!(!old.contains("exit-with-code"), "{name}");
            if name == "world.wit" {
                assert!(old.contains("include wasi:http/proxy@0.2.10;"));
            }
        }
        // Items of 0.2.0 stay.
        let old = renumbered(cli, JS_WASI_HTTP_VERSION);
        assert!(old.contains("exit: func(status: result);"));
        assert_eq!(renumbered(cli, WASI_HTTP_VERSION), cli);
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(newer("0.2.12", "0.2.10"));
        assert!(!newer("0.2.9", "0.2.10"));
        assert!(!newer("0.2.10", "0.2.10"));
    }

    #[test]
    fn a_cdylib_is_a_component_and_a_binary_a_command() {
        let lib = "[package]\nname = \"f\"\n[lib]\ncrate-type = [\"cdylib\"]\n";
        assert_eq!(
            rust_plan(lib).unwrap(),
            RustPlan {
                package: "f".into(),
                target: "wasm32-wasip2".into(),
                cdylib: true
            }
        );
        let bin = "[package]\nname = \"g\"\n";
        assert_eq!(rust_plan(bin).unwrap().target, "wasm32-wasip1");
        let chosen =
            "[package]\nname = \"h\"\n[package.metadata.wisp]\ntarget = \"wasm32-wasip2\"\n";
        assert_eq!(rust_plan(chosen).unwrap().target, "wasm32-wasip2");
        let bad = "[package]\nname = \"h\"\n[package.metadata.wisp]\ntarget = \"x86\"\n";
        assert!(
            rust_plan(bad)
                .unwrap_err()
                .to_string()
                .contains("wasm32-wasip2")
        );
        let workspace = "[workspace]\nmembers = [\"a\"]\n";
        assert!(
            rust_plan(workspace)
                .unwrap_err()
                .to_string()
                .contains("workspace")
        );
    }

    #[test]
    fn sources_are_told_apart_by_name_and_contents() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for f in ["a.js", "b.py", "c.c", "d.cpp", "e.txt"] {
            std::fs::write(p.join(f), "").unwrap();
        }
        std::fs::write(p.join("m.bin"), b"\0asm\x01\0\0\0").unwrap();
        assert_eq!(detect(&p.join("a.js")).unwrap().kind, Kind::JavaScript);
        assert_eq!(detect(&p.join("b.py")).unwrap().kind, Kind::Python);
        assert_eq!(detect(&p.join("c.c")).unwrap().kind, Kind::C);
        assert_eq!(detect(&p.join("d.cpp")).unwrap().kind, Kind::Cpp);
        let e = detect(&p.join("e.txt")).unwrap_err().to_string();
        assert!(e.contains("unknown kind of source"), "{e}");
        let e = detect(&p.join("m.bin")).unwrap_err().to_string();
        assert!(e.contains("WebAssembly already"), "{e}");
        std::fs::write(p.join("app.js"), "").unwrap();
        std::fs::write(p.join("app.py"), "").unwrap();
        let e = detect(p).unwrap_err().to_string();
        assert!(e.contains("holds app.js and app.py: name the file"), "{e}");
        let project = p.join("project");
        std::fs::create_dir(&project).unwrap();
        assert!(
            detect(&project)
                .unwrap_err()
                .to_string()
                .contains("holds nothing")
        );
        std::fs::write(project.join("app.py"), "").unwrap();
        assert_eq!(
            detect(&project).unwrap(),
            Source {
                kind: Kind::Python,
                path: project.join("app.py")
            }
        );
        std::fs::write(project.join("Cargo.toml"), "").unwrap();
        assert_eq!(detect(&project).unwrap().kind, Kind::Rust);
        assert!(looks_like_source(&p.join("a.js")));
        assert!(!looks_like_source(&p.join("m.bin")));
        assert!(!looks_like_source(&p.join("e.txt")));
    }
}
