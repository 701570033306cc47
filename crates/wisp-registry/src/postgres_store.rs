//! The shared registry of a fleet: one PostgreSQL database that every node
//! reads and writes.
//!
//! The [`Registry`] trait is synchronous, and so is its caller (redb's calls
//! block on the disk the same way), so this backend uses the synchronous
//! `postgres` client. That client drives its own small runtime, which may not
//! run on a thread that drives the server's; every call is therefore handed
//! to one of the registry's own connection threads and waited for. Each
//! thread owns one connection, opened when first needed and again after a
//! failure, so a restarted database costs the calls in flight and no more.
//!
//! The schema is versioned ([`MIGRATIONS`]): a node applies the steps its
//! database lacks when it opens it, under an advisory lock, so nodes starting
//! together apply each step once. Changes reach the other nodes through
//! `LISTEN`/`NOTIFY`: triggers on the tables send them, inside the writing
//! transaction, so a change is announced exactly when it commits, whichever
//! node (or tool) wrote it. See [`Registry::subscribe`].

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls, Transaction};
use wisp_api::kv::{DEFAULT_STORE, KeyPage, KvWrite, MAX_PAGE_KEYS};

use crate::batch;
use crate::kv::{self, KeyQuery, KvError, KvResult, NamespaceRemoval, StoreRows, Writer};
use crate::redb_store::decode_loosely;
use crate::versions::{self, Stored};
use crate::{
    ActionRecord, ActivationBatch, ActivationQuery, Change, DEFAULT_KEEP_VERSIONS, Registry,
    RegistryError, Result, StoredKey, now_millis,
};

/// The schema, one step a migration: step `n` (from 1) is applied once, in
/// order, and recorded in `wisp_schema`. Steps are never edited once
/// released; a change of schema is a new step.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE modules (
    hash text COLLATE "C" PRIMARY KEY,
    bytes bytea NOT NULL,
    refs bigint NOT NULL
);
CREATE TABLE actions (
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (namespace, name)
);
CREATE TABLE versions (
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (namespace, name, key)
);
CREATE TABLE namespaces (
    name text COLLATE "C" PRIMARY KEY,
    created_ms bigint NOT NULL
);
CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    namespace text COLLATE "C" NOT NULL,
    record bytea NOT NULL
);
CREATE TABLE entities (
    kind text COLLATE "C" NOT NULL,
    namespace text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    doc bytea NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE kv_stores (
    namespace text COLLATE "C" NOT NULL,
    store text COLLATE "C" NOT NULL,
    created_ms bigint NOT NULL,
    PRIMARY KEY (namespace, store)
);
CREATE TABLE kv (
    namespace text COLLATE "C" NOT NULL,
    store text COLLATE "C" NOT NULL,
    key text COLLATE "C" NOT NULL,
    value bytea NOT NULL,
    PRIMARY KEY (namespace, store, key)
);
CREATE TABLE kv_usage (
    namespace text COLLATE "C" PRIMARY KEY,
    used bigint NOT NULL
);
CREATE TABLE activations (
    namespace text COLLATE "C" NOT NULL,
    id text COLLATE "C" NOT NULL,
    name text COLLATE "C" NOT NULL,
    start_us bigint NOT NULL,
    written_us bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (namespace, id)
);
CREATE INDEX activations_by_start ON activations (namespace, start_us DESC, id DESC);
CREATE INDEX activations_by_written ON activations (written_us);
CREATE TABLE leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    until_ms bigint NOT NULL
);
CREATE FUNCTION wisp_action_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('wisp', 'action ' || OLD.namespace || '/' || OLD.name);
    ELSE
        PERFORM pg_notify('wisp', 'action ' || NEW.namespace || '/' || NEW.name);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER actions_changed AFTER INSERT OR UPDATE OR DELETE ON actions
    FOR EACH ROW EXECUTE FUNCTION wisp_action_changed();
CREATE FUNCTION wisp_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wisp', 'keys');
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION wisp_keys_changed();
CREATE FUNCTION wisp_entity_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('wisp', 'entity ' || OLD.kind);
    ELSE
        PERFORM pg_notify('wisp', 'entity ' || NEW.kind);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER entities_changed AFTER INSERT OR UPDATE OR DELETE ON entities
    FOR EACH ROW EXECUTE FUNCTION wisp_entity_changed();
"#];

/// The advisory lock migrations run under (any number no other program
/// takes: "wisp" in ASCII).
const MIGRATION_LOCK: i64 = 0x7769_7370;

/// The channel the tables' triggers notify.
const CHANNEL: &str = "wisp";

/// Connection threads: calls running against the database at once.
const CONNECTIONS: usize = 4;

/// How often the listener checks that its connection is alive when nothing
/// is notified, and how long it waits before connecting again.
const LISTEN_CHECK: Duration = Duration::from_secs(5);

/// Work for a connection thread: the connection, or why there is none.
type Job = Box<dyn FnOnce(std::result::Result<&mut Client, RegistryError>) + Send>;

/// A [`Registry`] in a PostgreSQL database that many nodes share.
pub struct PgRegistry {
    jobs: Mutex<Sender<Job>>,
    /// The connection string, as given (it may hold a password: never shown).
    url: String,
    /// Where it points, for messages: `host:port/db`, no user or password.
    target: String,
    keep_versions: usize,
    kv_quota: u64,
    /// Where module binaries live, when not in the database.
    module_store: Option<Arc<dyn crate::ModuleStore>>,
}

