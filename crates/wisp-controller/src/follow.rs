//! Following a shared registry: what other nodes of a fleet commit reaches
//! this node's in-memory mirror, so the invocation path keeps reading no
//! database.
//!
//! The registry reports each committed change ([`Change`]); this node reads
//! the action's current record again and publishes it, or stops serving it,
//! exactly as a deploy, rollback or delete made here would. A new module is
//! compiled (or its compiled code loaded from the disk cache) at once, so
//! the node's first call to it is not a cold compile. The embedded registry
//! reports nothing: a single node follows itself.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wisp_api::ActionRecord;
use wisp_registry::Change;

use crate::Controller;

/// Starts following the registry, when it is shared; whether it is.
pub(crate) fn spawn(ctl: &Arc<Controller>) -> bool {
    let Some(changes) = ctl.registry.subscribe() else {
        return false;
    };
    ctl.shared.store(true, Ordering::Relaxed);
    let ctl = ctl.clone();
    let started = std::thread::Builder::new()
        .name("wisp-follow".into())
        .spawn(move || {
            for change in changes {
                ctl.apply(change);
            }
        });
    if let Err(e) = started {
        tracing::error!("cannot follow the shared registry: {e}");
    }
    true
}

impl Controller {
    /// After a change made here, on a shared registry: serves what the
    /// registry holds now. Another node may have changed the same action
    /// between this node's write and its publish, and that change's
    /// notification may already have been applied; the registry's state wins.
    pub(crate) fn settle(self: &Arc<Self>, namespace: &str, name: &str) {
        if !self.shared.load(Ordering::Relaxed) {
            return;
        }
        self.refresh(namespace, name);
    }

    /// Reads an action's current record and serves it (or stops serving it).
    fn refresh(self: &Arc<Self>, namespace: &str, name: &str) {
        match self.registry.get_action(namespace, name) {
            Ok(record) => self.mirror(namespace, name, record),
            Err(e) => {
                tracing::warn!(action = %format!("{namespace}/{name}"), "cannot read a changed action: {e}")
            }
        }
    }

    /// After a key change made here, on a shared registry: accepts the keys
    /// the registry holds now.
    pub(crate) fn settle_keys(&self) {
        if self.shared.load(Ordering::Relaxed) {
            self.reload_keys();
        }
    }

    /// Brings the mirror up to date with one change.
    fn apply(self: &Arc<Self>, change: Change) {
        match change {
            Change::Action { namespace, name } => self.refresh(&namespace, &name),
            Change::Keys => self.reload_keys(),
            Change::Entities(kind) => {
                if kind == crate::alarms::KIND {
                    self.alarms.changed();
                }
            }
            Change::Resync => self.resync(),
        }
    }

    /// Reads every action and key again: changes may have been missed.
    fn resync(self: &Arc<Self>) {
        match self.registry.all_actions() {
            Ok(all) => {
                let mut stored = HashSet::new();
                for (key, record) in all {
                    let Some((ns, name)) = key.split_once('/') else {
                        continue;
                    };
                    stored.insert(key.clone());
                    match record {
                        Ok(r) => self.mirror(ns, name, Some(r)),
                        Err(e) => {
                            tracing::error!(action = %key, "skipping a stored action that cannot be read: {e}")
                        }
                    }
                }
                let served: Vec<(String, String)> = self
                    .actions
                    .read()
                    .map(|m| {
                        m.iter()
                            .flat_map(|(ns, names)| names.keys().map(|n| (ns.clone(), n.clone())))
                            .collect()
                    })
                    .unwrap_or_default();
                for (ns, name) in served {
                    if !stored.contains(&format!("{ns}/{name}")) {
                        self.mirror(&ns, &name, None);
                    }
                }
            }
            Err(e) => tracing::warn!("cannot read the actions again: {e}"),
        }
        self.reload_keys();
        self.alarms.changed();
    }

    fn reload_keys(&self) {
        match self.registry.list_keys() {
            Ok(keys) => self.keys.replace(keys),
            Err(e) => tracing::warn!("cannot read the API keys again: {e}"),
        }
    }

    /// Serves `record` as the action's current version, or stops serving the
    /// action when there is none; nothing when the version served is it.
    fn mirror(self: &Arc<Self>, namespace: &str, name: &str, record: Option<ActionRecord>) {
        let served = self.lookup(namespace, name);
        let Some(record) = record else {
            if let Some(gone) = served.and_then(|_| self.unpublish(namespace, name)) {
                self.release_module(&gone.record.module_hash);
                tracing::info!(action = %gone.path, "deleted on another node");
            }
            return;
        };
        if served.as_ref().is_some_and(|s| {
            s.record.version == record.version && s.record.updated == record.updated
        }) {
            return;
        }
        let path = record.path();
        if let Err(e) = wisp_api::resolve::check_record(&record, &self.policy) {
            tracing::error!(action = %path, "not serving a version this server does not allow: {e}");
            return;
        }
        let (hash, shape) = (record.module_hash.clone(), record.shape);
        match self.publish(record) {
            Ok(d) => {
                tracing::info!(action = %path, version = %d.record.version, "changed on another node")
            }
            Err(e) => {
                tracing::error!(action = %path, "cannot serve a changed action: {}", e.message);
                return;
            }
        }
        if let Some(old) = served.filter(|s| s.record.module_hash != hash) {
            self.release_module(&old.record.module_hash);
        }
        if hash != wisp_registry::EMPTY_MODULE && self.invoker.cached(&hash).is_none() {
            // Off the feed's thread: a pull and a compile must not hold up
            // the changes after it (a key's revocation).
            let ctl = self.clone();
            let spawned = std::thread::Builder::new()
                .name("wisp-warm-up".into())
                .spawn(move || ctl.warm_up(&hash, shape));
            if let Err(e) = spawned {
                tracing::warn!("cannot compile a changed action ahead of its first call: {e}");
            }
        }
    }

    /// Has the compiled code of a module in memory: loaded from the disk
    /// cache, else compiled from the registry's copy.
    fn warm_up(&self, hash: &str, shape: wisp_api::Shape) {
        // A failure is logged with its cause where it is made; the first
        // call tries again and answers with it.
        let _ = self.load_template(hash, shape);
    }
}
