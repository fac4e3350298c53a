//! Transaction gossip: every client transaction reaches every validator's mempool.
//!
//! A validator batches the transactions its clients submitted and sends each batch to all
//! peers. A receiver decodes the batch with the wire limits, verifies the signatures of the
//! transactions it has not seen (one batch verification), and admits them. A peer that sends
//! undecodable or badly signed batches is Byzantine: it is blocked.

use crate::{ChainState, Shared};
use bytes::Bytes;
use commonware_codec::{Decode, Encode};
use commonware_p2p::{Blocker, Receiver, Recipients, Sender};
use commonware_runtime::Clock;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, warn};
use weft_types::{Transaction, VerifyingKey};

/// How often the outbox is flushed.
pub const GOSSIP_INTERVAL: Duration = Duration::from_millis(10);

/// Encodes a gossip batch.
pub fn encode_batch(txs: &[Transaction]) -> Bytes {
    txs.to_vec().encode()
}

/// Sends locally admitted transactions to all peers, in batches.
pub async fn run_outbound(
    clock: impl Clock,
    shared: Arc<Shared>,
    mut sender: impl Sender<PublicKey = VerifyingKey>,
) {
    // A gossip message must fit the p2p message cap, which admits a full block.
    let bytes_max = shared.limits.block_bytes_max / 2;
    loop {
        clock.sleep(GOSSIP_INTERVAL).await;
        loop {
            let batch = shared
                .mempool
                .lock()
                .expect("mempool lock")
                .take_gossip_batch(bytes_max);
            if batch.is_empty() {
                break;
            }
            sender.send(Recipients::All, encode_batch(&batch), false);
        }
    }
}

/// Receives batches from peers and admits them.
pub async fn run_inbound(
    shared: Arc<Shared>,
    mut receiver: impl Receiver<PublicKey = VerifyingKey>,
    mut blocker: impl Blocker<PublicKey = VerifyingKey>,
    batch_txs_max: usize,
) {
    let cfg = ((0..=batch_txs_max).into(), shared.limits);
    while let Ok((peer, message)) = receiver.recv().await {
        let txs = match Vec::<Transaction>::decode_cfg(message, &cfg) {
            Ok(txs) => txs,
            Err(e) => {
                warn!(target: "weft::gossip", %peer, error = %e, "undecodable gossip batch; blocking peer");
                shared.metrics.gossip_rejected.inc();
                blocker.block(peer);
                continue;
            }
        };
        let fresh: Vec<&Transaction> = {
            let mempool = shared.mempool.lock().expect("mempool lock");
            txs.iter()
                .filter(|t| mempool.status(&t.hash()).is_none())
                .collect()
        };
        if fresh.iter().any(|t| t.check_size(&shared.limits).is_err()) {
            shared.metrics.gossip_rejected.inc();
            blocker.block(peer);
            continue;
        }
        let flags = Transaction::verify_signatures(&fresh);
        if flags.iter().any(|ok| !ok) {
            warn!(target: "weft::gossip", %peer, "gossip batch with an invalid signature; blocking peer");
            shared.metrics.gossip_rejected.inc();
            blocker.block(peer);
            continue;
        }
        let chain = ChainState(&shared.store);
        let mut mempool = shared.mempool.lock().expect("mempool lock");
        let mut admitted = 0u64;
        for tx in fresh {
            // Rejections here are races (already finalized, nonce used): not the peer's fault.
            if mempool.admit(tx.clone(), &chain, false).is_ok() {
                admitted += 1;
            }
        }
        shared.metrics.mempool_txs.set(mempool.len() as i64);
        shared.metrics.gossip_admitted.inc_by(admitted);
        debug!(target: "weft::gossip", %peer, admitted, "gossip batch");
    }
}
