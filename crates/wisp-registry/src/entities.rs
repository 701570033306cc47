//! Generic entities (triggers, rules, alarm feeds): JSON documents stored under
//! `kind`, `namespace` and `name` in one table, keyed `kind\0namespace\0name` so a
//! namespace's entities of one kind are one sorted range.

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::redb_store::storage;
use crate::{RegistryError, Result};

/// `kind\0namespace\0name` → the entity's JSON document.
pub(crate) const ENTITIES: TableDefinition<&str, &[u8]> = TableDefinition::new("entities");

fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}\0{namespace}\0{name}")
}

pub(crate) fn put(
    db: &Database,
    kind: &str,
    namespace: &str,
    name: &str,
    json: &[u8],
    overwrite: bool,
) -> Result<()> {
    let k = key(kind, namespace, name);
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut t = txn.open_table(ENTITIES).map_err(storage)?;
        if !overwrite && t.get(k.as_str()).map_err(storage)?.is_some() {
            return Err(RegistryError::Conflict(format!(
                "{kind} {namespace}/{name}"
            )));
        }
        t.insert(k.as_str(), json).map_err(storage)?;
    }
    txn.commit().map_err(storage)?;
    Ok(())
}

pub(crate) fn get(
    db: &Database,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    let txn = db.begin_read().map_err(storage)?;
    let t = txn.open_table(ENTITIES).map_err(storage)?;
    let v = t
        .get(key(kind, namespace, name).as_str())
        .map_err(storage)?;
    Ok(v.map(|v| v.value().to_vec()))
}

pub(crate) fn list(
    db: &Database,
    kind: &str,
    namespace: Option<&str>,
    skip: usize,
    limit: usize,
) -> Result<Vec<(String, String, Vec<u8>)>> {
    let prefix = match namespace {
        Some(ns) => format!("{kind}\0{ns}\0"),
        None => format!("{kind}\0"),
    };
    let txn = db.begin_read().map_err(storage)?;
    let t = txn.open_table(ENTITIES).map_err(storage)?;
    let mut out = Vec::new();
    for e in t.range(prefix.as_str()..).map_err(storage)? {
        let (k, v) = e.map_err(storage)?;
        let Some(rest) = k.value().strip_prefix(prefix.as_str()).map(str::to_string) else {
            break;
        };
        let (ns, name) = match namespace {
            Some(ns) => (ns.to_string(), rest),
            None => match rest.split_once('\0') {
                Some((ns, name)) => (ns.to_string(), name.to_string()),
                None => continue,
            },
        };
        out.push((ns, name, v.value().to_vec()));
    }
    Ok(out.into_iter().skip(skip).take(limit).collect())
}

/// Replaces a document only when it still holds `expected`.
pub(crate) fn replace(
    db: &Database,
    kind: &str,
    namespace: &str,
    name: &str,
    expected: &[u8],
    json: &[u8],
) -> Result<bool> {
    let k = key(kind, namespace, name);
    let txn = db.begin_write().map_err(storage)?;
    {
        let mut t = txn.open_table(ENTITIES).map_err(storage)?;
        let same = t
            .get(k.as_str())
            .map_err(storage)?
            .is_some_and(|v| v.value() == expected);
        if !same {
            return Ok(false);
        }
        t.insert(k.as_str(), json).map_err(storage)?;
    }
    txn.commit().map_err(storage)?;
    Ok(true)
}

pub(crate) fn delete(
    db: &Database,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    let txn = db.begin_write().map_err(storage)?;
    let removed = {
        let mut t = txn.open_table(ENTITIES).map_err(storage)?;
        let v = t
            .remove(key(kind, namespace, name).as_str())
            .map_err(storage)?;
        v.map(|v| v.value().to_vec())
    };
    txn.commit().map_err(storage)?;
    Ok(removed)
}

/// Removes every entity of a namespace, of every kind, inside `txn` (a deleted
/// namespace takes its triggers and rules with it); how many there were.
pub(crate) fn remove_namespace(txn: &redb::WriteTransaction, namespace: &str) -> Result<usize> {
    let mut t = txn.open_table(ENTITIES).map_err(storage)?;
    let mut removed = 0;
    t.retain(|k, _| {
        let of_it = k.split('\0').nth(1) == Some(namespace);
        removed += usize::from(of_it);
        !of_it
    })
    .map_err(storage)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use crate::{RedbRegistry, Registry, RegistryError};

    #[test]
    fn entities_put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let reg = RedbRegistry::open(dir.path().join("r.redb")).unwrap();
        reg.put_entity("trigger", "ns", "b", b"{\"b\":1}", false)
            .unwrap();
        reg.put_entity("trigger", "ns", "a", b"{}", false).unwrap();
        reg.put_entity("trigger", "ns2", "c", b"{}", false).unwrap();
        reg.put_entity("rule", "ns", "r", b"{}", false).unwrap();
        assert!(matches!(
            reg.put_entity("trigger", "ns", "a", b"{}", false),
            Err(RegistryError::Conflict(_))
        ));
        reg.put_entity("trigger", "ns", "a", b"{\"a\":2}", true)
            .unwrap();
        assert_eq!(
            reg.get_entity("trigger", "ns", "a").unwrap().unwrap(),
            b"{\"a\":2}"
        );
        let names: Vec<String> = reg
            .list_entities("trigger", "ns", 0, 10)
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(reg.list_entities("trigger", "ns", 1, 10).unwrap().len(), 1);
        assert_eq!(reg.all_entities("trigger").unwrap().len(), 3);
        assert!(
            reg.replace_entity("trigger", "ns", "a", b"{\"a\":2}", b"{\"a\":3}")
                .unwrap()
        );
        assert!(
            !reg.replace_entity("trigger", "ns", "a", b"{\"a\":2}", b"{}")
                .unwrap()
        );
        assert!(
            !reg.replace_entity("trigger", "ns", "none", b"{}", b"{}")
                .unwrap()
        );
        assert!(reg.delete_entity("trigger", "ns", "a").unwrap().is_some());
        assert!(reg.get_entity("trigger", "ns", "a").unwrap().is_none());
        assert!(reg.delete_entity("trigger", "ns", "a").unwrap().is_none());
    }
}
