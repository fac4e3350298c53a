//! The validator's acknowledgement-path metrics (Prometheus, base units): where the time
//! between a submission arriving and its receipt leaving goes.

use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};

/// Buckets from 100 µs to ~3.3 s, doubling: receipt latency targets are milliseconds.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// Metrics of admission, spreading, persisting and signing.
#[derive(Clone)]
pub struct Metrics {
    /// Seconds a submission spent in stateless checks, signature verification and mempool
    /// admission.
    pub admit_seconds: Histogram,
    /// Seconds a promising submission waited for its transactions to reach `f + 1` peers.
    pub spread_wait_seconds: Histogram,
    /// Seconds a submission waited for its receipts to be signed and for the durable log
    /// (signing, queueing and its group's write).
    pub persist_wait_seconds: Histogram,
    /// Seconds one group commit took to make its transactions and receipts durable.
    pub group_commit_seconds: Histogram,
    /// Submissions (transactions plus receipts) written per group commit.
    pub group_commit_items: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            admit_seconds: latency_buckets(),
            spread_wait_seconds: latency_buckets(),
            persist_wait_seconds: latency_buckets(),
            group_commit_seconds: latency_buckets(),
            group_commit_items: Histogram::new(exponential_buckets(1.0, 2.0, 17)),
        }
    }
}

impl Metrics {
    /// Registers every metric with the runtime's registry. A metric stays registered while
    /// its returned handle lives.
    pub fn register(
        &self,
        context: &impl commonware_runtime::Metrics,
    ) -> Vec<Box<dyn std::any::Any + Send + Sync>> {
        [
            (
                "admit_seconds",
                "Seconds a submission spent in checks, signature verification and admission",
                &self.admit_seconds,
            ),
            (
                "spread_wait_seconds",
                "Seconds a promising submission waited to reach f + 1 peers",
                &self.spread_wait_seconds,
            ),
            (
                "persist_wait_seconds",
                "Seconds a submission waited for its receipts to be signed and logged durably",
                &self.persist_wait_seconds,
            ),
            (
                "group_commit_seconds",
                "Seconds one group commit took to make its transactions and receipts durable",
                &self.group_commit_seconds,
            ),
            (
                "group_commit_items",
                "Transactions plus receipts written per group commit",
                &self.group_commit_items,
            ),
        ]
        .into_iter()
        .map(|(name, help, metric)| {
            Box::new(context.register(name, help, metric.clone()))
                as Box<dyn std::any::Any + Send + Sync>
        })
        .collect()
    }
}
