//! Activation records on disk: append-only segment files of batches.
//!
//! Records are written in batches (one per flush of the activation log) and never
//! changed, so they need no B-tree: each batch is appended to the current segment
//! file with one `write`, then `fdatasync`. Writing them into the registry's redb
//! database cost about 3 µs of CPU per record (a large value copied into pages,
//! checksummed, the allocator state rewritten at every commit), in bursts that
//! delayed requests; an append costs a copy into the page cache.
//!
//! A segment is a sequence of entries: `magic: u32, kind: u8, key: u64, len: u32,
//! crc32: u32`, then `len` bytes. Kind 1 is a batch ([`ActivationBatch`]'s
//! encoding), keyed by its write time in µs (unique, increasing, at or after every
//! start in it); kind 2 trims the oldest records of the batch with that key (the
//! bytes are the count, `u32`), which is how retention keeps exactly the newest
//! records without rewriting anything. A crash can leave at most a torn last
//! entry: its length or checksum does not match, and it is cut off when the store
//! opens. Segments roll over at [`SEGMENT_BYTES`]; retention deletes whole
//! segments once none of their batches is kept.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::ActivationBatch;
use crate::batch::{Rec, decode};

/// A segment grows to about this size before the next one starts.
pub const SEGMENT_BYTES: u64 = 8 << 20;

const MAGIC: u32 = 0x5741_4c31; // "WAL1"
const HEADER: usize = 4 + 1 + 8 + 4 + 4;
const KIND_BATCH: u8 = 1;
const KIND_TRIM: u8 = 2;

/// One batch, as the index knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BatchRef {
    key: u64,
    segment: u64,
    /// Where its bytes start in the segment.
    offset: u64,
    len: u32,
    count: u32,
    /// Its oldest records dropped by retention.
    trimmed: u32,
}

impl BatchRef {
    fn kept(&self) -> usize {
        self.count.saturating_sub(self.trimmed) as usize
    }
}

#[derive(Debug)]
struct State {
    /// Every batch kept, oldest first.
    index: Vec<BatchRef>,
    /// The segment being appended to: its id, file and size.
    current: Option<(u64, File, u64)>,
}

/// The activation records of one registry.
#[derive(Debug)]
pub(crate) struct ActivationLog {
    dir: PathBuf,
    state: Mutex<State>,
}

/// A record read back from a batch.
pub(crate) struct Found {
    pub start_us: u64,
    pub id: String,
    pub json: Vec<u8>,
}

fn io<E: std::fmt::Display>(e: E) -> crate::RegistryError {
    crate::RegistryError::Storage(format!("activation log: {e}"))
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:020}.seg"))
}

fn header(kind: u8, key: u64, bytes: &[u8]) -> [u8; HEADER] {
    let mut h = [0u8; HEADER];
    h[..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4] = kind;
    h[5..13].copy_from_slice(&key.to_le_bytes());
    h[13..17].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    h[17..21].copy_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    h
}

