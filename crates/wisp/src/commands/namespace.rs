//! `wisp namespace`: namespaces and their keys (needs the server's own key).

use wisp_api::admin::{NamespaceDeleted, NamespaceView, NewKey, Revoked};

use crate::client::{Client, GlobalOptions};

/// Manage namespaces and their API keys.
#[derive(clap::Args, Debug)]
pub struct NamespaceCommand {
    #[command(subcommand)]
    op: Op,
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
    /// Delete a namespace with its actions, keys and key-value stores.
    Delete {
        /// Namespace name.
        name: String,
    },
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
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let post = |path: String| -> anyhow::Result<NewKey> {
            client.request(http::Method::POST, &path, "application/json", Vec::new())
        };
        let revoke = |id: &str| -> anyhow::Result<Revoked> {
            client.request(
                http::Method::DELETE,
                &format!("/api/v1/admin/keys/{id}"),
                "application/json",
                Vec::new(),
            )
        };
        let list = || -> anyhow::Result<Vec<NamespaceView>> {
            client.request(
                http::Method::GET,
                "/api/v1/admin/namespaces",
                "application/json",
                Vec::new(),
            )
        };
        match self.op {
            Op::Create { name } => {
                let r: NewKey = client.request(
                    http::Method::PUT,
                    &format!("/api/v1/admin/namespaces/{name}"),
                    "application/json",
                    Vec::new(),
                )?;
                println!("{}", r.key);
            }
            Op::Delete { name } => {
                let r: NamespaceDeleted = client.request(
                    http::Method::DELETE,
                    &format!("/api/v1/admin/namespaces/{name}"),
                    "application/json",
                    Vec::new(),
                )?;
                println!(
                    "deleted {} ({} actions, {} keys, {} stores)",
                    r.namespace,
                    r.actions.len(),
                    r.keys.len(),
                    r.stores.len()
                );
            }
            Op::List => {
                for ns in list()? {
                    println!("{:<24} {}", ns.name, ns.keys.join(" "));
                }
            }
            Op::AddKey { name } => {
                let r = post(format!("/api/v1/admin/namespaces/{name}/keys"))?;
                println!("{}", r.key);
            }
            Op::Rotate { name } => {
                let old: Vec<String> = list()?
                    .into_iter()
                    .filter(|ns| ns.name == name)
                    .flat_map(|ns| ns.keys)
                    .collect();
                let r = post(format!("/api/v1/admin/namespaces/{name}/keys"))?;
                for id in old {
                    revoke(&id)?;
                }
                println!("{}", r.key);
            }
            Op::Revoke { id } => {
                revoke(&id)?;
                println!("revoked {id}");
            }
        }
        Ok(())
    }
}
