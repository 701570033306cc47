//! The PostgreSQL registry against a real PostgreSQL server: the same
//! contract as the embedded one, seen from two registries on one database
//! (two nodes), with changes announced to the other.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support {
    pub mod postgres;
}

use std::sync::Arc;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use support::postgres::Postgres;
use wisp_api::kv::KvWrite;
use wisp_registry::{
    ActionRecord, ActivationBatch, ActivationQuery, Change, KeyQuery, KvError, PgRegistry,
    Registry, RegistryError, StoredKey, module_hash, now_millis,
};

fn rec(ns: &str, name: &str, module: &[u8]) -> ActionRecord {
    let spec = wisp_api::resolve::resolve(
        wisp_api::ActionDoc::default(),
        None,
        &wisp_api::Policy::default(),
    )
    .unwrap();
    ActionRecord::new(
        ns,
        name,
        module_hash(module),
        wisp_api::Shape::Command,
        spec,
    )
}

/// The next change other than a resync, within 5 s.
fn next_change(rx: &Receiver<Change>) -> Change {
    loop {
        match rx
            .recv_timeout(Duration::from_secs(5))
            .expect("a change within 5 s")
        {
            Change::Resync => continue,
            c => return c,
        }
    }
}

#[test]
fn two_nodes_share_actions_versions_keys_entities_and_see_each_others_changes() {
    let pg = Postgres::start();
    let a = PgRegistry::open(&pg.url()).unwrap().keep_versions(2);
    let b = PgRegistry::open(&pg.url()).unwrap();
    let changes = b.subscribe().unwrap();
    assert_eq!(
        changes.recv_timeout(Duration::from_secs(5)).unwrap(),
        Change::Resync,
        "the feed starts with a resync"
    );

    // A deploy on one node is read on the other, and announced.
    let v1 = a
        .put_action(rec("ns", "x", b"one"), b"one", None, false)
        .unwrap();
    assert_eq!(v1.version, "0.0.1");
    assert_eq!(
        next_change(&changes),
        Change::Action {
            namespace: "ns".into(),
            name: "x".into()
        }
    );
    assert_eq!(
        b.get_action("ns", "x").unwrap().unwrap().module_hash,
        module_hash(b"one")
    );
    assert_eq!(b.get_module(&module_hash(b"one")).unwrap().unwrap(), b"one");
    assert!(matches!(
        b.put_action(rec("ns", "x", b"two"), b"two", None, false),
        Err(RegistryError::Conflict(_))
    ));
    assert_eq!(
        b.put_action(rec("ns", "x", b"two"), b"two", None, true)
            .unwrap()
            .version,
        "0.0.2"
    );
    assert_eq!(
        a.put_action(rec("ns", "x", b"three"), b"three", None, true)
            .unwrap()
            .version,
        "0.0.3"
    );
    // Two versions kept: the first went, and so did its module.
    let kept: Vec<String> = a
        .list_versions("ns", "x")
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect();
    assert_eq!(kept, ["0.0.3", "0.0.2"]);
    assert!(!a.has_module(&module_hash(b"one")).unwrap());
    // Rollback, to the one before and by name.
    assert_eq!(
        b.rollback("ns", "x", None).unwrap().unwrap().version,
        "0.0.2"
    );
    assert_eq!(a.get_action("ns", "x").unwrap().unwrap().version, "0.0.2");
    assert!(matches!(
        b.rollback("ns", "x", Some("0.0.1")),
        Err(RegistryError::NoVersion(_))
    ));
    assert!(b.rollback("ns", "nothing", None).unwrap().is_none());
    // The next deploy follows the newest kept version, not the current one.
    assert_eq!(
        a.put_action(rec("ns", "x", b"four"), b"four", None, true)
            .unwrap()
            .version,
        "0.0.4"
    );
    // Listing, in byte order; a namespace that is a prefix of another sees only its own.
    a.put_action(rec("ns", "Y", b"two"), b"two", None, false)
        .unwrap();
    a.put_action(rec("ns0", "z", b"two"), b"two", None, false)
        .unwrap();
    let names: Vec<String> = b
        .list_actions("ns", 0, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["Y", "x"]);
    assert_eq!(b.list_actions("ns", 1, 10).unwrap().len(), 1);
    assert_eq!(b.all_actions().unwrap().len(), 3);
    // A delete releases the modules no kept version runs.
    assert!(b.delete_action("ns", "x").unwrap().unwrap().is_ok());
    assert!(a.get_action("ns", "x").unwrap().is_none());
    assert!(!a.has_module(&module_hash(b"three")).unwrap());
    assert!(
        a.has_module(&module_hash(b"two")).unwrap(),
        "still run by ns/Y and ns0/z"
    );
    assert!(b.delete_action("ns", "x").unwrap().is_none());

    // Namespaces, keys and entities, and a namespace's deletion.
    assert!(a.create_namespace("team").unwrap());
    assert!(!b.create_namespace("team").unwrap());
    assert_eq!(b.list_namespaces().unwrap(), ["team"]);
    let key = StoredKey {
        id: "k1".into(),
        namespace: "team".into(),
        secret_sha256: "00".into(),
        created: 1,
    };
    a.put_key(&key).unwrap();
    assert_eq!(b.list_keys().unwrap(), std::slice::from_ref(&key));
    b.put_entity("trigger", "team", "t", b"{}", false).unwrap();
    assert!(matches!(
        a.put_entity("trigger", "team", "t", b"{}", false),
        Err(RegistryError::Conflict(_))
    ));
    a.put_entity("trigger", "team", "t", b"{\"v\":2}", true)
        .unwrap();
    assert_eq!(
        b.get_entity("trigger", "team", "t").unwrap().unwrap(),
        b"{\"v\":2}"
    );
    assert_eq!(b.list_entities("trigger", "team", 0, 10).unwrap().len(), 1);
    // A write-back holds only when nothing changed meanwhile.
    assert!(
        b.replace_entity("trigger", "team", "t", b"{\"v\":2}", b"{\"v\":3}")
            .unwrap()
    );
    assert!(
        !a.replace_entity("trigger", "team", "t", b"{\"v\":2}", b"{\"v\":4}")
            .unwrap()
    );
    assert!(
        !a.replace_entity("trigger", "team", "gone", b"{}", b"{}")
            .unwrap()
    );
    assert_eq!(
        a.get_entity("trigger", "team", "t").unwrap().unwrap(),
        b"{\"v\":3}"
    );
    assert_eq!(b.all_entities("trigger").unwrap().len(), 1);
    a.put_action(rec("team", "w", b"five"), b"five", None, false)
        .unwrap();
    a.kv_create_store("team", "cache").unwrap();
    a.kv_set("team", "cache", "k", b"v").unwrap();
    let gone = b.delete_namespace("team").unwrap().unwrap();
    assert_eq!(gone.actions, ["w"]);
    assert_eq!(gone.keys, ["k1"]);
    assert_eq!(gone.stores, ["default", "cache"]);
    assert_eq!(gone.module_hashes, [module_hash(b"five")]);
    assert!(a.list_keys().unwrap().is_empty());
    assert!(a.get_entity("trigger", "team", "t").unwrap().is_none());
    assert!(!a.has_module(&module_hash(b"five")).unwrap());
    assert_eq!(
        a.kv_stores("team").unwrap(),
        (vec!["default".to_string()], 0)
    );
    assert!(b.delete_namespace("team").unwrap().is_none());
    // Every change was announced, keys included.
    let mut seen = Vec::new();
    while let Ok(c) = changes.recv_timeout(Duration::from_millis(500)) {
        seen.push(c);
    }
    assert!(seen.contains(&Change::Keys), "{seen:?}");
    assert!(
        seen.contains(&Change::Entities("trigger".into())),
        "{seen:?}"
    );
    assert!(seen.contains(&Change::Action {
        namespace: "team".into(),
        name: "w".into()
    }));

    // A second open applies no migration again.
    drop(PgRegistry::open(&pg.url()).unwrap());
}

