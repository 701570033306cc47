//! A JSON action (WASI preview1 command), as OpenWhisk native actions work:
//! parameters as a JSON object on stdin, the result as a JSON object on the last
//! line of stdout; earlier lines and stderr are logs.

use std::io::Read;

fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    let params: serde_json::Value = serde_json::from_str(&input).unwrap_or_default();
    let name = params.get("name").and_then(|v| v.as_str()).unwrap_or("stranger");
    println!("greeting {name}");
    eprintln!("a line on stderr");
    if name == "error" {
        println!("{}", serde_json::json!({"error": "asked to fail"}));
        return;
    }
    println!("{}", serde_json::json!({"greeting": format!("Hello, {name}!")}));
}
