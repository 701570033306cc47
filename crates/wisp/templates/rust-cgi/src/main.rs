//! {{name}}: a WASI command that answers both kinds of call wisp makes; every
//! call runs in a fresh instance.
//!
//! - Web calls (`/fn/{{name}}/...`) follow CGI: the request in the environment
//!   (`REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`, ...) and the body on
//!   stdin; CGI headers, a blank line and the body on stdout.
//! - API calls (`wisp invoke {{name}} --param name=edge`) give the parameters
//!   as a JSON object on stdin; the result is the last line of stdout, a JSON
//!   object. Earlier lines and stderr are the activation's logs.

use std::io::Read;

fn main() {
    let mut input = String::new();
    let _ = std::io::stdin().read_to_string(&mut input);
    match std::env::var("REQUEST_METHOD") {
        Ok(method) => web(&method, &input),
        Err(_) => api(&input),
    }
}

fn web(method: &str, body: &str) {
    let path = std::env::var("PATH_INFO").unwrap_or_else(|_| "/".into());
    let query = std::env::var("QUERY_STRING").unwrap_or_default();
    let query = if query.is_empty() { query } else { format!("?{query}") };
    print!("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    println!("Hello from {{name}}! You asked for {method} {path}{query}");
    if !body.is_empty() {
        println!("and sent {} bytes", body.len());
    }
}

fn api(input: &str) {
    let params: serde_json::Value = serde_json::from_str(input).unwrap_or_default();
    let name = params.get("name").and_then(|v| v.as_str()).unwrap_or("world");
    eprintln!("greeting {name}");
    println!("{}", serde_json::json!({ "greeting": format!("Hello, {name}!") }));
}
