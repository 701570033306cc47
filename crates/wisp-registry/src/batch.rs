//! A batch of activation records, encoded as the log writes it: each record's
//! JSON goes straight into the batch's one buffer, with no copy per record.
//!
//! Format: `count: u32`, then per record `start: u64`, and `namespace`, `name`,
//! `id`, `json`, each as `len: u32` + bytes; all little-endian.

/// Records being gathered for [`Registry::put_activations`](crate::Registry::put_activations).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActivationBatch {
    buf: Vec<u8>,
    count: u32,
    newest_start: u64,
}

impl ActivationBatch {
    /// An empty batch with room for about `bytes` bytes.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut buf = Vec::with_capacity(bytes.max(4));
        buf.extend_from_slice(&[0; 4]);
        ActivationBatch {
            buf,
            count: 0,
            newest_start: 0,
        }
    }

    /// Adds one record; `json` writes the record's JSON document.
    pub fn push(
        &mut self,
        namespace: &str,
        name: &str,
        id: &str,
        start_us: u64,
        json: impl FnOnce(&mut Vec<u8>),
    ) {
        if self.buf.is_empty() {
            self.buf.extend_from_slice(&[0; 4]);
        }
        self.buf.extend_from_slice(&start_us.to_le_bytes());
        put_bytes(&mut self.buf, namespace.as_bytes());
        put_bytes(&mut self.buf, name.as_bytes());
        put_bytes(&mut self.buf, id.as_bytes());
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        json(&mut self.buf);
        let len = (self.buf.len() - at - 4) as u32;
        self.buf[at..at + 4].copy_from_slice(&len.to_le_bytes());
        self.count += 1;
        self.newest_start = self.newest_start.max(start_us);
        self.buf[..4].copy_from_slice(&self.count.to_le_bytes());
    }

    /// Records in it.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The latest start of its records (µs).
    pub fn newest_start(&self) -> u64 {
        self.newest_start
    }

    /// The encoded bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// One record inside an encoded batch.
pub(crate) struct Rec<'a> {
    pub start_us: u64,
    pub namespace: &'a str,
    pub name: &'a str,
    pub id: &'a str,
    pub json: &'a [u8],
}

/// The records of an encoded batch; `None` if it is damaged.
pub(crate) fn decode(mut b: &[u8]) -> Option<Vec<Rec<'_>>> {
    fn take<'b>(b: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        if b.len() < n {
            return None;
        }
        let (head, tail) = b.split_at(n);
        *b = tail;
        Some(head)
    }
    fn field<'b>(b: &mut &'b [u8]) -> Option<&'b [u8]> {
        let len = u32::from_le_bytes(take(b, 4)?.try_into().ok()?) as usize;
        take(b, len)
    }
    let count = u32::from_le_bytes(take(&mut b, 4)?.try_into().ok()?);
    let mut out = Vec::with_capacity((count as usize).min(b.len() / 24));
    for _ in 0..count {
        let start_us = u64::from_le_bytes(take(&mut b, 8)?.try_into().ok()?);
        let namespace = std::str::from_utf8(field(&mut b)?).ok()?;
        let name = std::str::from_utf8(field(&mut b)?).ok()?;
        let id = std::str::from_utf8(field(&mut b)?).ok()?;
        let json = field(&mut b)?;
        out.push(Rec {
            start_us,
            namespace,
            name,
            id,
            json,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_round_trips_and_damage_is_detected() {
        let mut b = ActivationBatch::with_capacity(64);
        assert!(b.is_empty());
        b.push("ns", "a", "id1", 7, |o| o.extend_from_slice(b"{\"x\":1}"));
        b.push("ns", "b", "id2", 5, |o| o.extend_from_slice(b"{}"));
        assert_eq!((b.len(), b.newest_start()), (2, 7));
        let recs = decode(b.bytes()).unwrap();
        assert_eq!(recs.len(), 2);
        assert_eq!((recs[0].name, recs[0].json), ("a", &b"{\"x\":1}"[..]));
        assert_eq!((recs[1].id, recs[1].start_us), ("id2", 5));
        assert!(decode(&b.bytes()[..b.bytes().len() - 1]).is_none());
        assert!(decode(&[255, 255, 255, 255]).is_none());
    }
}