fn storage<E: std::fmt::Display>(e: E) -> RegistryError {
    RegistryError::Storage(e.to_string())
}

fn db_err(e: postgres::Error) -> RegistryError {
    // The database's own message (a constraint, a lost connection) says the
    // most; its Display is only the category.
    match e.as_db_error() {
        Some(db) => RegistryError::Storage(format!("PostgreSQL: {}", db.message())),
        None => match std::error::Error::source(&e) {
            Some(why) => RegistryError::Storage(format!("PostgreSQL: {e}: {why}")),
            None => RegistryError::Storage(format!("PostgreSQL: {e}")),
        },
    }
}

fn kv_err(e: postgres::Error) -> KvError {
    KvError::Storage(db_err(e))
}

/// u64 counts and times as PostgreSQL's bigint.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn small(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn decode(bytes: &[u8]) -> Result<ActionRecord> {
    serde_json::from_slice(bytes)
        .map_err(|e| RegistryError::Storage(format!("unreadable record: {e}")))
}

/// `host:port/db` of a connection string, for messages.
fn describe(config: &postgres::Config) -> String {
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let db = config
        .get_dbname()
        .or(config.get_user())
        .unwrap_or_default();
    format!("{host}:{port}/{db}")
}

impl PgRegistry {
    /// Connects to the database at `url` (`postgres://USER[:PASSWORD]@HOST:PORT/DB`,
    /// or libpq's `key=value` form) and brings its schema up to date.
    pub fn open(url: &str) -> Result<Self> {
        let config: postgres::Config = url.parse().map_err(|e| {
            RegistryError::Storage(format!(
                "'--registry' is not a PostgreSQL connection string: {e}"
            ))
        })?;
        let target = describe(&config);
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..CONNECTIONS {
            let (rx, config, target) = (rx.clone(), config.clone(), target.clone());
            std::thread::Builder::new()
                .name(format!("wisp-pg-{i}"))
                .spawn(move || connection_thread(&rx, &config, &target))
                .map_err(storage)?;
        }
        let reg = PgRegistry {
            jobs: Mutex::new(tx),
            url: url.to_string(),
            target,
            keep_versions: DEFAULT_KEEP_VERSIONS,
            kv_quota: kv::DEFAULT_KV_QUOTA_BYTES,
            module_store: None,
        };
        reg.run(migrate)?;
        Ok(reg)
    }

    /// Keeps this many versions of each action (at least 1).
    pub fn keep_versions(mut self, n: usize) -> Self {
        self.keep_versions = n.max(1);
        self
    }

    /// Keeps module binaries in `store` (an OCI registry), the database only
    /// their metadata.
    pub fn module_store(mut self, store: Arc<dyn crate::ModuleStore>) -> Self {
        self.module_store = Some(store);
        self
    }

    /// Lets each namespace's key-value stores hold this many bytes.
    pub fn kv_quota(mut self, bytes: u64) -> Self {
        self.kv_quota = bytes;
        self
    }

    /// Where the registry is: `host:port/db`.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs `f` on a connection thread and waits for its result.
    fn run<T, E>(
        &self,
        f: impl FnOnce(&mut Client) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<RegistryError> + Send + 'static,
    {
        let (tx, rx) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client| {
            let _ = tx.send(client.map_err(E::from).and_then(f));
        });
        let stopped = || RegistryError::Storage("the registry's connection threads stopped".into());
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .map_err(|_| stopped())?;
        rx.recv().map_err(|_| E::from(stopped()))?
    }

    /// Runs `f` in one transaction, committed when it succeeds.
    fn txn<T, E>(
        &self,
        f: impl FnOnce(&mut Transaction<'_>) -> std::result::Result<T, E> + Send + 'static,
    ) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<RegistryError> + Send + 'static,
    {
        self.run(move |c| {
            let mut t = c.transaction().map_err(|e| E::from(db_err(e)))?;
            let out = f(&mut t)?;
            t.commit().map_err(|e| E::from(db_err(e)))?;
            Ok(out)
        })
    }

    /// Runs `f` on a store in one transaction that holds the namespace's
    /// usage row locked: every write to a namespace's stores, on any node,
    /// waits for the one before it, so `f` is atomic across the fleet and the
    /// quota is never passed.
    fn kv_txn<T: Send + 'static>(
        &self,
        namespace: &str,
        store: &str,
        f: impl FnOnce(&mut Writer<PgRows<'_, '_>>) -> KvResult<T> + Send + 'static,
    ) -> KvResult<T> {
        let (ns, store, quota) = (namespace.to_string(), store.to_string(), self.kv_quota);
        self.txn(move |t| {
            let used = lock_usage(t, &ns)?;
            // Under the lock: a store deleted meanwhile is seen as gone.
            require_store(t, &ns, &store)?;
            let mut w = Writer {
                rows: PgRows {
                    t,
                    namespace: &ns,
                    store: &store,
                },
                used,
                quota,
            };
            let out = f(&mut w)?;
            let used = big(w.used);
            t.execute(
                "UPDATE kv_usage SET used = $2 WHERE namespace = $1",
                &[&ns, &used],
            )
            .map_err(kv_err)?;
            Ok(out)
        })
    }
}

