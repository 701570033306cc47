//! Pure request routing: method and path in, [`Route`] out. No I/O.

use http::Method;

/// The namespace `/fn/...` routes and `_` resolve to for the built-in key.
pub const DEFAULT_NAMESPACE: &str = "guest";

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// A probe of the process, answered even while draining.
    Probe(Probe),
    /// `GET /api/v1`: API information.
    ApiInfo,
    /// `GET /api/v1/namespaces`.
    ListNamespaces,
    /// `GET /api/v1/namespaces/{ns}/actions`.
    ListActions {
        /// Namespace as written (may be `_`).
        namespace: String,
    },
    /// `GET|PUT|DELETE|POST /api/v1/namespaces/{ns}/actions/{name}`.
    Action {
        /// Namespace as written (may be `_`).
        namespace: String,
        /// Action name.
        name: String,
        /// Which operation.
        op: ActionOp,
    },
    /// `GET /api/v1/namespaces/{ns}/activations[/{id}[/logs|/result]]`.
    Activations {
        /// Namespace as written (may be `_`).
        namespace: String,
        /// Which view.
        op: ActivationOp,
    },
    /// A web call: `/api/v1/web/{ns}/default/{name}[/rest]` or `/fn/{name}[/rest]`.
    Web {
        /// Namespace as written (may be `_`).
        namespace: String,
        /// Action name.
        name: String,
        /// The route prefix the action was reached under.
        prefix: String,
        /// The rest of the path, starting with `/`.
        path_info: String,
    },
    /// `/api/v1/namespaces/{ns}/kv[/{store}[/{key}]]`: key-value stores.
    KeyValue {
        /// Namespace as written (may be `_`).
        namespace: String,
        /// Which operation.
        op: KvOp,
    },
    /// Namespace and key management, for the server's own key:
    /// `GET /api/v1/admin/namespaces`, `PUT /api/v1/admin/namespaces/{ns}`,
    /// `DELETE /api/v1/admin/namespaces/{ns}`,
    /// `POST /api/v1/admin/namespaces/{ns}/keys[?rotate=true]`,
    /// `DELETE /api/v1/admin/keys/{id}`.
    Admin(AdminOp),
    /// Triggers and rules: `/api/v1/namespaces/{ns}/triggers|rules[/{name}]`.
    Entity {
        /// Namespace as written (may be `_`).
        namespace: String,
        /// `triggers` or `rules`.
        collection: EntityKind,
        /// The entity's name; `None` for the listing.
        name: Option<String>,
        /// The request's method.
        method: Method,
    },
    /// `POST /api/v1/namespaces/whisk.system/actions/alarms/{feed}`: a
    /// lifecycle call of an alarms feed, as OpenWhisk's clients make it.
    Feed {
        /// The feed: `alarm`, `interval` or `once` (others are answered 404).
        name: String,
    },
    /// `GET /ui[/]`, `/ui/app.js`, `/ui/style.css`: the dashboard's files.
    Ui(UiAsset),
    /// A known path with a method it does not support.
    MethodNotAllowed,
    /// Nothing here.
    NotFound,
}

/// What health checks and scrapers ask: answered before the drain check, and
/// without counting as a request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// `GET /healthz` (or `/health`): liveness.
    Health,
    /// `GET /readyz`: readiness.
    Ready,
    /// `GET /metrics`: Prometheus metrics.
    Metrics,
}

/// Namespace and key management operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOp {
    /// List namespaces and their key ids.
    ListNamespaces,
    /// Create a namespace with its first key.
    CreateNamespace(String),
    /// Delete a namespace and everything in it.
    DeleteNamespace(String),
    /// Add a key to a namespace.
    AddKey(String),
    /// Revoke a key.
    RevokeKey(String),
    /// The node's figures: instances, queue, refusals, compiled code, memory.
    Overview,
}

/// Operations on key-value stores. Store names and keys are as written in
/// the path (keys still percent-encoded; a key may contain `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvOp {
    /// `GET .../kv`: the namespace's stores.
    ListStores,
    /// `PUT .../kv/{store}`.
    CreateStore(String),
    /// `DELETE .../kv/{store}`.
    DeleteStore(String),
    /// `GET .../kv/{store}`: a page of keys.
    ListKeys(String),
    /// `GET .../kv/{store}/{key}`.
    Get {
        /// The store.
        store: String,
        /// The key, percent-encoded.
        key: String,
    },
    /// `PUT .../kv/{store}/{key}`: the body is the value.
    Put {
        /// The store.
        store: String,
        /// The key, percent-encoded.
        key: String,
    },
    /// `DELETE .../kv/{store}/{key}`.
    Delete {
        /// The store.
        store: String,
        /// The key, percent-encoded.
        key: String,
    },
}

