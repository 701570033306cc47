//! `wisp kv`: a namespace's key-value stores, the ones its components open
//! with `wasi:keyvalue`.

use std::io::{Read as _, Write as _};

use anyhow::Context as _;
use http::Method;
use wisp_api::kv::{KeyPage, StoreList, StoreView};

use crate::client::{Client, GlobalOptions, encode};

/// Read and write key-value stores (`default`, and the ones created here).
#[derive(clap::Args, Debug)]
pub struct KvCommand {
    #[command(subcommand)]
    op: Op,
}

#[derive(clap::Subcommand, Debug)]
enum Op {
    /// Print a key's value (its bytes, as stored).
    Get {
        /// The store (`default`, or one created with `wisp kv create`).
        store: String,
        /// The key.
        key: String,
    },
    /// Set a key's value.
    Set {
        /// The store.
        store: String,
        /// The key.
        key: String,
        /// The value; `-` reads it from standard input.
        value: String,
    },
    /// Delete a key.
    Rm {
        /// The store.
        store: String,
        /// The key.
        key: String,
    },
    /// List a store's keys, sorted, one a line.
    Ls {
        /// The store.
        store: String,
        /// Only keys starting with this.
        #[arg(long, default_value = "")]
        prefix: String,
    },
    /// Create a store.
    Create {
        /// Its name: letters, digits, `_`, `-`, `.`, `@`.
        store: String,
    },
    /// Delete a store and every key in it.
    Drop {
        /// The store.
        store: String,
    },
    /// List the namespace's stores and the bytes they hold.
    Stores,
}

impl KvCommand {
    /// Runs the operation against the server, in the key's namespace.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let client = Client::new(global)?;
        let base = "/api/v1/namespaces/_/kv";
        let entry = |store: &str, key: &str| format!("{base}/{}/{}", encode(store), encode(key));
        let octets = "application/octet-stream";
        match self.op {
            Op::Get { store, key } => {
                let value =
                    client.request_bytes(Method::GET, &entry(&store, &key), octets, vec![])?;
                std::io::stdout().write_all(&value)?;
            }
            Op::Set { store, key, value } => {
                let value = if value == "-" {
                    let mut v = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut v)
                        .context("cannot read the value from standard input")?;
                    v
                } else {
                    value.into_bytes()
                };
                client.request_bytes(Method::PUT, &entry(&store, &key), octets, value)?;
            }
            Op::Rm { store, key } => {
                client.request_bytes(Method::DELETE, &entry(&store, &key), octets, vec![])?;
            }
            Op::Ls { store, prefix } => {
                let mut cursor: Option<String> = None;
                loop {
                    let mut path = format!("{base}/{}?prefix={}", encode(&store), encode(&prefix));
                    if let Some(c) = &cursor {
                        path.push_str(&format!("&cursor={}", encode(c)));
                    }
                    let page: KeyPage =
                        client.request(Method::GET, &path, "application/json", vec![])?;
                    for key in &page.keys {
                        println!("{key}");
                    }
                    match page.cursor {
                        Some(c) => cursor = Some(c),
                        None => break,
                    }
                }
            }
            Op::Create { store } => {
                let v: StoreView = client.request(
                    Method::PUT,
                    &format!("{base}/{}", encode(&store)),
                    "application/json",
                    vec![],
                )?;
                println!("created {}", v.store);
            }
            Op::Drop { store } => {
                let v: StoreView = client.request(
                    Method::DELETE,
                    &format!("{base}/{}", encode(&store)),
                    "application/json",
                    vec![],
                )?;
                println!("deleted {}", v.store);
            }
            Op::Stores => {
                let list: StoreList =
                    client.request(Method::GET, base, "application/json", vec![])?;
                for store in &list.stores {
                    println!("{store}");
                }
                eprintln!("{} of {} bytes used", list.used_bytes, list.quota_bytes);
            }
        }
        Ok(())
    }
}
