//! [`ConsensusBlock`]: Weft's block as Commonware's consensus sees it.

use bytes::BufMut;
use commonware_codec::{EncodeSize, Error, Read, Write};
use commonware_consensus::{types::Height, Heightable};
use commonware_cryptography::Digestible;
use std::sync::Arc;
use weft_types::{Block, Digest, Limits, HEADER_BYTES};

/// A Weft block wrapped for Commonware (the orphan rule keeps the trait impls here).
/// Cloning is cheap: the block is shared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsensusBlock(pub Arc<Block>);

impl ConsensusBlock {
    /// Wraps a block.
    pub fn new(block: Block) -> Self {
        Self(Arc::new(block))
    }
    /// The Weft block.
    pub fn block(&self) -> &Block {
        &self.0
    }
}

impl Write for ConsensusBlock {
    fn write(&self, buf: &mut impl BufMut) {
        self.0.write(buf)
    }
}
impl EncodeSize for ConsensusBlock {
    fn encode_size(&self) -> usize {
        self.0.encode_size()
    }
}
impl Read for ConsensusBlock {
    type Cfg = Limits;
    fn read_cfg(buf: &mut impl commonware_codec::Buf, cfg: &Limits) -> Result<Self, Error> {
        // The digest is recomputed from the decoded header, never taken from the wire.
        Block::read_cfg(buf, cfg).map(Self::new)
    }
}

impl Digestible for ConsensusBlock {
    type Digest = Digest;
    fn digest(&self) -> Digest {
        self.0.digest().0
    }
}

impl Heightable for ConsensusBlock {
    fn height(&self) -> Height {
        Height::new(self.0.height())
    }
}

impl commonware_consensus::Block for ConsensusBlock {
    fn parent(&self) -> Digest {
        self.0.header.parent.0
    }
}

impl commonware_consensus::BoundedBlock for ConsensusBlock {
    fn max_encode_size(cfg: &Limits) -> usize {
        cfg.block_bytes_max.max(HEADER_BYTES)
    }
}
