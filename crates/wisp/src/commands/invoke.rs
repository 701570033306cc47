//! `wisp invoke`: a blocking invocation that prints the result.

use anyhow::Context;

use crate::client::{Client, GlobalOptions, parse_param};

/// Invoke an action and print its JSON result.
#[derive(clap::Args, Debug)]
pub struct InvokeCommand {
    /// Action name.
    name: String,
    /// Parameter KEY=VALUE (VALUE is JSON if it parses, else a string); repeatable.
    #[arg(long = "param", value_name = "KEY=VALUE", conflicts_with = "data")]
    params: Vec<String>,
    /// All parameters as one JSON object.
    #[arg(long, value_name = "JSON")]
    data: Option<String>,
}

impl InvokeCommand {
    /// Prints the result; an action error is an error exit.
    pub fn execute(self, global: &GlobalOptions) -> anyhow::Result<()> {
        let params = match &self.data {
            Some(d) => {
                let v: serde_json::Value =
                    serde_json::from_str(d).context("--data is not valid JSON")?;
                if !v.is_object() {
                    anyhow::bail!("--data must be a JSON object");
                }
                v
            }
            None => {
                let mut m = serde_json::Map::new();
                for p in &self.params {
                    let (k, v) = parse_param(p)?;
                    m.insert(k, v);
                }
                serde_json::Value::Object(m)
            }
        };
        let client = Client::new(global)?;
        let result: serde_json::Value = client.request(
            http::Method::POST,
            &format!(
                "/api/v1/namespaces/_/actions/{}?blocking=true&result=true",
                self.name
            ),
            "application/json",
            serde_json::to_vec(&params)?,
        )?;
        println!("{}", serde_json::to_string_pretty(&result)?);
        Ok(())
    }
}
