//! The store on a Commonware runtime blob, so the deterministic simulator's storage (and its
//! fault injection: failed and torn writes, failed syncs, lost unsynced data at a crash)
//! reaches the Weft store exactly as it reaches consensus' journals.
//!
//! redb's [`StorageBackend`] is synchronous; a runtime [`Blob`] is asynchronous. Each call
//! is driven to completion in place with [`futures::executor::block_on`]. That is sound only
//! for a blob whose futures complete without the executor that polls the caller (the
//! deterministic runtime's in-memory blob and its fault, audit and metering wrappers do):
//! production nodes open the store on a file ([`crate::Store::open`]) instead.

use commonware_runtime::{Blob, ReadOptions, WriteOptions};
use futures::executor::block_on;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// A redb storage backend over one runtime blob.
pub struct RuntimeBackend<B: Blob> {
    blob: B,
    /// The blob's length: a runtime blob does not report it after open.
    len: AtomicU64,
}

impl<B: Blob> RuntimeBackend<B> {
    /// Wraps `blob`, whose current length `len` the runtime returned when it was opened.
    pub fn new(blob: B, len: u64) -> Self {
        Self {
            blob,
            len: AtomicU64::new(len),
        }
    }
}

impl<B: Blob> std::fmt::Debug for RuntimeBackend<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeBackend")
            .field("len", &self.len.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

fn io_error(op: &str, e: commonware_runtime::Error) -> io::Error {
    io::Error::other(format!("runtime blob {op} failed: {e}"))
}

impl<B: Blob> redb::StorageBackend for RuntimeBackend<B> {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.len.load(Ordering::Acquire))
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let end = offset
            .checked_add(out.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "read offset overflows"))?;
        let len = self.len.load(Ordering::Acquire);
        if end > len {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("read of {offset}..{end} past the end of a {len}-byte blob"),
            ));
        }
        let bufs = block_on(self.blob.read_at(offset, out.len(), ReadOptions::default()))
            .map_err(|e| io_error("read", e))?;
        let mut bufs = bufs;
        bytes::Buf::copy_to_slice(&mut bufs, out);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        block_on(self.blob.resize(len)).map_err(|e| io_error("resize", e))?;
        self.len.store(len, Ordering::Release);
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        block_on(self.blob.sync()).map_err(|e| io_error("sync", e))
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "write offset overflows"))?;
        block_on(
            self.blob
                .write_at(offset, data.to_vec(), WriteOptions::default()),
        )
        .map_err(|e| io_error("write", e))?;
        self.len.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }
}