#[test]
fn key_value_atomics_hold_across_nodes_and_the_quota_is_never_passed() {
    let pg = Postgres::start();
    let nodes: Vec<Arc<PgRegistry>> = (0..3)
        .map(|_| Arc::new(PgRegistry::open(&pg.url()).unwrap().kv_quota(200)))
        .collect();
    // 3 nodes × 8 threads × 20 increments.
    let mut threads = Vec::new();
    for node in &nodes {
        for _ in 0..8 {
            let node = node.clone();
            threads.push(std::thread::spawn(move || {
                for _ in 0..20 {
                    node.kv_increment("ns", "default", "count", 1).unwrap();
                }
            }));
        }
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        nodes[1].kv_get("ns", "default", "count").unwrap().unwrap(),
        b"480"
    );
    // Compare-and-swap: exactly one of many racing swaps from the same value wins.
    let wins: usize = (0..6)
        .map(|i| {
            let node = nodes[i % 3].clone();
            std::thread::spawn(move || {
                usize::from(
                    node.kv_compare_and_swap(
                        "ns",
                        "default",
                        "count",
                        Some(b"480"),
                        format!("w{i}").as_bytes(),
                    )
                    .unwrap(),
                )
            })
        })
        .map(|t| t.join().unwrap())
        .sum();
    assert_eq!(wins, 1);
    assert!(matches!(
        nodes[0].kv_increment("ns", "default", "count", 1),
        Err(KvError::Invalid(_))
    ));
    // Missing stores, the quota, batches that fail as a whole.
    assert!(matches!(
        nodes[0].kv_set("ns", "cache", "k", b"v"),
        Err(KvError::NoSuchStore { .. })
    ));
    assert!(nodes[0].kv_create_store("ns", "cache").unwrap());
    assert!(!nodes[1].kv_create_store("ns", "cache").unwrap());
    let used = nodes[2].kv_stores("ns").unwrap().1;
    assert_eq!(used, ("count".len() + 2) as u64);
    let err = nodes[0]
        .kv_write(
            "ns",
            "cache",
            &[
                KvWrite::Set("a".into(), vec![b'x'; 50]),
                KvWrite::Set("b".into(), vec![b'x'; 200]),
            ],
        )
        .unwrap_err();
    assert!(matches!(err, KvError::Quota { .. }), "{err}");
    assert_eq!(
        nodes[1].kv_get("ns", "cache", "a").unwrap(),
        None,
        "nothing of a refused batch"
    );
    for k in ["p1", "p2", "p3", "q1"] {
        nodes[0].kv_set("ns", "cache", k, b"1").unwrap();
    }
    let page = nodes[1]
        .kv_keys(
            "ns",
            "cache",
            &KeyQuery {
                prefix: "p".into(),
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(page.keys, ["p1", "p2"]);
    let rest = nodes[2]
        .kv_keys(
            "ns",
            "cache",
            &KeyQuery {
                prefix: "p".into(),
                after: page.cursor,
                limit: 2,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!((rest.keys, rest.cursor), (vec!["p3".to_string()], None));
    assert_eq!(
        nodes[0].kv_get_many("ns", "cache", &["q1", "zz"]).unwrap(),
        [Some(b"1".to_vec()), None]
    );
    assert!(nodes[1].kv_delete_store("ns", "cache").unwrap());
    assert_eq!(
        nodes[0].kv_stores("ns").unwrap(),
        (vec!["default".to_string()], used)
    );
    assert!(matches!(
        nodes[0].kv_delete_store("ns", "default"),
        Err(KvError::Invalid(_))
    ));
}

#[test]
fn activations_leases_and_a_database_restart() {
    let pg = Postgres::start();
    let a = PgRegistry::open(&pg.url()).unwrap();
    let b = PgRegistry::open(&pg.url()).unwrap();
    let base = now_millis() - 60_000;
    let mut batch = ActivationBatch::with_capacity(0);
    for (ns, name, n, start) in [
        ("a", "x", 1, base + 100),
        ("a", "y", 2, base + 200),
        ("a", "x", 3, base + 300),
        ("b", "x", 4, base + 250),
    ] {
        let id = format!("{:016x}{n:016}", start * 1000);
        let doc = serde_json::json!({"name": name, "activationId": id});
        batch.push(ns, name, &id, start * 1000, |out| {
            serde_json::to_writer(out, &doc).unwrap()
        });
    }
    a.put_activations(&batch).unwrap();
    let names = |q: ActivationQuery| -> Vec<String> {
        b.list_activations("a", &q)
            .unwrap()
            .into_iter()
            .map(|(_, r)| r["activationId"].as_str().unwrap()[31..].to_string())
            .collect()
    };
    let all = ActivationQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(names(all.clone()), ["3", "2", "1"]);
    assert_eq!(
        names(ActivationQuery {
            name: Some("x".into()),
            ..all.clone()
        }),
        ["3", "1"]
    );
    assert_eq!(
        names(ActivationQuery {
            since: Some(base + 200),
            ..all.clone()
        }),
        ["3", "2"]
    );
    assert_eq!(
        names(ActivationQuery {
            skip: 1,
            limit: 1,
            ..all.clone()
        }),
        ["2"]
    );
    let id4 = format!("{:016x}{:016}", (base + 250) * 1000, 4);
    assert!(
        b.get_activation("a", &id4).unwrap().is_none(),
        "another namespace's"
    );
    assert!(b.get_activation("b", &id4).unwrap().is_some());
    assert_eq!(a.prune_activations(2, base, u64::MAX).unwrap(), 2);
    assert_eq!(names(all.clone()), ["3"]);

    // One holder of a lease at a time; it renews, and it lapses.
    let ttl = Duration::from_millis(2500);
    assert!(a.lease("alarms", "node-a", ttl).unwrap());
    assert!(!b.lease("alarms", "node-b", ttl).unwrap());
    assert!(a.lease("alarms", "node-a", ttl).unwrap());
    std::thread::sleep(ttl + Duration::from_millis(500));
    assert!(b.lease("alarms", "node-b", ttl).unwrap());
    assert!(!a.lease("alarms", "node-a", ttl).unwrap());

    // The database restarts: calls in between fail with a clear error, then
    // work again; the change feed resyncs.
    let changes = a.subscribe().unwrap();
    assert_eq!(
        changes.recv_timeout(Duration::from_secs(5)).unwrap(),
        Change::Resync
    );
    pg.stop();
    let err = a.list_namespaces().unwrap_err().to_string();
    assert!(err.contains("PostgreSQL"), "{err}");
    pg.restart();
    let mut back = false;
    for _ in 0..50 {
        if a.list_namespaces().is_ok() {
            back = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(back, "the registry works again after the database restarts");
    assert_eq!(
        changes.recv_timeout(Duration::from_secs(20)).unwrap(),
        Change::Resync,
        "the feed reconnects and asks for a resync"
    );
    assert!(PgRegistry::open("postgres://wisp@127.0.0.1:1/none").is_err());
    let err = PgRegistry::open("not a url at all")
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("connection string"), "{err}");
}
