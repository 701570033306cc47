//! `wisp namespace`: namespaces and their keys (needs the server's own key).

use crate::client::{Client, ClientOptions};

/// Manage namespaces and their API keys.
#[derive(clap::Args, Debug)]
pub struct NamespaceCommand {
    #[command(subcommand)]
    op: Op,
    #[command(flatten)]
    client: ClientOptions,
}

#[derive(clap::Subcommand, Debug)]
enum Op {
    /// Create a namespace and print its first key (ID:SECRET), once.
    Create {
        /// Namespace name.
        name: String,
    },
    /// List namespaces and their key ids.
    List,
    /// Add a key to a namespace and print it.
    AddKey {
        /// Namespace name.
        name: String,
    },
    /// Replace every key of a namespace with a new one, printed once.
    Rotate {
        /// Namespace name.
        name: String,
    },
    /// Revoke one key.
    Revoke {
        /// The key's id (the part before the colon).
        id: String,
    },
}

impl NamespaceCommand {
    /// Runs the operation against the server.
    pub fn execute(self) -> anyhow::Result<()> {
        let client = Client::new(&self.client)?;
        let call = |method: http::Method, path: String| {
            client.request(method, &path, "application/json", Vec::new())
        };
        match self.op {
            Op::Create { name } => {
                let r = call(
                    http::Method::PUT,
                    format!("/api/v1/admin/namespaces/{name}"),
                )?;
                println!("{}", r["key"].as_str().unwrap_or_default());
            }
            Op::List => {
                let r = call(http::Method::GET, "/api/v1/admin/namespaces".into())?;
                for ns in r.as_array().into_iter().flatten() {
                    let keys: Vec<&str> = ns["keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|k| k.as_str())
                        .collect();
                    println!(
                        "{:<24} {}",
                        ns["name"].as_str().unwrap_or("?"),
                        keys.join(" ")
                    );
                }
            }
            Op::AddKey { name } => {
                let r = call(
                    http::Method::POST,
                    format!("/api/v1/admin/namespaces/{name}/keys"),
                )?;
                println!("{}", r["key"].as_str().unwrap_or_default());
            }
            Op::Rotate { name } => {
                let list = call(http::Method::GET, "/api/v1/admin/namespaces".into())?;
                let old: Vec<String> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|ns| ns["name"] == name.as_str())
                    .flat_map(|ns| ns["keys"].as_array().cloned().unwrap_or_default())
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect();
                let r = call(
                    http::Method::POST,
                    format!("/api/v1/admin/namespaces/{name}/keys"),
                )?;
                for id in old {
                    call(http::Method::DELETE, format!("/api/v1/admin/keys/{id}"))?;
                }
                println!("{}", r["key"].as_str().unwrap_or_default());
            }
            Op::Revoke { id } => {
                call(http::Method::DELETE, format!("/api/v1/admin/keys/{id}"))?;
                println!("revoked {id}");
            }
        }
        Ok(())
    }
}
