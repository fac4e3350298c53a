//! The acknowledgement journal: how a lane's group commit becomes durable with one sequential
//! write and one `fdatasync`.
//!
//! A redb commit rewrites every B-tree page it touches. The pending log and the receipts are
//! keyed by transaction hash, so a group of 1,024 acknowledgements dirtied about a page per
//! entry: measured on the development machine under `weft bench --rate 10000`, the bulk
//! lane wrote ~4.8 KB per transaction of ~400 bytes, and every lone order's commit waited
//! for the disk to flush all of it (the device cache is flushed whole). Now the journal makes
//! a group durable, and the lane's redb database takes the same entries in commits that do
//! not fsync (they stay in redb's write buffer, where later commits rewrite the same pages in
//! memory). A checkpoint (one durable redb commit) makes the database durable on its own and
//! empties the journal; at open, whatever the journal holds is applied again.
//!
//! Rules (numbered where they are enforced):
//! 1. nothing is acknowledged before its record is written and synced (`append`); the redb
//!    apply comes after, so no reader is ever served an entry a crash could lose;
//! 2. a record is `[payload length u32 LE][CRC32C of payload u32 LE][payload]`; the journal
//!    ends at the first record that is short or fails its CRC. A group is written only after
//!    the previous one was synced, so only the last record can be torn by a crash, and it
//!    was never acknowledged;
//! 3. applying a record is idempotent (inserts of the same keys and values), so a crash
//!    between a checkpoint's durable commit and the journal's reset only applies records
//!    again;
//! 4. a journal is checkpointed once it holds [`JOURNAL_CHECKPOINT_BYTES`]: that bounds both
//!    the replay at open and the memory redb holds for unsynced pages.

use bytes::{Buf, BufMut};
use commonware_codec::Encode as _;
use std::io;
use weft_types::{Limits, Receipt, Transaction};

/// Journal bytes after which the lane's database is checkpointed and the journal emptied
/// (rule 4): about 15 s of the bulk lane at 10,000 tx/s on four validators.
pub const JOURNAL_CHECKPOINT_BYTES: u64 = 16 << 20;

/// Bytes of a record's header (rule 2).
const RECORD_HEADER_BYTES: usize = 8;

/// A lane's journal on any storage backend (a file in production, a runtime blob in the
/// simulator).
pub(crate) struct Journal {
    backend: Box<dyn redb::StorageBackend>,
    /// Where the next record goes: the end of the last valid one.
    len: u64,
    /// The backend's length (past `len` after a torn tail): grown before a write reaches
    /// beyond it, as a redb backend requires.
    backend_len: u64,
}

/// What a journal held at open.
pub(crate) struct Replay {
    /// Each valid record's transactions and receipts, in order.
    pub groups: Vec<(Vec<Transaction>, Vec<Receipt>)>,
    /// Bytes after the last valid record: a torn tail (rule 2).
    pub torn_bytes: u64,
}

impl Journal {
    /// Opens the journal on `backend` and reads what it holds (rule 2). A record whose CRC
    /// passes but whose entries do not decode is corruption, reported as such.
    pub(crate) fn open(
        backend: Box<dyn redb::StorageBackend>,
        limits: &Limits,
    ) -> io::Result<(Self, Replay)> {
        let file_len = backend.len()?;
        let mut groups = Vec::new();
        let mut at = 0u64;
        while file_len - at >= RECORD_HEADER_BYTES as u64 {
            let mut header = [0u8; RECORD_HEADER_BYTES];
            backend.read(at, &mut header)?;
            let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as u64;
            let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
            let body_at = at + RECORD_HEADER_BYTES as u64;
            if len > file_len - body_at {
                break;
            }
            let mut payload = vec![0u8; len as usize];
            backend.read(body_at, &mut payload)?;
            if commonware_cryptography::Crc32::checksum(&payload) != crc {
                break;
            }
            let group = decode_group(&payload, limits).map_err(|reason| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("journal record at byte {at}: {reason}"),
                )
            })?;
            groups.push(group);
            at = body_at + len;
        }
        let journal = Self {
            backend,
            len: at,
            backend_len: file_len,
        };
        Ok((
            journal,
            Replay {
                groups,
                torn_bytes: file_len - at,
            },
        ))
    }

    /// Appends one group's record and syncs it (rule 1).
    pub(crate) fn append(&mut self, txs: &[Transaction], receipts: &[Receipt]) -> io::Result<()> {
        let payload = encode_group(txs, receipts);
        let len = u32::try_from(payload.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a journal record of {} bytes is over 4 GiB", payload.len()),
            )
        })?;
        let mut record = Vec::with_capacity(RECORD_HEADER_BYTES + payload.len());
        record.put_u32_le(len);
        record.put_u32_le(commonware_cryptography::Crc32::checksum(&payload));
        record.extend_from_slice(&payload);
        let end = self.len + record.len() as u64;
        if end > self.backend_len {
            self.backend.set_len(end)?;
            self.backend_len = end;
        }
        self.backend.write(self.len, &record)?;
        self.backend.sync_data()?;
        self.len += record.len() as u64;
        Ok(())
    }

    /// Bytes the journal holds.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Empties the journal, durably (after a checkpoint made its records durable in the
    /// database, or after they were applied at open).
    pub(crate) fn reset(&mut self) -> io::Result<()> {
        self.backend.set_len(0)?;
        self.backend.sync_data()?;
        self.len = 0;
        self.backend_len = 0;
        Ok(())
    }
}

