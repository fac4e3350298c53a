//! Namespace ids: one per rollup.

use bytes::{Buf, BufMut};
use commonware_codec::{EncodeSize, Error, FixedSize, Read, Write};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A rollup's namespace. For Ethereum-style rollups this is the chain id.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NamespaceId(pub u64);

impl NamespaceId {
    /// The system namespace, reserved for the stake table and network transactions.
    pub const SYSTEM: NamespaceId = NamespaceId(0);
}

impl fmt::Display for NamespaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Write for NamespaceId {
    fn write(&self, buf: &mut impl BufMut) {
        buf.put_u64(self.0);
    }
}

impl FixedSize for NamespaceId {
    const SIZE: usize = 8;
}

impl Read for NamespaceId {
    type Cfg = ();
    fn read_cfg(buf: &mut impl commonware_codec::Buf, _: &()) -> Result<Self, Error> {
        if buf.remaining() < 8 {
            return Err(Error::EndOfBuffer);
        }
        Ok(Self(buf.get_u64()))
    }
}

// `EncodeSize` comes from `FixedSize` through the codec's blanket impl.
const _: fn() = || {
    fn assert_encode_size<T: EncodeSize>() {}
    assert_encode_size::<NamespaceId>();
};
