//! Versions through the public registry API: kept, listed, rolled back,
//! trimmed and deleted, across a reopen.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use wisp_api::{ActionDoc, Policy, Shape, resolve::resolve};
use wisp_registry::{ActionRecord, RedbRegistry, Registry, RegistryError, module_hash};

fn rec(name: &str, module: &[u8]) -> ActionRecord {
    let spec = resolve(ActionDoc::default(), None, &Policy::default()).unwrap();
    ActionRecord::new("ns", name, module_hash(module), Shape::Command, spec)
}

fn versions(reg: &RedbRegistry, name: &str) -> Vec<String> {
    reg.list_versions("ns", name)
        .unwrap()
        .into_iter()
        .map(|r| r.version)
        .collect()
}

#[test]
fn deploys_keep_versions_and_a_rollback_makes_an_old_one_current() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.redb");
    let reg = RedbRegistry::open(&path).unwrap().keep_versions(3);
    for m in [b"m1", b"m2", b"m3"] {
        reg.put_action(rec("f", m), m, None, true).unwrap();
    }
    assert_eq!(versions(&reg, "f"), ["0.0.3", "0.0.2", "0.0.1"]);

    // The default target is the version before the current one.
    let back = reg.rollback("ns", "f", None).unwrap().unwrap();
    assert_eq!(back.version, "0.0.2");
    assert_eq!(back.module_hash, module_hash(b"m2"));
    assert_eq!(reg.get_action("ns", "f").unwrap().unwrap().version, "0.0.2");
    let back = reg.rollback("ns", "f", Some("0.0.1")).unwrap().unwrap();
    assert_eq!(back.module_hash, module_hash(b"m1"));
    // Nothing before the oldest, and unknown versions are named.
    let err = reg.rollback("ns", "f", None).unwrap_err();
    assert!(
        matches!(err, RegistryError::NoVersion(ref m) if m.contains("before the current one (0.0.1)")),
        "{err}"
    );
    let err = reg.rollback("ns", "f", Some("0.0.9")).unwrap_err();
    assert!(err.to_string().contains("0.0.9"), "{err}");
    assert!(reg.rollback("ns", "missing", None).unwrap().is_none());

    // A deploy after a rollback numbers after the newest, and trimming keeps
    // the current version (and its module) whatever its age.
    reg.rollback("ns", "f", Some("0.0.1")).unwrap();
    let next = reg.put_action(rec("f", b"m4"), b"m4", None, true).unwrap();
    assert_eq!(next.version, "0.0.4");
    assert_eq!(versions(&reg, "f"), ["0.0.4", "0.0.3", "0.0.2"]);
    assert!(!reg.has_module(&module_hash(b"m1")).unwrap());
    assert!(reg.get_module(&module_hash(b"m1")).unwrap().is_none());
    reg.rollback("ns", "f", Some("0.0.2")).unwrap();
    reg.put_action(rec("f", b"m5"), b"m5", None, true).unwrap();
    reg.put_action(rec("f", b"m6"), b"m6", None, true).unwrap();
    assert_eq!(versions(&reg, "f"), ["0.0.6", "0.0.5", "0.0.4"]);
    for m in [b"m4", b"m5", b"m6"] {
        assert!(reg.get_module(&module_hash(m)).unwrap().is_some());
    }
    drop(reg);

    // Everything survives a reopen; a delete takes every version and module.
    let reg = RedbRegistry::open(&path).unwrap();
    assert_eq!(versions(&reg, "f"), ["0.0.6", "0.0.5", "0.0.4"]);
    assert_eq!(reg.get_action("ns", "f").unwrap().unwrap().version, "0.0.6");
    reg.delete_action("ns", "f").unwrap().unwrap().unwrap();
    assert!(versions(&reg, "f").is_empty());
    assert!(reg.module_hashes().unwrap().is_empty());
    // A new action of that name starts again at 0.0.1.
    assert_eq!(
        reg.put_action(rec("f", b"m1"), b"m1", None, false)
            .unwrap()
            .version,
        "0.0.1"
    );
}

#[test]
fn a_module_two_versions_share_stays_while_either_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let reg = RedbRegistry::open(dir.path().join("r.redb"))
        .unwrap()
        .keep_versions(2);
    reg.put_action(rec("f", b"same"), b"same", None, true)
        .unwrap();
    reg.put_action(rec("f", b"same"), b"same", None, true)
        .unwrap();
    reg.put_action(rec("g", b"same"), b"same", None, true)
        .unwrap();
    reg.put_action(rec("f", b"other"), b"other", None, true)
        .unwrap();
    assert!(reg.has_module(&module_hash(b"same")).unwrap());
    reg.delete_action("ns", "f").unwrap();
    assert!(reg.has_module(&module_hash(b"same")).unwrap(), "g runs it");
    assert!(!reg.has_module(&module_hash(b"other")).unwrap());
    reg.delete_action("ns", "g").unwrap();
    assert!(!reg.has_module(&module_hash(b"same")).unwrap());
}
