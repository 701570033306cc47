//! What was hot survives a restart: the keeper's resident set (the templates the
//! access-pattern policy kept in memory) is written to `DATA_DIR/hot-modules`
//! every [`SAVE_EVERY`] and at shutdown, and loaded back from the disk cache
//! before a restarted server takes its first call, so that call is hot.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wisp_api::Shape;

use crate::Controller;

/// How often the resident set is written (when it changed).
pub const SAVE_EVERY: Duration = Duration::from_secs(10);

/// The file, in the data directory: one module hash per line.
pub const HOT_FILE: &str = "hot-modules";

impl Controller {
    /// Writes the resident set if it changed since `last`; returns what was
    /// written. Atomic: a crash leaves the old file or the new one.
    fn save_hot(&self, last: &[String]) -> Vec<String> {
        let mut hot: Vec<String> = self.invoker.hot().into_iter().map(|(h, _)| h).collect();
        hot.sort();
        if hot == last {
            return hot;
        }
        let path = self.config.data_dir.join(HOT_FILE);
        let tmp = path.with_extension("tmp");
        let text: String = hot.iter().map(|h| format!("{h}\n")).collect();
        if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
            tracing::warn!(
                "could not record the hot modules in {}: {e}",
                path.display()
            );
        }
        hot
    }

    /// Loads back the templates that were hot before the restart, within the
    /// memory budget; modules no action runs any more are skipped. Returns how
    /// many were loaded.
    pub(crate) fn preload_hot(&self) -> usize {
        let Ok(text) = std::fs::read_to_string(self.config.data_dir.join(HOT_FILE)) else {
            return 0;
        };
        let shapes: HashMap<String, Shape> = self
            .actions
            .read()
            .map(|m| {
                m.values()
                    .flat_map(|n| n.values())
                    .map(|a| (a.record.module_hash.clone(), a.record.shape))
                    .collect()
            })
            .unwrap_or_default();
        let began = Instant::now();
        let (mut loaded, mut bytes) = (0, 0);
        for hash in text.lines().map(str::trim).filter(|h| !h.is_empty()) {
            let Some(&shape) = shapes.get(hash) else {
                continue;
            };
            match self.invoker.load(hash, shape) {
                Ok(Some((p, _))) => {
                    loaded += 1;
                    bytes += p.code_bytes;
                    if bytes >= self.config.hot_budget {
                        break;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(%hash, "a hot module does not load from the cache: {e}"),
            }
        }
        if loaded > 0 {
            tracing::info!(
                "loaded {loaded} templates that were hot before the restart ({bytes} bytes of code) in {:?}",
                began.elapsed()
            );
        }
        loaded
    }

    /// Writes the resident set every [`SAVE_EVERY`], for ever.
    pub(crate) fn spawn_hot_saver(self: &Arc<Self>) {
        let ctl = self.clone();
        tokio::spawn(async move {
            let mut last = Vec::new();
            loop {
                tokio::time::sleep(SAVE_EVERY).await;
                let c = ctl.clone();
                match tokio::task::spawn_blocking(move || c.save_hot(&last)).await {
                    Ok(saved) => last = saved,
                    Err(_) => return,
                }
            }
        });
    }

    /// Writes the resident set now (at shutdown).
    pub(crate) fn save_hot_now(&self) {
        self.save_hot(&[]);
    }
}