/// Views of activation records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActivationOp {
    /// The list, newest first.
    List,
    /// One whole record.
    Get(String),
    /// One record's logs.
    Logs(String),
    /// One record's response.
    Result(String),
}

/// Which event entities a [`Route::Entity`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// `triggers`.
    Trigger,
    /// `rules`.
    Rule,
}

/// Operations on one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOp {
    /// Read it.
    Get,
    /// Create or update it.
    Put,
    /// Delete it.
    Delete,
    /// Invoke it.
    Invoke,
    /// Replace its read-only assets (`PUT .../actions/{name}/assets`, a tar body).
    PutAssets,
    /// Its access pattern and call figures (`GET .../actions/{name}/stats`).
    Stats,
    /// Its kept versions (`GET .../actions/{name}/versions`).
    Versions,
    /// Makes a kept version current (`POST .../actions/{name}/rollback`).
    Rollback,
}

/// One of the dashboard's files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiAsset {
    /// `index.html`.
    Page,
    /// `app.js`.
    Script,
    /// `style.css`.
    Style,
}

/// Whether `s` is a valid namespace, package, action or key-value store name
/// (defined with the wire types, which the registry checks store names with).
pub use wisp_api::valid_name;

/// Routes a request path (without the query string).
pub fn route(method: &Method, path: &str) -> Route {
    match path {
        "/healthz" | "/health" => return get_only(method, Route::Probe(Probe::Health)),
        "/readyz" => return get_only(method, Route::Probe(Probe::Ready)),
        "/metrics" => return get_only(method, Route::Probe(Probe::Metrics)),
        "/ui" | "/ui/" | "/ui/index.html" => return get_only(method, Route::Ui(UiAsset::Page)),
        "/ui/app.js" => return get_only(method, Route::Ui(UiAsset::Script)),
        "/ui/style.css" => return get_only(method, Route::Ui(UiAsset::Style)),
        _ => {}
    }
    if let Some(rest) = path.strip_prefix("/fn/") {
        let (name, path_info) = split_first(rest);
        return web(DEFAULT_NAMESPACE, name, format!("/fn/{name}"), path_info);
    }
    let Some(rest) = path.strip_prefix("/api/v1") else {
        return Route::NotFound;
    };
    if rest.is_empty() || rest == "/" {
        return get_only(method, Route::ApiInfo);
    }
    if let Some(rest) = rest.strip_prefix("/web/") {
        let (ns, rest) = split_first(rest);
        let (pkg, rest) = split_first(rest.strip_prefix('/').unwrap_or(""));
        let (name, path_info) = split_first(rest.strip_prefix('/').unwrap_or(""));
        if pkg != "default" || !valid_name(ns) {
            return Route::NotFound;
        }
        return web(
            ns,
            name,
            format!("/api/v1/web/{ns}/default/{name}"),
            path_info,
        );
    }
    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["admin", "namespaces"] => get_only(method, Route::Admin(AdminOp::ListNamespaces)),
        ["admin", "overview"] => get_only(method, Route::Admin(AdminOp::Overview)),
        ["admin", "namespaces", ns] => match *method {
            Method::PUT => Route::Admin(AdminOp::CreateNamespace(ns.to_string())),
            Method::DELETE => Route::Admin(AdminOp::DeleteNamespace(ns.to_string())),
            _ => Route::MethodNotAllowed,
        },
        ["admin", "namespaces", ns, "keys"] => match *method {
            Method::POST => Route::Admin(AdminOp::AddKey(ns.to_string())),
            _ => Route::MethodNotAllowed,
        },
        ["admin", "keys", id] => match *method {
            Method::DELETE => Route::Admin(AdminOp::RevokeKey(id.to_string())),
            _ => Route::MethodNotAllowed,
        },
        ["namespaces"] | ["namespaces", ""] => get_only(method, Route::ListNamespaces),
        ["namespaces", ns, "actions"] | ["namespaces", ns, "actions", ""] => get_only(
            method,
            Route::ListActions {
                namespace: ns.to_string(),
            },
        ),
        ["namespaces", ns, "activations"] | ["namespaces", ns, "activations", ""] => get_only(
            method,
            Route::Activations {
                namespace: ns.to_string(),
                op: ActivationOp::List,
            },
        ),
        ["namespaces", ns, "activations", id, rest @ ..] => {
            let op = match rest {
                [] => ActivationOp::Get(id.to_string()),
                ["logs"] => ActivationOp::Logs(id.to_string()),
                ["result"] => ActivationOp::Result(id.to_string()),
                _ => return Route::NotFound,
            };
            get_only(
                method,
                Route::Activations {
                    namespace: ns.to_string(),
                    op,
                },
            )
        }
        ["namespaces", ns, coll @ ("triggers" | "rules"), rest @ ..] => {
            let collection = if *coll == "triggers" {
                EntityKind::Trigger
            } else {
                EntityKind::Rule
            };
            let name = match rest {
                [] | [""] => None,
                [name] => Some(name.to_string()),
                _ => return Route::NotFound,
            };
            Route::Entity {
                namespace: ns.to_string(),
                collection,
                name,
                method: method.clone(),
            }
        }
        ["namespaces", ns, "kv", rest @ ..] => match kv_op(method, rest) {
            Some(op) => Route::KeyValue {
                namespace: ns.to_string(),
                op,
            },
            None => Route::MethodNotAllowed,
        },
        ["namespaces", "whisk.system", "actions", "alarms", feed] => match *method {
            Method::POST => Route::Feed {
                name: feed.to_string(),
            },
            _ => Route::MethodNotAllowed,
        },
        ["namespaces", ns, "actions", name, "versions"] => {
            action_op(method == Method::GET, ns, name, ActionOp::Versions)
        }
        ["namespaces", ns, "actions", name, "rollback"] => {
            action_op(method == Method::POST, ns, name, ActionOp::Rollback)
        }
        ["namespaces", ns, "actions", name, "stats"] => {
            action_op(method == Method::GET, ns, name, ActionOp::Stats)
        }
        ["namespaces", ns, "actions", name, "assets"] => {
            action_op(method == Method::PUT, ns, name, ActionOp::PutAssets)
        }
        ["namespaces", ns, "actions", name] => {
            let op = match *method {
                Method::GET => ActionOp::Get,
                Method::PUT => ActionOp::Put,
                Method::DELETE => ActionOp::Delete,
                Method::POST => ActionOp::Invoke,
                _ => return Route::MethodNotAllowed,
            };
            Route::Action {
                namespace: ns.to_string(),
                name: name.to_string(),
                op,
            }
        }
        _ => Route::NotFound,
    }
}

