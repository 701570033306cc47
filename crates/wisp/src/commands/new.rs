//! `wisp new TEMPLATE NAME`: a function project, ready to build and deploy,
//! from one of the templates built into the binary (`crates/wisp/templates/`).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Create a function project from a template.
#[derive(clap::Args, Debug)]
pub struct NewCommand {
    /// The template: rust-http, rust-cgi, c, cpp, js-http, js-json,
    /// python-http or python-json.
    template: String,
    /// The directory to create; its last part is the function's name.
    name: PathBuf,
}

/// A template: the files of a new project, each with `{{name}}` standing for
/// the function's name.
pub struct Template {
    /// What `wisp new` calls it.
    pub name: &'static str,
    /// One line about it.
    pub about: &'static str,
    /// The file `wisp deploy` is given, relative to the project; empty for
    /// the project directory itself (a Rust crate).
    pub entry: &'static str,
    /// Path in the project and contents.
    pub files: &'static [(&'static str, &'static str)],
}

/// Ignores what builds make, in every project.
const GITIGNORE: (&str, &str) = (".gitignore", "*.wasm\n/target/\n__pycache__/\n");

/// Every template, in the order `wisp new` lists them.
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "rust-http",
        about: "a wasi:http component in Rust (wasm32-wasip2)",
        entry: "",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust-http/Cargo.toml"),
            ),
            (
                "Cargo.lock",
                include_str!("../../templates/rust-http/Cargo.lock"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust-http/src/lib.rs"),
            ),
            GITIGNORE,
        ],
    },
    Template {
        name: "rust-cgi",
        about: "a WASI command in Rust (wasm32-wasip1): CGI for web calls, JSON for API calls",
        entry: "",
        files: &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust-cgi/Cargo.toml"),
            ),
            (
                "Cargo.lock",
                include_str!("../../templates/rust-cgi/Cargo.lock"),
            ),
            (
                "src/main.rs",
                include_str!("../../templates/rust-cgi/src/main.rs"),
            ),
            GITIGNORE,
        ],
    },
    Template {
        name: "c",
        about: "a WASI command in C (clang + wasi-libc): CGI for web calls, JSON for API calls",
        entry: "main.c",
        files: &[
            ("main.c", include_str!("../../templates/c/main.c")),
            GITIGNORE,
        ],
    },
    Template {
        name: "cpp",
        about: "a WASI command in C++ (Emscripten): CGI for web calls, JSON for API calls",
        entry: "main.cpp",
        files: &[
            ("main.cpp", include_str!("../../templates/cpp/main.cpp")),
            GITIGNORE,
        ],
    },
    Template {
        name: "js-http",
        about: "a wasi:http component in JavaScript (a fetch event handler)",
        entry: "app.js",
        files: &[
            ("app.js", include_str!("../../templates/js-http/app.js")),
            GITIGNORE,
        ],
    },
    Template {
        name: "js-json",
        about: "an action in JavaScript in OpenWhisk's style: main(params) returns the result",
        entry: "app.js",
        files: &[
            ("app.js", include_str!("../../templates/js-json/app.js")),
            GITIGNORE,
        ],
    },
    Template {
        name: "python-http",
        about: "a wasi:http component in Python (an IncomingHandler class)",
        entry: "app.py",
        files: &[
            ("app.py", include_str!("../../templates/python-http/app.py")),
            GITIGNORE,
        ],
    },
    Template {
        name: "python-json",
        about: "an action in Python in OpenWhisk's style: main(params) returns the result",
        entry: "app.py",
        files: &[
            ("app.py", include_str!("../../templates/python-json/app.py")),
            GITIGNORE,
        ],
    },
];

/// The template of that name.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

/// Whether `name` can name a function: a letter, then letters, digits, `-`
/// and `_`, at most 64 characters. Both an action and a Rust package can be
/// called so, and it needs no quoting in a shell or a URL.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 64
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl NewCommand {
    /// Writes the project and prints what to do next.
    pub fn execute(self) -> anyhow::Result<()> {
        let Some(t) = template(&self.template) else {
            bail!(
                "unknown template '{}'; the templates are:\n{}",
                self.template,
                listing()
            );
        };
        let dir = &self.name;
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        if !valid_name(&name) {
            bail!(
                "'{name}' is not a valid function name: a letter, then letters, digits, - and _, \
                 at most 64 characters"
            );
        }
        create(t, dir, &name)?;
        let shown = dir.display().to_string();
        let deploy_path = if t.entry.is_empty() {
            shown.clone()
        } else {
            Path::new(&shown).join(t.entry).display().to_string()
        };
        println!("created {shown}/ from the {} template: {}", t.name, t.about);
        println!("next:");
        let lines = [
            (
                format!("wisp build {shown}"),
                "prints the path of the .wasm",
            ),
            (
                format!("wisp deploy {name} {deploy_path}"),
                "builds, then deploys",
            ),
            (format!("curl $WISP_SERVER/fn/{name}/"), "a web call"),
            (
                format!("wisp invoke {name} --param name=edge"),
                "an API call",
            ),
        ];
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (line, what) in lines {
            println!("  {line:<width$}  # {what}");
        }
        Ok(())
    }
}

/// The templates, one a line with what each is.
fn listing() -> String {
    TEMPLATES
        .iter()
        .map(|t| format!("  {:<12} {}", t.name, t.about))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes the template's files into `dir` (created; refused when it holds
/// anything already).
pub fn create(t: &Template, dir: &Path, name: &str) -> anyhow::Result<()> {
    if let Ok(mut entries) = std::fs::read_dir(dir) {
        if entries.next().is_some() {
            bail!(
                "{} exists and is not empty: choose another name, or remove it first",
                dir.display()
            );
        }
    } else if dir.exists() {
        bail!("{} exists and is not a directory", dir.display());
    }
    for (path, text) in t.files {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::write(&file, text.replace("{{name}}", name))
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_letters_digits_dashes_and_underscores() {
        for good in ["hello", "a", "my-fn_2", &"x".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "2fast", "-x", "a b", "a.b", "a/b", "é", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn every_template_names_its_function_and_has_its_entry() {
        for t in TEMPLATES {
            let all: String = t.files.iter().map(|(_, text)| *text).collect();
            assert!(
                all.contains("{{name}}"),
                "{} never names the function",
                t.name
            );
            if !t.entry.is_empty() {
                assert!(t.files.iter().any(|(p, _)| *p == t.entry), "{}", t.name);
            }
        }
    }

    #[test]
    fn a_project_is_written_once_into_an_empty_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hello");
        let t = template("rust-http").unwrap();
        create(t, &dir, "hello").unwrap();
        let cargo = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(cargo.contains("name = \"hello\""));
        assert!(!cargo.contains("{{"));
        assert!(dir.join("src/lib.rs").is_file());
        let e = create(t, &dir, "hello").unwrap_err().to_string();
        assert!(e.contains("not empty"), "{e}");
        let empty = tmp.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        create(template("c").unwrap(), &empty, "empty").unwrap();
        assert!(empty.join("main.c").is_file());
    }

    #[test]
    fn the_listing_names_every_template() {
        let l = listing();
        for t in TEMPLATES {
            assert!(l.contains(t.name));
        }
    }
}
