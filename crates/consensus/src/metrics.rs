//! Consensus-side metrics (Prometheus, base units).

use prometheus_client::metrics::{counter::Counter, gauge::Gauge};

/// Metrics of block building, verification and finalization.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Proposals this validator refused to vote for.
    pub proposals_rejected: Counter,
    /// Height of the highest finalized block persisted.
    pub finalized_height: Gauge,
    /// Transactions finalized since start.
    pub finalized_txs: Counter,
    /// Gossip messages dropped because they failed to decode or verify.
    pub gossip_rejected: Counter,
    /// Transactions received by gossip and admitted.
    pub gossip_admitted: Counter,
    /// Gossip messages dropped, unacknowledged, because the inbound worker's queue was full
    /// (gossip rule 6).
    pub gossip_dropped: Counter,
    /// Transactions sent to peers that asked for them after an announcement (anti-entropy).
    pub gossip_served: Counter,
    /// Pending transactions in the mempool.
    pub mempool_txs: Gauge,
    /// Transaction signatures checked (blocks, gossip, submissions).
    pub signatures_checked: Counter,
    /// Transaction signatures not checked again because the same one already passed.
    pub signatures_skipped: Counter,
    /// The epoch whose consensus engine this validator runs.
    pub epoch: Gauge,
    /// Epoch boundaries crossed since start.
    pub epochs_entered: Counter,
}

impl Metrics {
    /// Registers every metric with the runtime's registry. A metric stays registered while
    /// its returned handle lives.
    pub fn register(
        &self,
        context: &impl commonware_runtime::Metrics,
    ) -> Vec<Box<dyn std::any::Any + Send + Sync>> {
        vec![
            Box::new(context.register(
                "proposals_rejected",
                "Proposals this validator refused to vote for",
                self.proposals_rejected.clone(),
            )),
            Box::new(context.register(
                "finalized_height",
                "Height of the highest finalized block persisted",
                self.finalized_height.clone(),
            )),
            Box::new(context.register(
                "finalized_txs",
                "Transactions finalized since start",
                self.finalized_txs.clone(),
            )),
            Box::new(context.register(
                "gossip_rejected",
                "Gossip messages dropped as malformed or invalid",
                self.gossip_rejected.clone(),
            )),
            Box::new(context.register(
                "gossip_dropped",
                "Gossip messages dropped, unacknowledged, because the inbound queue was full",
                self.gossip_dropped.clone(),
            )),
            Box::new(context.register(
                "gossip_admitted",
                "Transactions received by gossip and admitted",
                self.gossip_admitted.clone(),
            )),
            Box::new(context.register(
                "signatures_checked",
                "Transaction signatures checked (blocks, gossip, submissions)",
                self.signatures_checked.clone(),
            )),
            Box::new(context.register(
                "signatures_skipped",
                "Transaction signatures not checked again because the same one already passed",
                self.signatures_skipped.clone(),
            )),
            Box::new(context.register(
                "gossip_served",
                "Transactions sent to peers that wanted them after an announcement",
                self.gossip_served.clone(),
            )),
            Box::new(context.register(
                "mempool_txs",
                "Pending transactions in the mempool",
                self.mempool_txs.clone(),
            )),
            Box::new(context.register(
                "epoch",
                "The epoch whose consensus engine this validator runs",
                self.epoch.clone(),
            )),
            Box::new(context.register(
                "epochs_entered",
                "Epoch boundaries crossed since start",
                self.epochs_entered.clone(),
            )),
        ]
    }
}