impl ActivationLog {
    /// Opens (creating) the log in `dir`: indexes every segment, cutting off a
    /// torn last entry.
    pub(crate) fn open(dir: &Path) -> crate::Result<Self> {
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut segments: Vec<u64> = std::fs::read_dir(dir)
            .map_err(io)?
            .flatten()
            .filter_map(|e| {
                let name = e.file_name();
                name.to_str()?.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        segments.sort_unstable();
        let mut index: Vec<BatchRef> = Vec::new();
        for &seg in &segments {
            scan(dir, seg, &mut index)?;
        }
        Ok(ActivationLog {
            dir: dir.to_path_buf(),
            state: Mutex::new(State {
                index,
                current: None,
            }),
        })
    }

    fn lock(&self) -> crate::Result<std::sync::MutexGuard<'_, State>> {
        self.state.lock().map_err(|_| io("lock poisoned"))
    }

    /// Appends one entry to the current segment (starting one when needed) and
    /// makes it durable; returns its segment and the offset of its bytes.
    fn append(
        &self,
        state: &mut State,
        kind: u8,
        key: u64,
        bytes: &[u8],
    ) -> crate::Result<(u64, u64)> {
        if state
            .current
            .as_ref()
            .is_none_or(|(_, _, size)| *size >= SEGMENT_BYTES)
        {
            let id = key.max(state.index.last().map_or(0, |b| b.segment + 1));
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.dir, id))
                .map_err(io)?;
            let size = file.metadata().map_err(io)?.len();
            // The new name must survive a crash too.
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
            state.current = Some((id, file, size));
        }
        let Some((id, file, size)) = state.current.as_mut() else {
            return Err(io("no segment"));
        };
        let mut entry = Vec::with_capacity(HEADER + bytes.len());
        entry.extend_from_slice(&header(kind, key, bytes));
        entry.extend_from_slice(bytes);
        if let Err(e) = file.write_all(&entry).and_then(|()| file.sync_data()) {
            // A partial entry is cut off at the next open; start a fresh segment
            // so nothing is appended after it.
            state.current = None;
            return Err(io(e));
        }
        let offset = *size + HEADER as u64;
        *size += entry.len() as u64;
        Ok((*id, offset))
    }

    /// Appends a batch, keyed at or after `now_us` and its newest start.
    pub(crate) fn put(&self, batch: &ActivationBatch, now_us: u64) -> crate::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let mut state = self.lock()?;
        let mut key = now_us.max(batch.newest_start());
        if let Some(last) = state.index.last() {
            key = key.max(last.key + 1);
        }
        let (segment, offset) = self.append(&mut state, KIND_BATCH, key, batch.bytes())?;
        state.index.push(BatchRef {
            key,
            segment,
            offset,
            len: batch.bytes().len() as u32,
            count: batch.len() as u32,
            trimmed: 0,
        });
        Ok(())
    }

    /// Migrates one batch written by an earlier wisp (into its redb table).
    pub(crate) fn put_encoded(&self, key: u64, bytes: &[u8]) -> crate::Result<()> {
        let Some(records) = decode(bytes) else {
            return Ok(());
        };
        let mut state = self.lock()?;
        let (segment, offset) = self.append(&mut state, KIND_BATCH, key, bytes)?;
        state.index.push(BatchRef {
            key,
            segment,
            offset,
            len: bytes.len() as u32,
            count: records.len() as u32,
            trimmed: 0,
        });
        Ok(())
    }

    /// The batches whose keys are in `range`, oldest first.
    fn batches(&self, range: impl std::ops::RangeBounds<u64>) -> crate::Result<Vec<BatchRef>> {
        let state = self.lock()?;
        Ok(state
            .index
            .iter()
            .filter(|b| range.contains(&b.key))
            .copied()
            .collect())
    }

    /// Reads a batch's records (those retention kept) and hands each to `f`.
    fn read(&self, b: &BatchRef, mut f: impl FnMut(Rec<'_>)) {
        let Ok(file) = File::open(segment_path(&self.dir, b.segment)) else {
            return; // Removed by retention meanwhile.
        };
        let mut bytes = vec![0; b.len as usize];
        if file.read_exact_at(&mut bytes, b.offset).is_err() {
            return;
        }
        if let Some(records) = decode(&bytes) {
            for r in records.into_iter().skip(b.trimmed as usize) {
                f(r);
            }
        }
    }

    /// The record with this id in a namespace; its batch was written within
    /// `within_us` after its start (which the id begins with).
    pub(crate) fn get(
        &self,
        namespace: &str,
        id: &str,
        start_us: u64,
        within_us: u64,
    ) -> crate::Result<Option<Vec<u8>>> {
        let end = start_us.saturating_add(within_us);
        for b in self.batches(start_us..=end)? {
            let mut found = None;
            self.read(&b, |r| {
                if found.is_none() && r.id == id {
                    found = Some((r.namespace == namespace).then(|| r.json.to_vec()));
                }
            });
            if let Some(hit) = found {
                // An id of another namespace is simply not found.
                return Ok(hit);
            }
        }
        Ok(None)
    }

    /// The records `keep` selects, newest batches first, until `wanted` are found
    /// and no older batch can hold a newer one. Batches written before `since_us`
    /// hold only records that started before it.
    pub(crate) fn scan_newest(
        &self,
        since_us: u64,
        wanted: usize,
        keep: impl Fn(&Rec<'_>) -> bool,
    ) -> crate::Result<Vec<Found>> {
        let mut found: Vec<Found> = Vec::new();
        for b in self.batches(since_us..)?.into_iter().rev() {
            // Every record of this batch and older ones started at or before its
            // key: once enough newer records are in hand, stop.
            if found.len() >= wanted && found.iter().all(|f| f.start_us > b.key) {
                break;
            }
            self.read(&b, |r| {
                if keep(&r) {
                    found.push(Found {
                        start_us: r.start_us,
                        id: r.id.to_string(),
                        json: r.json.to_vec(),
                    });
                }
            });
            if found.len() > wanted {
                found.sort_by(|a, b| b.start_us.cmp(&a.start_us).then_with(|| b.id.cmp(&a.id)));
                found.truncate(wanted);
            }
        }
        found.sort_by(|a, b| b.start_us.cmp(&a.start_us).then_with(|| b.id.cmp(&a.id)));
        Ok(found)
    }

    /// Drops batches written before `cutoff_us`, then the oldest records beyond
    /// the newest `keep`, then the oldest batches while all of them take more
    /// than `max_bytes`; deletes segments none of whose batches is kept.
    /// Returns how many records went.
    pub(crate) fn prune(
        &self,
        keep: usize,
        cutoff_us: u64,
        max_bytes: u64,
    ) -> crate::Result<usize> {
        let mut state = self.lock()?;
        let mut total: usize = state.index.iter().map(BatchRef::kept).sum();
        let mut bytes: u64 = state.index.iter().map(|b| u64::from(b.len)).sum();
        let mut deleted = 0;
        let mut drop_batches = 0;
        let mut trim: Option<(u64, u32)> = None;
        for b in &state.index {
            if b.key < cutoff_us || total.saturating_sub(b.kept()) >= keep || bytes > max_bytes {
                total -= b.kept();
                bytes -= u64::from(b.len);
                deleted += b.kept();
                drop_batches += 1;
                continue;
            }
            if total > keep {
                let excess = (total - keep) as u32;
                trim = Some((b.key, b.trimmed + excess));
                deleted += excess as usize;
            }
            break;
        }
        if let Some((key, trimmed)) = trim {
            self.append(&mut state, KIND_TRIM, key, &trimmed.to_le_bytes())?;
            if let Some(b) = state.index.iter_mut().find(|b| b.key == key) {
                b.trimmed = trimmed;
            }
        }
        let gone: Vec<BatchRef> = state.index.drain(..drop_batches).collect();
        let current = state.current.as_ref().map(|(id, _, _)| *id);
        let still_used = |seg: u64| state.index.iter().any(|b| b.segment == seg);
        let mut segments: Vec<u64> = gone.iter().map(|b| b.segment).collect();
        segments.dedup();
        for seg in segments {
            if !still_used(seg) && Some(seg) != current {
                std::fs::remove_file(segment_path(&self.dir, seg)).map_err(io)?;
            }
        }
        Ok(deleted)
    }
}

/// Indexes one segment's entries, cutting off a torn tail.
fn scan(dir: &Path, seg: u64, index: &mut Vec<BatchRef>) -> crate::Result<()> {
    let path = segment_path(dir, seg);
    let bytes = std::fs::read(&path).map_err(io)?;
    let mut pos = 0usize;
    while pos + HEADER <= bytes.len() {
        let h = &bytes[pos..pos + HEADER];
        let word = |a: usize| u32::from_le_bytes([h[a], h[a + 1], h[a + 2], h[a + 3]]);
        let key = u64::from_le_bytes(h[5..13].try_into().unwrap_or_default());
        let (magic, kind, len, crc) = (word(0), h[4], word(13) as usize, word(17));
        let start = pos + HEADER;
        let Some(body) = bytes.get(start..start + len) else {
            break;
        };
        if magic != MAGIC || crc32fast::hash(body) != crc {
            break;
        }
        match kind {
            KIND_BATCH => {
                let count = body
                    .get(..4)
                    .and_then(|c| c.try_into().ok())
                    .map_or(0, u32::from_le_bytes);
                index.push(BatchRef {
                    key,
                    segment: seg,
                    offset: start as u64,
                    len: len as u32,
                    count,
                    trimmed: 0,
                });
            }
            KIND_TRIM => {
                let trimmed = body
                    .get(..4)
                    .and_then(|c| c.try_into().ok())
                    .map_or(0, u32::from_le_bytes);
                if let Some(b) = index.iter_mut().find(|b| b.key == key) {
                    b.trimmed = b.trimmed.max(trimmed);
                }
            }
            _ => break,
        }
        pos = start + len;
    }
    if pos < bytes.len() {
        // A torn entry from a crash: cut it off, so appends follow good ones.
        let file = OpenOptions::new().write(true).open(&path).map_err(io)?;
        file.set_len(pos as u64).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(ids: &[(&str, u64)]) -> ActivationBatch {
        let mut b = ActivationBatch::with_capacity(0);
        for (id, start) in ids {
            b.push("ns", "a", id, *start, |o| {
                o.extend_from_slice(format!("{{\"id\":\"{id}\"}}").as_bytes())
            });
        }
        b
    }

    #[test]
    fn a_torn_last_entry_is_cut_off_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivationLog::open(dir.path()).unwrap();
        log.put(&batch(&[("a", 10), ("b", 20)]), 100).unwrap();
        log.put(&batch(&[("c", 30)]), 200).unwrap();
        drop(log);
        // A crash in the middle of the next append.
        let seg = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let good = std::fs::metadata(&seg).unwrap().len();
        let mut f = OpenOptions::new().append(true).open(&seg).unwrap();
        f.write_all(&header(KIND_BATCH, 300, b"0123456789")[..])
            .unwrap();
        f.write_all(b"0123").unwrap();
        drop(f);
        let log = ActivationLog::open(dir.path()).unwrap();
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), good);
        assert_eq!(
            log.get("ns", "c", 30, 1000).unwrap().unwrap(),
            b"{\"id\":\"c\"}"
        );
        log.put(&batch(&[("d", 40)]), 400).unwrap();
        drop(log);
        let log = ActivationLog::open(dir.path()).unwrap();
        assert!(log.get("ns", "d", 40, 1000).unwrap().is_some());
        assert!(log.get("other", "d", 40, 1000).unwrap().is_none());
        assert_eq!(log.scan_newest(0, 10, |_| true).unwrap().len(), 4);
    }

    #[test]
    fn retention_trims_exactly_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivationLog::open(dir.path()).unwrap();
        log.put(&batch(&[("a", 1), ("b", 2), ("c", 3)]), 10)
            .unwrap();
        log.put(&batch(&[("d", 4)]), 20).unwrap();
        assert_eq!(log.prune(2, 0, u64::MAX).unwrap(), 2);
        let ids = |log: &ActivationLog| -> Vec<String> {
            log.scan_newest(0, 10, |_| true)
                .unwrap()
                .into_iter()
                .map(|f| f.id)
                .collect()
        };
        assert_eq!(ids(&log), ["d", "c"]);
        drop(log);
        let log = ActivationLog::open(dir.path()).unwrap();
        assert_eq!(ids(&log), ["d", "c"]);
        // Age: everything written before 15 goes.
        assert_eq!(log.prune(100, 15, u64::MAX).unwrap(), 1);
        assert_eq!(ids(&log), ["d"]);
    }

    #[test]
    fn retention_bounds_the_bytes_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivationLog::open(dir.path()).unwrap();
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            log.put(&batch(&[(id, i as u64)]), 10 * (i as u64 + 1))
                .unwrap();
        }
        let one = batch(&[("a", 0)]).bytes().len() as u64;
        // Room for two batches: the two oldest go.
        assert_eq!(log.prune(100, 0, 2 * one).unwrap(), 2);
        let left: Vec<String> = log
            .scan_newest(0, 10, |_| true)
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect();
        assert_eq!(left, ["d", "c"]);
    }

    #[test]
    fn old_segments_are_deleted_once_nothing_in_them_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let log = ActivationLog::open(dir.path()).unwrap();
        let big = "x".repeat(SEGMENT_BYTES as usize / 2 + 1);
        let big_batch = |id: &str, start: u64| {
            let mut b = ActivationBatch::with_capacity(0);
            b.push("ns", "a", id, start, |o| {
                o.extend_from_slice(big.as_bytes())
            });
            b
        };
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            log.put(&big_batch(id, i as u64), 10 * (i as u64 + 1))
                .unwrap();
        }
        let segments = || std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(segments(), 2);
        assert_eq!(log.prune(2, 0, u64::MAX).unwrap(), 2);
        assert_eq!(segments(), 1);
    }
}
