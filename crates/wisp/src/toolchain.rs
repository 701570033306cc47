//! Where the compilers `wisp build` runs are, and what to install when one is
//! missing.
//!
//! The Rust, C and C++ compilers are the machine's (`cargo`, `clang`, `em++`
//! on `PATH`). The JavaScript and Python ones live in the wisp checkout's
//! `toolchains/` directory, installed there by `scripts/setup.sh`: npm's
//! `@bytecodealliance/componentize-js` in `toolchains/js/node_modules` and
//! PyPI's `componentize-py` in the virtual environment `toolchains/python/.venv`.
//! That directory is `WISP_TOOLCHAINS` when set, else the `toolchains/` found
//! in the current directory or one above it, else the one above the `wisp`
//! binary (`target/release/wisp` of a checkout).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The environment variable naming the toolchains directory.
pub const TOOLCHAINS_ENV: &str = "WISP_TOOLCHAINS";

/// The componentize-js version `toolchains/js/package.json` pins.
pub const COMPONENTIZE_JS_VERSION: &str = "0.23.0";

/// The componentize-py version `toolchains/python/requirements.txt` pins.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// What to do when a toolchain of `toolchains/` is missing.
const SETUP_HINT: &str = "run scripts/setup.sh in the wisp checkout";

/// The toolchains directory: `WISP_TOOLCHAINS`, else `toolchains/` in the
/// current directory or above, else above the running binary. `Err` says
/// where it looked.
pub fn toolchains_dir() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os(TOOLCHAINS_ENV) {
        return Ok(PathBuf::from(dir));
    }
    let cwd = std::env::current_dir().ok();
    let exe = std::env::current_exe().ok();
    let starts = [cwd.as_deref(), exe.as_deref().and_then(Path::parent)];
    for start in starts.into_iter().flatten() {
        for dir in start.ancestors() {
            let candidate = dir.join("toolchains");
            if candidate.join("js/package.json").is_file()
                || candidate.join("python/requirements.txt").is_file()
            {
                return Ok(candidate);
            }
        }
    }
    let shown = |p: Option<&Path>| p.map_or("?".into(), |p| p.display().to_string());
    bail!(
        "no toolchains directory: {TOOLCHAINS_ENV} is not set and there is no toolchains/ of a \
         wisp checkout in {} or above, nor above {}; {SETUP_HINT}, or set {TOOLCHAINS_ENV} to \
         its toolchains directory",
        shown(cwd.as_deref()),
        shown(exe.as_deref()),
    )
}

/// A program on `PATH`.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A program on `PATH`, or what to install to get it.
fn required(program: &str, install: &str) -> anyhow::Result<PathBuf> {
    which(program).with_context(|| format!("{program} is not installed (not on PATH): {install}"))
}

/// Debian's packages for C with clang and wasi-libc.
const CLANG_PACKAGES: &str = "clang lld wasi-libc libclang-rt-14-dev-wasm32";

/// `clang` with a wasm32-wasi sysroot.
pub fn clang() -> anyhow::Result<PathBuf> {
    required(
        "clang",
        &format!("apt-get install {CLANG_PACKAGES} (scripts/setup.sh installs them)"),
    )
}

/// What C builds need besides clang, for the message when one fails.
pub fn clang_hint() -> String {
    format!(
        "clang needs Debian's {CLANG_PACKAGES} for wasm32-wasi (scripts/setup.sh installs them)"
    )
}

/// Emscripten's `em++`.
pub fn em_plus_plus() -> anyhow::Result<PathBuf> {
    required(
        "em++",
        "apt-get install emscripten (scripts/setup.sh installs it)",
    )
}

/// `cargo`, with the standard library of `target` installed for the
/// toolchain the crate in `dir` builds with.
pub fn cargo_for(target: &str, dir: &Path) -> anyhow::Result<PathBuf> {
    let cargo = required("cargo", "install Rust with rustup")?;
    // rustup's proxies answer for the toolchain the crate directory selects;
    // the sysroot tells whether its standard library for `target` is there.
    let sysroot = std::process::Command::new("rustc")
        .current_dir(dir)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(root) = sysroot
        && !root.join("lib/rustlib").join(target).is_dir()
    {
        bail!(
            "the Rust target {target} is not installed: run `rustup target add {target}` \
             (scripts/setup.sh does)"
        );
    }
    Ok(cargo)
}

/// `node` and the command-line script of componentize-js.
pub fn componentize_js() -> anyhow::Result<(PathBuf, PathBuf)> {
    let dir = toolchains_dir().context("componentize-js is not installed")?;
    let js = dir.join("js");
    let cli = js.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    if !cli.is_file() {
        bail!(
            "componentize-js {COMPONENTIZE_JS_VERSION} is not installed in {}: {SETUP_HINT} \
             (it runs `npm ci --prefix {}`)",
            js.display(),
            js.display()
        );
    }
    let node = required(
        "node",
        "apt-get install nodejs npm (scripts/setup.sh installs them)",
    )?;
    Ok((node, cli))
}

/// The `componentize-py` of the toolchains' virtual environment.
pub fn componentize_py() -> anyhow::Result<PathBuf> {
    let dir = toolchains_dir().context("componentize-py is not installed")?;
    let python = dir.join("python");
    let bin = python.join(".venv/bin/componentize-py");
    if !is_executable(&bin) {
        bail!(
            "componentize-py {COMPONENTIZE_PY_VERSION} is not installed in {}: {SETUP_HINT} \
             (it runs `python3 -m venv {venv}` and `{venv}/bin/pip install --only-binary :all: \
             -r {req}`)",
            python.display(),
            venv = python.join(".venv").display(),
            req = python.join("requirements.txt").display(),
        );
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_finds_programs_on_path_only() {
        assert!(which("sh").is_some());
        assert!(which("no-such-program-wisp-knows").is_none());
    }
}
