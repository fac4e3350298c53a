//! The validator's acknowledgement-path metrics (Prometheus, base units): where the time
//! between a submission arriving and its receipt leaving goes. Each histogram is labelled
//! `lane="express"` (a lone submission of a few transactions) or `lane="bulk"` (a batch),
//! the acknowledgement lanes of [`weft_storage::AckLane`].

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use weft_storage::AckLane;

/// Buckets from 100 µs to ~3.3 s, doubling: receipt latency targets are milliseconds.
fn latency_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 16))
}

/// Buckets from 1 to 65,536 items, doubling.
fn item_buckets() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 17))
}

type Labels = Vec<(&'static str, &'static str)>;

/// One histogram per lane.
type ByLane = Family<Labels, Histogram, fn() -> Histogram>;

fn labels(lane: AckLane) -> Labels {
    vec![(
        "lane",
        match lane {
            AckLane::Express => "express",
            AckLane::Bulk => "bulk",
        },
    )]
}

/// Metrics of admission, spreading, persisting and signing, per lane.
#[derive(Clone)]
pub struct Metrics {
    /// Seconds a submission spent in stateless checks, signature verification and mempool
    /// admission.
    admit_seconds: ByLane,
    /// Seconds a promising submission waited for its transactions to reach `f + 1` peers.
    spread_wait_seconds: ByLane,
    /// Seconds a submission waited for its receipts to be signed and for the durable log
    /// (signing, queueing and its group's write).
    persist_wait_seconds: ByLane,
    /// Seconds one group commit took to make its transactions and receipts durable.
    group_commit_seconds: ByLane,
    /// Submissions (transactions plus receipts) written per group commit.
    group_commit_items: ByLane,
}

impl Default for Metrics {
    fn default() -> Self {
        let latency = || ByLane::new_with_constructor(latency_buckets as fn() -> Histogram);
        Self {
            admit_seconds: latency(),
            spread_wait_seconds: latency(),
            persist_wait_seconds: latency(),
            group_commit_seconds: latency(),
            group_commit_items: ByLane::new_with_constructor(item_buckets as fn() -> Histogram),
        }
    }
}

impl Metrics {
    /// `admit_seconds` of `lane`.
    pub fn admit_seconds(&self, lane: AckLane) -> Histogram {
        self.admit_seconds.get_or_create(&labels(lane)).clone()
    }

    /// `spread_wait_seconds` of `lane`.
    pub fn spread_wait_seconds(&self, lane: AckLane) -> Histogram {
        self.spread_wait_seconds
            .get_or_create(&labels(lane))
            .clone()
    }

    /// `persist_wait_seconds` of `lane`.
    pub fn persist_wait_seconds(&self, lane: AckLane) -> Histogram {
        self.persist_wait_seconds
            .get_or_create(&labels(lane))
            .clone()
    }

    /// `group_commit_seconds` of `lane`.
    pub fn group_commit_seconds(&self, lane: AckLane) -> Histogram {
        self.group_commit_seconds
            .get_or_create(&labels(lane))
            .clone()
    }

    /// `group_commit_items` of `lane`.
    pub fn group_commit_items(&self, lane: AckLane) -> Histogram {
        self.group_commit_items.get_or_create(&labels(lane)).clone()
    }

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