/// Serves jobs on one connection, opened when first needed and again after
/// it failed.
fn connection_thread(jobs: &Mutex<Receiver<Job>>, config: &postgres::Config, target: &str) {
    let mut client: Option<Client> = None;
    loop {
        let job = match jobs.lock().unwrap_or_else(PoisonError::into_inner).recv() {
            Ok(job) => job,
            // The registry was dropped.
            Err(_) => return,
        };
        if client.as_ref().is_none_or(Client::is_closed) {
            client = None;
            match config.connect(NoTls) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    job(Err(RegistryError::Storage(format!(
                        "cannot connect to PostgreSQL at {target}: {}",
                        db_err(e)
                            .to_string()
                            .trim_start_matches("registry storage error: PostgreSQL: ")
                    ))));
                    continue;
                }
            }
        }
        if let Some(c) = client.as_mut() {
            // A job that panics loses its caller's answer (the caller sees
            // the channel close), not the thread; its connection may be
            // mid-transaction, so it is opened again.
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(Ok(c))));
            if ran.is_err() {
                client = None;
            }
        }
    }
}

/// Applies the schema steps the database lacks.
fn migrate(c: &mut Client) -> Result<()> {
    let mut t = c.transaction().map_err(db_err)?;
    t.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(db_err)?;
    t.batch_execute(
        "CREATE TABLE IF NOT EXISTS wisp_schema (version integer PRIMARY KEY, applied_ms bigint NOT NULL)",
    )
    .map_err(db_err)?;
    let current: i32 = t
        .query_one("SELECT coalesce(max(version), 0) FROM wisp_schema", &[])
        .map_err(db_err)?
        .get(0);
    let known = MIGRATIONS.len();
    let current = usize::try_from(current).unwrap_or(0);
    if current > known {
        return Err(RegistryError::Storage(format!(
            "the database's schema is at version {current}, newer than this wisp knows ({known}): run a newer wisp"
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(current) {
        t.batch_execute(step).map_err(db_err)?;
        let version = i32::try_from(i + 1).unwrap_or(i32::MAX);
        t.execute(
            "INSERT INTO wisp_schema VALUES ($1, $2)",
            &[&version, &big(now_millis())],
        )
        .map_err(db_err)?;
    }
    t.commit().map_err(db_err)
}

/// Locks a namespace's key-value usage row (made when missing) for the
/// transaction, the lock every write to its stores takes; the bytes in use.
fn lock_usage(t: &mut Transaction<'_>, namespace: &str) -> Result<u64> {
    t.execute(
        "INSERT INTO kv_usage VALUES ($1, 0) ON CONFLICT DO NOTHING",
        &[&namespace],
    )
    .map_err(db_err)?;
    let used: i64 = t
        .query_one(
            "SELECT used FROM kv_usage WHERE namespace = $1 FOR UPDATE",
            &[&namespace],
        )
        .map_err(db_err)?
        .get(0);
    Ok(small(used))
}

/// A store name is valid and, unless it is `default`, created.
fn require_store(t: &mut Transaction<'_>, namespace: &str, store: &str) -> KvResult<()> {
    kv::require_store(namespace, store, || {
        Ok(t.query_opt(
            "SELECT 1 FROM kv_stores WHERE namespace = $1 AND store = $2",
            &[&namespace, &store],
        )
        .map_err(kv_err)?
        .is_some())
    })
}

/// A store's keys in a PostgreSQL transaction.
pub(crate) struct PgRows<'a, 't> {
    t: &'a mut Transaction<'t>,
    namespace: &'a str,
    store: &'a str,
}

impl StoreRows for PgRows<'_, '_> {
    fn get(&mut self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self
            .t
            .query_opt(
                "SELECT value FROM kv WHERE namespace = $1 AND store = $2 AND key = $3",
                &[&self.namespace, &self.store, &key],
            )
            .map_err(kv_err)?
            .map(|r| r.get(0)))
    }

    fn put(&mut self, key: &str, value: &[u8]) -> KvResult<Option<usize>> {
        let old = self.get(key)?.map(|v| v.len());
        self.t
            .execute(
                "INSERT INTO kv VALUES ($1, $2, $3, $4)
                 ON CONFLICT (namespace, store, key) DO UPDATE SET value = EXCLUDED.value",
                &[&self.namespace, &self.store, &key, &value],
            )
            .map_err(kv_err)?;
        Ok(old)
    }

    fn remove(&mut self, key: &str) -> KvResult<Option<usize>> {
        Ok(self
            .t
            .query_opt(
                "DELETE FROM kv WHERE namespace = $1 AND store = $2 AND key = $3
                 RETURNING octet_length(value)",
                &[&self.namespace, &self.store, &key],
            )
            .map_err(kv_err)?
            .map(|r| usize::try_from(r.get::<_, i32>(0)).unwrap_or(0)))
    }
}

/// The kept versions of an action, oldest first.
fn versions_of(t: &mut Transaction<'_>, namespace: &str, name: &str) -> Result<Vec<Stored>> {
    Ok(t.query(
        "SELECT key, record FROM versions WHERE namespace = $1 AND name = $2 ORDER BY key",
        &[&namespace, &name],
    )
    .map_err(db_err)?
    .into_iter()
    .map(|r| Stored::new(r.get(0), r.get(1)))
    .collect())
}

/// Serializes writes to one action across the fleet for the transaction.
fn lock_action(t: &mut Transaction<'_>, namespace: &str, name: &str) -> Result<()> {
    let key = format!("{namespace}/{name}");
    t.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&key])
        .map_err(db_err)?;
    Ok(())
}

/// Adds a reference to a module, storing it when it is new.
fn hold_module(t: &mut Transaction<'_>, hash: &str, bytes: &[u8]) -> Result<()> {
    let held = t
        .execute(
            "UPDATE modules SET refs = refs + 1 WHERE hash = $1",
            &[&hash],
        )
        .map_err(db_err)?;
    if held == 0 {
        t.execute(
            "INSERT INTO modules VALUES ($1, $2, 1)
             ON CONFLICT (hash) DO UPDATE SET refs = modules.refs + 1",
            &[&hash, &bytes],
        )
        .map_err(db_err)?;
    }
    Ok(())
}

/// Drops a reference to a module, removing it at zero.
fn release_module(t: &mut Transaction<'_>, hash: &str) -> Result<()> {
    t.execute(
        "UPDATE modules SET refs = refs - 1 WHERE hash = $1",
        &[&hash],
    )
    .map_err(db_err)?;
    t.execute(
        "DELETE FROM modules WHERE hash = $1 AND refs <= 0",
        &[&hash],
    )
    .map_err(db_err)?;
    Ok(())
}

/// Removes an action and all its versions, releasing their modules: what
/// the record was (or why it could not be read), and the modules' hashes.
fn remove_action(
    t: &mut Transaction<'_>,
    namespace: &str,
    name: &str,
) -> Result<(Option<Result<ActionRecord>>, Vec<String>)> {
    lock_action(t, namespace, name)?;
    let removed = t
        .query_opt(
            "DELETE FROM actions WHERE namespace = $1 AND name = $2 RETURNING record",
            &[&namespace, &name],
        )
        .map_err(db_err)?
        .map(|r| decode(r.get(0)));
    let mut hashes = Vec::new();
    for row in t
        .query(
            "DELETE FROM versions WHERE namespace = $1 AND name = $2 RETURNING record",
            &[&namespace, &name],
        )
        .map_err(db_err)?
    {
        for hash in decode_loosely(row.get(0)).1 {
            release_module(t, &hash)?;
            hashes.push(hash);
        }
    }
    Ok((removed, hashes))
}

impl Registry for PgRegistry {
    fn put_action(
        &self,
        mut record: ActionRecord,
        module: &[u8],
        source: Option<&[u8]>,
        overwrite: bool,
    ) -> Result<ActionRecord> {
        let mut stored: Vec<(String, Vec<u8>)> = crate::deployed_modules(&record, module, source)?
            .into_iter()
            .map(|(hash, bytes)| (hash, bytes.to_vec()))
            .collect();
        let module_size = module.len() as u64;
        if let Some(store) = &self.module_store {
            for (hash, bytes) in &mut stored {
                if crate::stored_outside(Some(store), bytes) {
                    store.put(hash, bytes)?;
                    *bytes = Vec::new();
                }
            }
        }
        let keep = self.keep_versions;
        self.txn(move |t| {
            let (ns, name) = (record.namespace.clone(), record.name.clone());
            lock_action(t, &ns, &name)?;
            let exists = t
                .query_opt(
                    "SELECT 1 FROM actions WHERE namespace = $1 AND name = $2",
                    &[&ns, &name],
                )
                .map_err(db_err)?
                .is_some();
            if exists && !overwrite {
                return Err(RegistryError::Conflict(format!("{ns}/{name}")));
            }
            record.version = versions::after_newest(&versions_of(t, &ns, &name)?);
            record.module_size = module_size;
            record.updated = now_millis();
            for (hash, bytes) in &stored {
                hold_module(t, hash, bytes)?;
            }
            let encoded = serde_json::to_vec(&record).map_err(storage)?;
            t.execute(
                "INSERT INTO versions VALUES ($1, $2, $3, $4)",
                &[
                    &ns,
                    &name,
                    &versions::key(&ns, &name, &record.version),
                    &encoded,
                ],
            )
            .map_err(db_err)?;
            t.execute(
                "INSERT INTO actions VALUES ($1, $2, $3)
                 ON CONFLICT (namespace, name) DO UPDATE SET record = EXCLUDED.record",
                &[&ns, &name, &encoded],
            )
            .map_err(db_err)?;
            let all = versions_of(t, &ns, &name)?;
            for old in versions::excess(&all, &record.version, keep) {
                t.execute(
                    "DELETE FROM versions WHERE namespace = $1 AND name = $2 AND key = $3",
                    &[&ns, &name, &old.key],
                )
                .map_err(db_err)?;
                for hash in &old.modules {
                    release_module(t, hash)?;
                }
            }
            Ok(record)
        })
    }

    fn list_versions(&self, namespace: &str, name: &str) -> Result<Vec<ActionRecord>> {
        let (ns, name) = (namespace.to_string(), name.to_string());
        self.txn(move |t| {
            let mut out: Vec<ActionRecord> = versions_of(t, &ns, &name)?
                .iter()
                .filter_map(|v| decode(&v.bytes).ok())
                .collect();
            out.reverse();
            Ok(out)
        })
    }

    fn rollback(
        &self,
        namespace: &str,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<ActionRecord>> {
        let (ns, name) = (namespace.to_string(), name.to_string());
        let version = version.map(str::to_string);
        self.txn(move |t| {
            lock_action(t, &ns, &name)?;
            let Some(row) = t
                .query_opt(
                    "SELECT record FROM actions WHERE namespace = $1 AND name = $2",
                    &[&ns, &name],
                )
                .map_err(db_err)?
            else {
                return Ok(None);
            };
            let current = decode_loosely(row.get(0)).0;
            let all = versions_of(t, &ns, &name)?;
            let target = versions::target(&all, &current, version.as_deref())?;
            let record = decode(&target.bytes)?;
            t.execute(
                "UPDATE actions SET record = $3 WHERE namespace = $1 AND name = $2",
                &[&ns, &name, &target.bytes],
            )
            .map_err(db_err)?;
            Ok(Some(record))
        })
    }

    fn has_module(&self, hash: &str) -> Result<bool> {
        let hash = hash.to_string();
        self.run(move |c| {
            Ok(
                c.query_opt("SELECT 1 FROM modules WHERE hash = $1", &[&hash])
                    .map_err(db_err)?
                    .is_some(),
            )
        })
    }

    fn module_hashes(&self) -> Result<Vec<String>> {
        self.run(|c| {
            Ok(c.query("SELECT hash FROM modules ORDER BY hash", &[])
                .map_err(db_err)?
                .into_iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn get_action(&self, namespace: &str, name: &str) -> Result<Option<ActionRecord>> {
        let (ns, name) = (namespace.to_string(), name.to_string());
        self.run(move |c| {
            c.query_opt(
                "SELECT record FROM actions WHERE namespace = $1 AND name = $2",
                &[&ns, &name],
            )
            .map_err(db_err)?
            .map(|r| decode(r.get(0)))
            .transpose()
        })
    }

    fn list_actions(
        &self,
        namespace: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<ActionRecord>> {
        let ns = namespace.to_string();
        self.run(move |c| {
            Ok(c.query(
                "SELECT record FROM actions WHERE namespace = $1 ORDER BY name",
                &[&ns],
            )
            .map_err(db_err)?
            .into_iter()
            .filter_map(|r| decode(r.get(0)).ok())
            .skip(skip)
            .take(limit)
            .collect())
        })
    }

    fn all_actions(&self) -> Result<Vec<(String, Result<ActionRecord>)>> {
        self.run(|c| {
            Ok(c.query(
                "SELECT namespace, name, record FROM actions ORDER BY namespace, name",
                &[],
            )
            .map_err(db_err)?
            .into_iter()
            .map(|r| {
                let (ns, name): (&str, &str) = (r.get(0), r.get(1));
                (format!("{ns}/{name}"), decode(r.get(2)))
            })
            .collect())
        })
    }

    fn delete_action(&self, namespace: &str, name: &str) -> Result<Option<Result<ActionRecord>>> {
        let (ns, name) = (namespace.to_string(), name.to_string());
        self.txn(move |t| Ok(remove_action(t, &ns, &name)?.0))
    }

    fn get_module(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let key = hash.to_string();
        let kept = self.run(move |c| {
            Ok(
                c.query_opt("SELECT bytes FROM modules WHERE hash = $1", &[&key])
                    .map_err(db_err)?
                    .map(|r| r.get(0)),
            )
        })?;
        crate::module_bytes(self.module_store.as_ref(), hash, kept)
    }

    fn put_activations(&self, batch: &ActivationBatch) -> Result<()> {
        let records = batch::decode(batch.bytes())
            .ok_or_else(|| RegistryError::Storage("an activation batch does not decode".into()))?;
        // One statement for the batch, its columns as arrays (owned: the
        // connection thread runs it).
        let text = |f: for<'a> fn(&'a batch::Rec<'a>) -> &'a str| -> Vec<String> {
            records.iter().map(|r| f(r).to_string()).collect()
        };
        let owned = (
            text(|r| r.namespace),
            text(|r| r.id),
            text(|r| r.name),
            records
                .iter()
                .map(|r| big(r.start_us))
                .collect::<Vec<i64>>(),
            records
                .iter()
                .map(|r| r.json.to_vec())
                .collect::<Vec<Vec<u8>>>(),
        );
        let written = big(now_millis().saturating_mul(1000));
        self.run(move |c| {
            c.execute(
                "INSERT INTO activations
                 SELECT ns, id, name, start_us, $6, record
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bytea[])
                     AS r(ns, id, name, start_us, record)
                 ON CONFLICT (namespace, id) DO NOTHING",
                &[&owned.0, &owned.1, &owned.2, &owned.3, &owned.4, &written],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn get_activation(&self, namespace: &str, id: &str) -> Result<Option<serde_json::Value>> {
        let (ns, id) = (namespace.to_string(), id.to_string());
        self.run(move |c| {
            c.query_opt(
                "SELECT record FROM activations WHERE namespace = $1 AND id = $2",
                &[&ns, &id],
            )
            .map_err(db_err)?
            .map(|r| serde_json::from_slice(r.get(0)).map_err(storage))
            .transpose()
        })
    }

    fn list_activations(
        &self,
        namespace: &str,
        q: &ActivationQuery,
    ) -> Result<Vec<(u64, serde_json::Value)>> {
        // Filters are in milliseconds, starts in microseconds.
        let since = big(q.since.unwrap_or(0).saturating_mul(1000));
        let upto = big(q
            .upto
            .map_or(u64::MAX, |u| u.saturating_mul(1000).saturating_add(999)));
        let (ns, name) = (namespace.to_string(), q.name.clone());
        let (skip, limit) = (big(q.skip as u64), big(q.limit as u64));
        self.run(move |c| {
            c.query(
                "SELECT start_us, record FROM activations
                 WHERE namespace = $1 AND start_us >= $2 AND start_us <= $3
                   AND ($4::text IS NULL OR name = $4)
                 ORDER BY start_us DESC, id DESC OFFSET $5 LIMIT $6",
                &[&ns, &since, &upto, &name, &skip, &limit],
            )
            .map_err(db_err)?
            .into_iter()
            .map(|r| {
                Ok((
                    small(r.get(0)),
                    serde_json::from_slice(r.get(1)).map_err(storage)?,
                ))
            })
            .collect()
        })
    }

    fn prune_activations(&self, keep: usize, older_than: u64, max_bytes: u64) -> Result<usize> {
        let (keep, older, max) = (
            big(keep as u64),
            big(older_than.saturating_mul(1000)),
            big(max_bytes),
        );
        self.txn(move |t| {
            let mut removed = t
                .execute("DELETE FROM activations WHERE written_us < $1", &[&older])
                .map_err(db_err)?;
            removed += t
                .execute(
                    "DELETE FROM activations a USING (
                         SELECT namespace, id FROM activations
                         ORDER BY start_us DESC, id DESC OFFSET $1
                     ) old WHERE a.namespace = old.namespace AND a.id = old.id",
                    &[&keep],
                )
                .map_err(db_err)?;
            removed += t
                .execute(
                    "DELETE FROM activations a USING (
                         SELECT namespace, id, (sum(octet_length(record)::bigint)
                             OVER (ORDER BY start_us DESC, id DESC))::bigint AS total
                         FROM activations
                     ) s WHERE a.namespace = s.namespace AND a.id = s.id AND s.total > $1",
                    &[&max],
                )
                .map_err(db_err)?;
            Ok(usize::try_from(removed).unwrap_or(usize::MAX))
        })
    }

    fn create_namespace(&self, name: &str) -> Result<bool> {
        let name = name.to_string();
        self.run(move |c| {
            Ok(c.execute(
                "INSERT INTO namespaces VALUES ($1, $2) ON CONFLICT DO NOTHING",
                &[&name, &big(now_millis())],
            )
            .map_err(db_err)?
                == 1)
        })
    }

    fn list_namespaces(&self) -> Result<Vec<String>> {
        self.run(|c| {
            Ok(c.query("SELECT name FROM namespaces ORDER BY name", &[])
                .map_err(db_err)?
                .into_iter()
                .map(|r| r.get(0))
                .collect())
        })
    }

    fn put_key(&self, key: &StoredKey) -> Result<()> {
        let bytes = serde_json::to_vec(key).map_err(storage)?;
        let (id, ns) = (key.id.clone(), key.namespace.clone());
        self.run(move |c| {
            c.execute(
                "INSERT INTO api_keys VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE SET namespace = EXCLUDED.namespace, record = EXCLUDED.record",
                &[&id, &ns, &bytes],
            )
            .map_err(db_err)?;
            Ok(())
        })
    }

    fn list_keys(&self) -> Result<Vec<StoredKey>> {
        self.run(|c| {
            c.query("SELECT record FROM api_keys ORDER BY id", &[])
                .map_err(db_err)?
                .into_iter()
                .map(|r| serde_json::from_slice(r.get(0)).map_err(storage))
                .collect()
        })
    }

    fn delete_key(&self, id: &str) -> Result<Option<StoredKey>> {
        let id = id.to_string();
        self.run(move |c| {
            c.query_opt(
                "DELETE FROM api_keys WHERE id = $1 RETURNING record",
                &[&id],
            )
            .map_err(db_err)?
            .map(|r| serde_json::from_slice(r.get(0)).map_err(storage))
            .transpose()
        })
    }

    fn put_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        json: &[u8],
        overwrite: bool,
    ) -> Result<()> {
        let (kind, ns, name, json) = (
            kind.to_string(),
            namespace.to_string(),
            name.to_string(),
            json.to_vec(),
        );
        self.run(move |c| {
            let sql = if overwrite {
                "INSERT INTO entities VALUES ($1, $2, $3, $4)
                 ON CONFLICT (kind, namespace, name) DO UPDATE SET doc = EXCLUDED.doc"
            } else {
                "INSERT INTO entities VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
            };
            if c.execute(sql, &[&kind, &ns, &name, &json])
                .map_err(db_err)?
                == 0
            {
                return Err(RegistryError::Conflict(format!("{kind} {ns}/{name}")));
            }
            Ok(())
        })
    }

    fn replace_entity(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        expected: &[u8],
        json: &[u8],
    ) -> Result<bool> {
        let (kind, ns, name) = (kind.to_string(), namespace.to_string(), name.to_string());
        let (expected, json) = (expected.to_vec(), json.to_vec());
        self.run(move |c| {
            Ok(c.execute(
                "UPDATE entities SET doc = $5 WHERE kind = $1 AND namespace = $2 AND name = $3 AND doc = $4",
                &[&kind, &ns, &name, &expected, &json],
            )
            .map_err(db_err)?
                == 1)
        })
    }

    fn get_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let (kind, ns, name) = (kind.to_string(), namespace.to_string(), name.to_string());
        self.run(move |c| {
            Ok(c.query_opt(
                "SELECT doc FROM entities WHERE kind = $1 AND namespace = $2 AND name = $3",
                &[&kind, &ns, &name],
            )
            .map_err(db_err)?
            .map(|r| r.get(0)))
        })
    }

    fn list_entities(
        &self,
        kind: &str,
        namespace: &str,
        skip: usize,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let (kind, ns) = (kind.to_string(), namespace.to_string());
        let (skip, limit) = (big(skip as u64), big(limit as u64));
        self.run(move |c| {
            Ok(c.query(
                "SELECT name, doc FROM entities WHERE kind = $1 AND namespace = $2
                 ORDER BY name OFFSET $3 LIMIT $4",
                &[&kind, &ns, &skip, &limit],
            )
            .map_err(db_err)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
        })
    }

    fn delete_entity(&self, kind: &str, namespace: &str, name: &str) -> Result<Option<Vec<u8>>> {
        let (kind, ns, name) = (kind.to_string(), namespace.to_string(), name.to_string());
        self.run(move |c| {
            Ok(c.query_opt(
                "DELETE FROM entities WHERE kind = $1 AND namespace = $2 AND name = $3 RETURNING doc",
                &[&kind, &ns, &name],
            )
            .map_err(db_err)?
            .map(|r| r.get(0)))
        })
    }

    fn all_entities(&self, kind: &str) -> Result<Vec<(String, String, Vec<u8>)>> {
        let kind = kind.to_string();
        self.run(move |c| {
            Ok(c.query(
                "SELECT namespace, name, doc FROM entities WHERE kind = $1 ORDER BY namespace, name",
                &[&kind],
            )
            .map_err(db_err)?
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
        })
    }

    fn delete_namespace(&self, name: &str) -> Result<Option<NamespaceRemoval>> {
        let ns = name.to_string();
        self.txn(move |t| {
            // The key-value lock first, as every KV write takes it: the
            // namespace's stores go with no write half-way.
            lock_usage(t, &ns)?;
            if t.execute("DELETE FROM namespaces WHERE name = $1", &[&ns])
                .map_err(db_err)?
                == 0
            {
                return Ok(None);
            }
            let mut out = NamespaceRemoval {
                keys: t
                    .query(
                        "DELETE FROM api_keys WHERE namespace = $1 RETURNING id",
                        &[&ns],
                    )
                    .map_err(db_err)?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect(),
                ..NamespaceRemoval::default()
            };
            out.keys.sort();
            let actions: Vec<String> = t
                .query(
                    "SELECT name FROM actions WHERE namespace = $1 ORDER BY name",
                    &[&ns],
                )
                .map_err(db_err)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            for action in actions {
                let (_, hashes) = remove_action(t, &ns, &action)?;
                out.module_hashes.extend(hashes);
                out.actions.push(action);
            }
            out.stores = vec![DEFAULT_STORE.to_string()];
            let mut stores: Vec<String> = t
                .query(
                    "DELETE FROM kv_stores WHERE namespace = $1 RETURNING store",
                    &[&ns],
                )
                .map_err(db_err)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            stores.sort();
            out.stores.extend(stores);
            for table in ["kv", "kv_usage", "entities"] {
                t.execute(&format!("DELETE FROM {table} WHERE namespace = $1"), &[&ns])
                    .map_err(db_err)?;
            }
            out.module_hashes.sort();
            out.module_hashes.dedup();
            Ok(Some(out))
        })
    }

    fn kv_create_store(&self, namespace: &str, store: &str) -> KvResult<bool> {
        kv::check_store_name(store)?;
        if store == DEFAULT_STORE {
            return Ok(false);
        }
        let (ns, store) = (namespace.to_string(), store.to_string());
        self.run(move |c| {
            Ok(c.execute(
                "INSERT INTO kv_stores VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&ns, &store, &big(now_millis())],
            )
            .map_err(kv_err)?
                == 1)
        })
    }

    fn kv_delete_store(&self, namespace: &str, store: &str) -> KvResult<bool> {
        kv::check_deletable(store)?;
        let (ns, store) = (namespace.to_string(), store.to_string());
        self.txn(move |t| {
            lock_usage(t, &ns)?;
            if t
                .execute(
                    "DELETE FROM kv_stores WHERE namespace = $1 AND store = $2",
                    &[&ns, &store],
                )
                .map_err(kv_err)?
                == 0
            {
                return Ok(false);
            }
            t.execute(
                "WITH gone AS (
                     DELETE FROM kv WHERE namespace = $1 AND store = $2
                     RETURNING octet_length(key) + octet_length(value) AS bytes
                 )
                 UPDATE kv_usage SET used = greatest(0, used - (SELECT coalesce(sum(bytes), 0) FROM gone))
                 WHERE namespace = $1",
                &[&ns, &store],
            )
            .map_err(kv_err)?;
            Ok(true)
        })
    }

    fn kv_stores(&self, namespace: &str) -> KvResult<(Vec<String>, u64)> {
        let ns = namespace.to_string();
        self.run(move |c| {
            let mut out = vec![DEFAULT_STORE.to_string()];
            out.extend(
                c.query(
                    "SELECT store FROM kv_stores WHERE namespace = $1 ORDER BY store",
                    &[&ns],
                )
                .map_err(kv_err)?
                .into_iter()
                .map(|r| r.get::<_, String>(0)),
            );
            let used: Option<i64> = c
                .query_opt("SELECT used FROM kv_usage WHERE namespace = $1", &[&ns])
                .map_err(kv_err)?
                .map(|r| r.get(0));
            Ok((out, small(used.unwrap_or(0))))
        })
    }

    fn kv_quota_bytes(&self) -> u64 {
        self.kv_quota
    }

    fn kv_get_many(
        &self,
        namespace: &str,
        store: &str,
        keys: &[&str],
    ) -> KvResult<Vec<Option<Vec<u8>>>> {
        for key in keys {
            kv::check(key, None)?;
        }
        let (ns, store) = (namespace.to_string(), store.to_string());
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        self.txn(move |t| {
            require_store(t, &ns, &store)?;
            let mut rows = PgRows {
                t,
                namespace: &ns,
                store: &store,
            };
            keys.iter().map(|k| rows.get(k)).collect()
        })
    }

    fn kv_write(&self, namespace: &str, store: &str, writes: &[KvWrite]) -> KvResult<()> {
        let writes = writes.to_vec();
        self.kv_txn(namespace, store, move |w| w.apply(&writes))
    }

    fn kv_increment(&self, namespace: &str, store: &str, key: &str, delta: i64) -> KvResult<i64> {
        let key = key.to_string();
        self.kv_txn(namespace, store, move |w| w.increment(&key, delta))
    }

    fn kv_compare_and_swap(
        &self,
        namespace: &str,
        store: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<bool> {
        let (key, expected, new) = (key.to_string(), expected.map(<[u8]>::to_vec), new.to_vec());
        self.kv_txn(namespace, store, move |w| {
            w.compare_and_swap(&key, expected.as_deref(), &new)
        })
    }

    fn kv_keys(&self, namespace: &str, store: &str, q: &KeyQuery) -> KvResult<KeyPage> {
        let (ns, store, q) = (namespace.to_string(), store.to_string(), q.clone());
        self.txn(move |t| {
            require_store(t, &ns, &store)?;
            let limit = q.limit.clamp(1, MAX_PAGE_KEYS);
            let keys: Vec<String> = t
                .query(
                    "SELECT key FROM kv WHERE namespace = $1 AND store = $2
                       AND starts_with(key, $3) AND ($4::text IS NULL OR key > $4)
                     ORDER BY key OFFSET $5 LIMIT $6",
                    &[
                        &ns,
                        &store,
                        &q.prefix,
                        &q.after,
                        &big(q.skip),
                        &big(limit as u64 + 1),
                    ],
                )
                .map_err(kv_err)?
                .into_iter()
                .map(|r| r.get(0))
                .collect();
            let mut page = KeyPage {
                keys,
                ..KeyPage::default()
            };
            if page.keys.len() > limit {
                page.keys.truncate(limit);
                page.cursor = page.keys.last().cloned();
            }
            Ok(page)
        })
    }

    fn lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        let ttl = big(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        // The database's clock, so the nodes' clocks need not agree.
        self.run(move |c| {
            Ok(c.query_opt(
                "WITH now AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint AS ms)
                 INSERT INTO leases SELECT $1, $2, ms + $3 FROM now
                 ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms
                 WHERE leases.holder = EXCLUDED.holder
                    OR leases.until_ms < (SELECT ms FROM now)
                 RETURNING holder",
                &[&name, &holder, &ttl],
            )
            .map_err(db_err)?
            .is_some())
        })
    }

    fn subscribe(&self) -> Option<Receiver<Change>> {
        let (tx, rx) = mpsc::channel();
        let (url, target) = (self.url.clone(), self.target.clone());
        std::thread::Builder::new()
            .name("wisp-pg-listen".into())
            .spawn(move || listen(&url, &target, &tx))
            .ok()?;
        Some(rx)
    }
}

/// Turns the notifications on [`CHANNEL`] into changes, connecting again
/// whenever the connection is lost; after each (re)connection it sends
/// [`Change::Resync`], since notifications sent meanwhile are lost. Ends when
/// the receiver is dropped.
fn listen(url: &str, target: &str, tx: &Sender<Change>) {
    let mut logged = false;
    loop {
        let mut client = match Client::connect(url, NoTls) {
            Ok(c) => c,
            Err(e) => {
                if !logged {
                    tracing::warn!(
                        "cannot listen for changes on PostgreSQL at {target}: {}; retrying",
                        db_err(e)
                    );
                    logged = true;
                }
                std::thread::sleep(LISTEN_CHECK);
                continue;
            }
        };
        if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
            std::thread::sleep(LISTEN_CHECK);
            continue;
        }
        logged = false;
        if tx.send(Change::Resync).is_err() {
            return;
        }
        loop {
            let next = client.notifications().timeout_iter(LISTEN_CHECK).next();
            match next {
                Ok(Some(n)) => {
                    if let Some(change) = Change::parse(n.payload())
                        && tx.send(change).is_err()
                    {
                        return;
                    }
                }
                // Quiet: is the connection still there?
                Ok(None) => {
                    if client.is_valid(LISTEN_CHECK).is_err() {
                        tracing::warn!(
                            "lost the change feed from PostgreSQL at {target}; reconnecting"
                        );
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(
                        "lost the change feed from PostgreSQL at {target}: {}; reconnecting",
                        db_err(e)
                    );
                    break;
                }
            }
        }
    }
}
