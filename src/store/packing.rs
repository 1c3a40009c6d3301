//! Event payloads packed for storage, by both stores. PostgreSQL compresses a value only
//! once its row passes ~2 KB, and SQLite never, so the common payload of a few hundred
//! bytes to a couple of KB was stored whole; JSON of that size usually packs to half or
//! less. Payloads up to [`PACK_UP_TO`] are packed with zstd when that saves at least an
//! eighth; larger ones are stored as published (PostgreSQL compresses those itself); what
//! does not shrink is stored as it came. Unpacking gives back the published bytes exactly.

use std::cell::RefCell;
use std::sync::Arc;

use super::columns::corrupt;
use super::{NewEvent, StoreError};

/// The largest payload packed here (bounds the time one publish spends packing).
pub(crate) const PACK_UP_TO: usize = 8 * 1024;

/// Smaller payloads are not worth a frame's overhead.
const PACK_FROM: usize = 128;

/// zstd's fastest regular level: small JSON packs nearly as well as at higher levels.
const LEVEL: i32 = 1;

thread_local! {
    /// A compression context per thread, reused: making one costs more than packing 1 KB.
    static PACKER: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

/// An event to publish with its payload packed for storage: packed by the publishing
/// request's task, before the write is queued for SQLite's writer thread or PostgreSQL's
/// committers, which would otherwise pack a whole batch in turn. Reads as the event.
pub(crate) struct PackedEvent {
    event: NewEvent,
    packed: Option<Vec<u8>>,
}

impl PackedEvent {
    pub(crate) fn new(event: NewEvent) -> Self {
        let packed = pack(&event.payload);
        PackedEvent { event, packed }
    }

    /// The payload packed, or `None` when it is stored as published.
    pub(crate) fn packed(&self) -> Option<&[u8]> {
        self.packed.as_deref()
    }

    /// The payload column's value: empty when the payload is packed (SQLite's column is
    /// `NOT NULL`), else the payload as published.
    pub(crate) fn payload_column(&self) -> &[u8] {
        if self.packed.is_some() {
            &[]
        } else {
            &self.event.payload
        }
    }
}

impl std::ops::Deref for PackedEvent {
    type Target = NewEvent;

    fn deref(&self) -> &NewEvent {
        &self.event
    }
}

/// `payload` packed, or `None` when it is to be stored as it is (too small, too large, or
/// not shrinking by an eighth).
pub(crate) fn pack(payload: &[u8]) -> Option<Vec<u8>> {
    if !(PACK_FROM..=PACK_UP_TO).contains(&payload.len()) {
        return None;
    }
    let packed = PACKER.with(|cell| {
        let mut packer = cell.borrow_mut();
        let packer = match packer.as_mut() {
            Some(packer) => packer,
            None => packer.insert(zstd::bulk::Compressor::new(LEVEL).ok()?),
        };
        packer.compress(payload).ok()
    })?;
    (packed.len() <= payload.len() - payload.len() / 8).then_some(packed)
}

/// The payload packed by [`pack`]. Its frame states the unpacked size, which must not
/// exceed [`PACK_UP_TO`]: a damaged value cannot make this allocate more.
pub(crate) fn unpack(packed: &[u8]) -> Result<Vec<u8>, StoreError> {
    let size = zstd::zstd_safe::get_frame_content_size(packed)
        .ok()
        .flatten()
        .and_then(|size| usize::try_from(size).ok())
        .filter(|size| *size <= PACK_UP_TO)
        .ok_or_else(|| corrupt("packed payload"))?;
    let payload = UNPACKER.with(|cell| {
        let mut unpacker = cell.borrow_mut();
        let unpacker = match unpacker.as_mut() {
            Some(unpacker) => unpacker,
            None => unpacker.insert(zstd::bulk::Decompressor::new().ok()?),
        };
        unpacker.decompress(packed, size).ok()
    });
    payload
        .filter(|payload| payload.len() == size)
        .ok_or_else(|| corrupt("packed payload"))
}

/// The payload of an event row: its `payload` column as stored, or its `payload_packed`
/// unpacked; exactly one of them is given (SQLite's `payload` of a packed event is empty
/// and read as `NULL`).
pub(crate) fn stored(raw: Option<&[u8]>, packed: Option<&[u8]>) -> Result<Arc<[u8]>, StoreError> {
    match (raw, packed) {
        (Some(raw), None) => Ok(Arc::from(raw)),
        (None, Some(packed)) => Ok(Arc::from(unpack(packed)?)),
        _ => Err(corrupt("event payload")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_packs_and_comes_back_exactly() {
        let payload = br#"{"ref":"refs/heads/main","repository":{"html_url":"https://forge.example/acme/widgets","url":"https://api.forge.example/repos/acme/widgets","clone_url":"https://forge.example/acme/widgets.git"},"pusher":{"name":"octocat"}}"#;
        let packed = pack(payload).expect("repetitive JSON shrinks");
        assert!(packed.len() < payload.len() * 7 / 8);
        assert_eq!(&*stored(None, Some(&packed)).unwrap(), &payload[..]);
    }

    #[test]
    fn what_does_not_shrink_or_is_out_of_range_is_stored_as_it_came() {
        // Bytes of a counter through a multiplicative hash: no repetition to find.
        let noise: Vec<u8> = (0u32..1024)
            .map(|n| (n.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        assert_eq!(pack(&noise), None);
        assert_eq!(pack(&[b'a'; PACK_FROM - 1]), None);
        assert_eq!(pack(&vec![b'a'; PACK_UP_TO + 1]), None);
        assert!(pack(&vec![b'a'; PACK_UP_TO]).is_some());
        assert_eq!(&*stored(Some(b"{}"), None).unwrap(), b"{}");
    }

    #[test]
    fn a_damaged_or_oversized_value_is_refused_without_allocating_its_claim() {
        assert!(unpack(b"not zstd").is_err());
        let packed = pack(&vec![b'a'; 4096]).unwrap();
        assert!(unpack(&packed[..packed.len() - 1]).is_err());
        // A frame that says it unpacks to more than anything packed here.
        let big = zstd::bulk::compress(&vec![0u8; PACK_UP_TO + 1], LEVEL).unwrap();
        assert!(unpack(&big).is_err());
        assert!(stored(None, None).is_err());
        assert!(stored(Some(b"{}"), Some(&packed)).is_err());
    }
}
