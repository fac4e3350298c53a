//! Time as a rollup world sees it: wall-clock milliseconds (for batch intervals and prover
//! deadlines) and sleeping between polls. Injected, so the framework's loops never read
//! `SystemTime` themselves and tests or a simulator can drive them. Execution never reads
//! it: state is a function of finalized Weft data alone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A future a [`Clock`] returns from `sleep`.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The time source of a rollup world's loops.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
    /// Resolves after `ms` milliseconds of this clock.
    fn sleep(&self, ms: u64) -> Sleep;
}

/// A shared clock.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock and tokio's timer: what the binary runs with.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }

    fn sleep(&self, ms: u64) -> Sleep {
        Box::pin(tokio::time::sleep(std::time::Duration::from_millis(ms)))
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to, or by the time it is asked to sleep (a sleep
/// returns at once, having advanced it): loops run as fast as they can, deterministically.
#[derive(Debug, Default)]
pub struct ManualClock {
    now_ms: std::sync::atomic::AtomicU64,
}

impl ManualClock {
    /// A clock at `now_ms`.
    pub fn at(now_ms: u64) -> Arc<Self> {
        Arc::new(Self {
            now_ms: now_ms.into(),
        })
    }

    /// Moves the clock `ms` milliseconds forward.
    pub fn advance(&self, ms: u64) {
        self.now_ms
            .fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn sleep(&self, ms: u64) -> Sleep {
        self.advance(ms);
        // Yield, so a loop on this clock still lets other tasks run.
        Box::pin(tokio::task::yield_now())
    }
}