/// A group's payload: `[tx count u32][each: length u32, bytes][receipt count u32][each:
/// RECEIPT_BYTES]`, little-endian counts.
fn encode_group(txs: &[Transaction], receipts: &[Receipt]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        8 + txs.iter().map(|t| 4 + t.encoded_len()).sum::<usize>()
            + receipts.len() * weft_types::RECEIPT_BYTES,
    );
    out.put_u32_le(txs.len() as u32);
    for tx in txs {
        let bytes = tx.encode();
        out.put_u32_le(bytes.len() as u32);
        out.extend_from_slice(&bytes);
    }
    out.put_u32_le(receipts.len() as u32);
    for r in receipts {
        out.extend_from_slice(&r.encode());
    }
    out
}

/// Decodes a group's payload; every count is bounded by the bytes left, and transactions
/// decode under the chain's limits.
fn decode_group(
    mut bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<Transaction>, Vec<Receipt>), String> {
    let count = |bytes: &mut &[u8], what: &str| -> Result<usize, String> {
        if bytes.remaining() < 4 {
            return Err(format!("{what} count cut short"));
        }
        Ok(bytes.get_u32_le() as usize)
    };
    let tx_count = count(&mut bytes, "transaction")?;
    // Each transaction takes at least its 4-byte length.
    if tx_count > bytes.remaining() / 4 {
        return Err(format!(
            "{tx_count} transactions cannot fit in {} bytes",
            bytes.remaining()
        ));
    }
    let mut txs = Vec::with_capacity(tx_count);
    for i in 0..tx_count {
        let len = count(&mut bytes, "transaction length")?;
        if len > bytes.remaining() {
            return Err(format!("transaction {i}'s {len} bytes are cut short"));
        }
        let tx = Transaction::decode_untrusted(&bytes[..len], limits)
            .map_err(|e| format!("transaction {i}: {e}"))?;
        bytes.advance(len);
        txs.push(tx);
    }
    let receipt_count = count(&mut bytes, "receipt")?;
    if receipt_count
        .checked_mul(weft_types::RECEIPT_BYTES)
        .is_none_or(|n| n != bytes.remaining())
    {
        return Err(format!(
            "{receipt_count} receipts do not fill the {} bytes left",
            bytes.remaining()
        ));
    }
    let receipts = bytes
        .chunks(weft_types::RECEIPT_BYTES)
        .enumerate()
        .map(|(i, r)| Receipt::decode_bytes(r).map_err(|e| format!("receipt {i}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((txs, receipts))
}

/// A journal in a file (production).
#[derive(Debug)]
pub struct FileJournal(std::fs::File);

impl FileJournal {
    /// Opens (or creates) the journal file at `path`.
    pub fn open(path: &std::path::Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        Ok(Self(file))
    }
}

impl redb::StorageBackend for FileJournal {
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.0, out, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(&self.0, data, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use commonware_cryptography::Signer as _;
    use weft_types::{ChainId, NamespaceId, Promise, SigningKey};

    fn chain() -> ChainId {
        ChainId(weft_types::sha256(&[b"journal tests"]))
    }

    fn group(seed: u64, n: u64) -> (Vec<Transaction>, Vec<Receipt>) {
        let issuer = SigningKey::from_seed(1);
        let txs: Vec<Transaction> = (0..n)
            .map(|i| {
                Transaction::sign(
                    &SigningKey::from_seed(seed),
                    &chain(),
                    NamespaceId(3),
                    i,
                    Bytes::from(format!("tx {seed}/{i}")),
                )
            })
            .collect();
        let receipts = txs
            .iter()
            .map(|t| Promise::for_tx(chain(), t, 1, 9, issuer.public_key()).sign(&issuer))
            .collect();
        (txs, receipts)
    }

    fn open(backend: redb::backends::InMemoryBackend) -> (Journal, Replay) {
        Journal::open(Box::new(backend), &Limits::default()).expect("opens")
    }

    /// Records come back in order; a torn last record (any prefix of it, or a flipped
    /// byte) ends the journal there and is dropped, and the next append overwrites it.
    #[test]
    fn records_replay_in_order_and_a_torn_tail_is_dropped() {
        let (a, b) = (group(2, 3), group(3, 1));
        let full = {
            let backend = redb::backends::InMemoryBackend::new();
            let (mut j, replay) = open(backend);
            assert!(replay.groups.is_empty());
            j.append(&a.0, &a.1).unwrap();
            j.append(&b.0, &b.1).unwrap();
            let mut bytes = vec![0u8; j.len() as usize];
            redb::StorageBackend::read(j.backend.as_ref(), 0, &mut bytes).unwrap();
            bytes
        };
        let first_len = RECORD_HEADER_BYTES + encode_group(&a.0, &a.1).len();
        let with = |bytes: &[u8]| {
            let backend = redb::backends::InMemoryBackend::new();
            redb::StorageBackend::set_len(&backend, bytes.len() as u64).unwrap();
            redb::StorageBackend::write(&backend, 0, bytes).unwrap();
            open(backend)
        };
        let (_, replay) = with(&full);
        assert_eq!(replay.groups, vec![a.clone(), b.clone()]);
        assert_eq!(replay.torn_bytes, 0);
        // Every cut inside the second record, and a flipped payload byte in it.
        for cut in first_len..full.len() {
            let (_, replay) = with(&full[..cut]);
            assert_eq!(replay.groups, vec![a.clone()], "cut at {cut}");
            assert_eq!(replay.torn_bytes, (cut - first_len) as u64);
        }
        let mut flipped = full.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let (mut j, replay) = with(&flipped);
        assert_eq!(replay.groups, vec![a.clone()]);
        // The next append goes where the torn record began.
        j.append(&b.0, &b.1).unwrap();
        let mut bytes = vec![0u8; j.len() as usize];
        redb::StorageBackend::read(j.backend.as_ref(), 0, &mut bytes).unwrap();
        assert_eq!(bytes, full);
    }

    /// A record whose CRC passes but whose entries do not decode is corruption, not a torn
    /// tail: the open fails and names the record.
    #[test]
    fn a_record_that_does_not_decode_is_corruption() {
        for payload in [
            vec![9, 0, 0, 0],                // nine transactions in no bytes
            vec![0, 0, 0, 0, 1, 0, 0, 0, 7], // one receipt of one byte
        ] {
            let mut record = Vec::new();
            record.put_u32_le(payload.len() as u32);
            record.put_u32_le(commonware_cryptography::Crc32::checksum(&payload));
            record.extend_from_slice(&payload);
            let backend = redb::backends::InMemoryBackend::new();
            redb::StorageBackend::set_len(&backend, record.len() as u64).unwrap();
            redb::StorageBackend::write(&backend, 0, &record).unwrap();
            let err = Journal::open(Box::new(backend), &Limits::default())
                .err()
                .expect("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
            assert!(
                err.to_string().contains("journal record at byte 0"),
                "{err}"
            );
        }
    }

    #[test]
    fn reset_empties_the_journal() {
        let (mut j, _) = open(redb::backends::InMemoryBackend::new());
        let a = group(4, 2);
        j.append(&a.0, &a.1).unwrap();
        assert!(j.len() > 0);
        j.reset().unwrap();
        assert_eq!(j.len(), 0);
        assert_eq!(redb::StorageBackend::len(j.backend.as_ref()).unwrap(), 0);
    }
}