/// The key-value operation of a method on `.../kv/{rest}`; `None` when the
/// method does not fit the path.
fn kv_op(method: &Method, rest: &[&str]) -> Option<KvOp> {
    let op = match rest {
        [] | [""] => match *method {
            Method::GET => KvOp::ListStores,
            _ => return None,
        },
        [store] | [store, ""] => {
            let store = store.to_string();
            match *method {
                Method::GET => KvOp::ListKeys(store),
                Method::PUT => KvOp::CreateStore(store),
                Method::DELETE => KvOp::DeleteStore(store),
                _ => return None,
            }
        }
        [store, key @ ..] => {
            let (store, key) = (store.to_string(), key.join("/"));
            match *method {
                Method::GET => KvOp::Get { store, key },
                Method::PUT => KvOp::Put { store, key },
                Method::DELETE => KvOp::Delete { store, key },
                _ => return None,
            }
        }
    };
    Some(op)
}

/// An operation on one action when the method fits it.
fn action_op(method_fits: bool, ns: &str, name: &str, op: ActionOp) -> Route {
    if method_fits {
        Route::Action {
            namespace: ns.to_string(),
            name: name.to_string(),
            op,
        }
    } else {
        Route::MethodNotAllowed
    }
}

fn get_only(method: &Method, route: Route) -> Route {
    if method == Method::GET {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// Splits `a/b/c` into `("a", "/b/c")`; `a` into `("a", "/")`.
fn split_first(s: &str) -> (&str, String) {
    match s.find('/') {
        Some(i) => (&s[..i], s[i..].to_string()),
        None => (s, "/".to_string()),
    }
}

fn web(ns: &str, name: &str, prefix: String, path_info: String) -> Route {
    if name.is_empty() {
        return Route::NotFound;
    }
    Route::Web {
        namespace: ns.to_string(),
        name: name.to_string(),
        prefix,
        path_info,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web_route(ns: &str, name: &str, prefix: &str, info: &str) -> Route {
        Route::Web {
            namespace: ns.into(),
            name: name.into(),
            prefix: prefix.into(),
            path_info: info.into(),
        }
    }

    #[test]
    fn short_web_routes_see_paths_relative_to_the_action() {
        assert_eq!(
            route(&Method::GET, "/fn/hello"),
            web_route("guest", "hello", "/fn/hello", "/")
        );
        assert_eq!(
            route(&Method::GET, "/fn/hello/"),
            web_route("guest", "hello", "/fn/hello", "/")
        );
        assert_eq!(
            route(&Method::POST, "/fn/hello/echo/x"),
            web_route("guest", "hello", "/fn/hello", "/echo/x")
        );
        assert_eq!(route(&Method::GET, "/fn/"), Route::NotFound);
    }

    #[test]
    fn openwhisk_web_routes() {
        assert_eq!(
            route(&Method::PUT, "/api/v1/web/team/default/hello/a"),
            web_route("team", "hello", "/api/v1/web/team/default/hello", "/a")
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/web/_/default/hello"),
            web_route("_", "hello", "/api/v1/web/_/default/hello", "/")
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/web/team/pkg/hello"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/web/team/default"),
            Route::NotFound
        );
    }

    #[test]
    fn alarm_feed_routes() {
        assert_eq!(
            route(
                &Method::POST,
                "/api/v1/namespaces/whisk.system/actions/alarms/alarm"
            ),
            Route::Feed {
                name: "alarm".into()
            }
        );
        assert_eq!(
            route(
                &Method::GET,
                "/api/v1/namespaces/whisk.system/actions/alarms/once"
            ),
            Route::MethodNotAllowed
        );
        // Other namespaces' packaged actions are not feeds.
        assert_eq!(
            route(
                &Method::POST,
                "/api/v1/namespaces/team/actions/alarms/alarm"
            ),
            Route::NotFound
        );
    }

    #[test]
    fn action_routes() {
        let r = route(&Method::PUT, "/api/v1/namespaces/_/actions/hello");
        assert_eq!(
            r,
            Route::Action {
                namespace: "_".into(),
                name: "hello".into(),
                op: ActionOp::Put
            }
        );
        assert!(matches!(
            route(&Method::GET, "/api/v1/namespaces/_/actions/hello/stats"),
            Route::Action {
                op: ActionOp::Stats,
                ..
            }
        ));
        assert_eq!(
            route(&Method::POST, "/api/v1/namespaces/_/actions/hello/stats"),
            Route::MethodNotAllowed
        );
        for (method, path, op) in [
            (Method::GET, "versions", ActionOp::Versions),
            (Method::POST, "rollback", ActionOp::Rollback),
        ] {
            assert!(matches!(
                route(&method, &format!("/api/v1/namespaces/_/actions/hello/{path}")),
                Route::Action { op: o, .. } if o == op
            ));
        }
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/_/actions/hello/rollback"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(
                &Method::DELETE,
                "/api/v1/namespaces/_/actions/hello/versions"
            ),
            Route::MethodNotAllowed
        );
        assert!(matches!(
            route(&Method::POST, "/api/v1/namespaces/guest/actions/hello"),
            Route::Action {
                op: ActionOp::Invoke,
                ..
            }
        ));
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/guest/actions"),
            Route::ListActions {
                namespace: "guest".into()
            }
        );
        assert_eq!(
            route(&Method::POST, "/api/v1/namespaces/guest/actions"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::PATCH, "/api/v1/namespaces/g/actions/x"),
            Route::MethodNotAllowed
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces"),
            Route::ListNamespaces
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/g/packages"),
            Route::NotFound
        );
        assert_eq!(
            route(&Method::POST, "/api/v1/namespaces/_/rules/r"),
            Route::Entity {
                namespace: "_".into(),
                collection: EntityKind::Rule,
                name: Some("r".into()),
                method: Method::POST
            }
        );
        assert_eq!(
            route(&Method::GET, "/api/v1/namespaces/g/triggers/t/x"),
            Route::NotFound
        );
        assert_eq!(route(&Method::GET, "/nothing"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/api/v1"), Route::ApiInfo);
        assert_eq!(route(&Method::GET, "/health"), Route::Probe(Probe::Health));
        assert_eq!(route(&Method::GET, "/healthz"), Route::Probe(Probe::Health));
        assert_eq!(route(&Method::GET, "/ui"), Route::Ui(UiAsset::Page));
        assert_eq!(route(&Method::GET, "/ui/"), Route::Ui(UiAsset::Page));
        assert_eq!(
            route(&Method::GET, "/ui/app.js"),
            Route::Ui(UiAsset::Script)
        );
        assert_eq!(
            route(&Method::GET, "/ui/style.css"),
            Route::Ui(UiAsset::Style)
        );
        assert_eq!(route(&Method::POST, "/ui"), Route::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/ui/other.js"), Route::NotFound);
        assert_eq!(route(&Method::GET, "/readyz"), Route::Probe(Probe::Ready));
        assert_eq!(route(&Method::POST, "/readyz"), Route::MethodNotAllowed);
        assert_eq!(
            route(&Method::GET, "/metrics"),
            Route::Probe(Probe::Metrics)
        );
        assert_eq!(route(&Method::PUT, "/metrics"), Route::MethodNotAllowed);
    }

    #[test]
    fn key_value_routes_take_the_rest_of_the_path_as_the_key() {
        let kv = |m: Method, p: &str| route(&m, &format!("/api/v1/namespaces/_/kv{p}"));
        let op = |op| Route::KeyValue {
            namespace: "_".into(),
            op,
        };
        assert_eq!(kv(Method::GET, ""), op(KvOp::ListStores));
        assert_eq!(kv(Method::GET, "/"), op(KvOp::ListStores));
        assert_eq!(
            kv(Method::PUT, "/cache"),
            op(KvOp::CreateStore("cache".into()))
        );
        assert_eq!(
            kv(Method::DELETE, "/cache"),
            op(KvOp::DeleteStore("cache".into()))
        );
        assert_eq!(
            kv(Method::GET, "/cache/"),
            op(KvOp::ListKeys("cache".into()))
        );
        assert_eq!(
            kv(Method::GET, "/cache/user/1"),
            op(KvOp::Get {
                store: "cache".into(),
                key: "user/1".into()
            })
        );
        assert_eq!(
            kv(Method::PUT, "/cache/a%2Fb"),
            op(KvOp::Put {
                store: "cache".into(),
                key: "a%2Fb".into()
            })
        );
        assert!(matches!(
            kv(Method::DELETE, "/cache/k"),
            Route::KeyValue {
                op: KvOp::Delete { .. },
                ..
            }
        ));
        assert_eq!(kv(Method::POST, "/cache/k"), Route::MethodNotAllowed);
        assert_eq!(kv(Method::PUT, ""), Route::MethodNotAllowed);
        assert_eq!(
            route(&Method::DELETE, "/api/v1/admin/namespaces/team"),
            Route::Admin(AdminOp::DeleteNamespace("team".into()))
        );
    }

    #[test]
    fn names() {
        assert!(valid_name("hello"));
        assert!(valid_name("a.b-c@d_e"));
        assert!(valid_name("_"));
        assert!(!valid_name(""));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a%20b"));
        assert!(!valid_name(&"a".repeat(257)));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn method() -> impl Strategy<Value = Method> {
            prop_oneof![
                Just(Method::GET),
                Just(Method::PUT),
                Just(Method::POST),
                Just(Method::DELETE),
                Just(Method::PATCH),
                Just(Method::HEAD),
            ]
        }

        proptest! {
            #[test]
            fn any_path_routes_without_panicking(m in method(), path in "(/[a-z_@.%0-9-]{0,6}){0,8}/?") {
                let _ = route(&m, &path);
            }

            #[test]
            fn arbitrary_text_routes_without_panicking(m in method(), path in ".{0,80}") {
                let _ = route(&m, &path);
            }

            #[test]
            fn web_routes_keep_the_rest_of_the_path(name in "[a-z][a-z0-9-]{0,10}", rest in "(/[a-z0-9.]{0,5}){0,4}") {
                let path = format!("/fn/{name}{rest}");
                match route(&Method::GET, &path) {
                    Route::Web { name: n, prefix, path_info, .. } => {
                        prop_assert_eq!(n, name.clone());
                        prop_assert_eq!(prefix, format!("/fn/{name}"));
                        prop_assert_eq!(path_info, if rest.is_empty() { "/".to_string() } else { rest });
                    }
                    other => prop_assert!(false, "{path} routed to {other:?}"),
                }
            }

            #[test]
            fn names_that_pass_are_bounded_and_plain(s in ".{0,300}") {
                if valid_name(&s) {
                    prop_assert!(s.len() <= 256);
                    prop_assert!(!s.contains('/') && !s.contains(' '));
                }
            }
        }
    }
}
