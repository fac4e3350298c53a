//! Bulk work at a lower CPU priority, so it yields the CPU to what a lone order waits on.
//!
//! A lone order's receipt waits on a few short steps on several threads: the RPC handler,
//! the gossip push, the durable write. Under load the CPU is mostly busy with bulk work:
//! checking submitted batches, verifying peers' gossip. When both want a core, the bulk
//! thread should wait, not the order. Linux gives each thread its own nice value, and any
//! thread may raise its own (lower its priority) without privileges, so bulk work runs on
//! threads that lower themselves once, when they start:
//! the pool here ([`BulkPool`]), which checks the signatures of submitted batches and of
//! peers' gossip ([`weft_consensus::Offload`]) and signs a batch's receipts, and the bulk
//! acknowledgement lane's writer.
//!
//! Rules (numbered as enforced below):
//! 1. a bulk thread lowers itself by `node.bulk_nice` steps once, at its start; it never
//!    raises itself back (that would need privileges), so only threads that do nothing but
//!    bulk work are lowered;
//! 2. a bulk job takes no lock the receipt path takes (the mempool's): a lowered thread
//!    holding it would keep a lone order waiting while the CPU serves everything else first
//!    (priority inversion). Admission runs at the submitter's own priority, in short chunks
//!    (`weft_consensus::admit`);
//! 3. the pool's queue holds at most [`BULK_QUEUE_JOBS_MAX`] jobs; a submitter beyond it
//!    waits for room (the RPC server bounds how many wait, `rpc.connections_max`, and the
//!    gossip receiver is one).
//!
//! Elsewhere than Linux a thread cannot be lowered alone (the nice value belongs to the
//! process), so there it keeps its priority.

use futures::channel::oneshot;
use std::sync::{Arc, Mutex};
use tracing::warn;

/// Most jobs waiting for a bulk thread (rule 3).
pub const BULK_QUEUE_JOBS_MAX: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

/// The calling thread's nice value (Linux; 0 elsewhere).
pub fn this_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid takes no arguments and cannot fail; getpriority reads only its
        // arguments (-1 is also a valid nice value, so errno is not consulted: the id is ours).
        unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::getpriority(libc::PRIO_PROCESS, tid)
        }
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Lowers the calling thread's CPU priority by `by` nice steps (rule 1), to at most 19 (the
/// lowest). Logs and carries on if the system refuses.
pub fn lower_this_thread(by: i32) {
    if by <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let nice = (this_thread_nice() + by).min(NICE_MAX);
        // SAFETY: as in `this_thread_nice`; setpriority reads only its arguments, and the id
        // is this thread's own, so only this thread's nice value changes.
        let rc = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, nice)
        };
        if rc != 0 {
            warn!(target: "weft::node", nice, error = %std::io::Error::last_os_error(), "could not lower a bulk thread's priority");
        }
    }
}

/// The lowest priority a thread can have.
pub const NICE_MAX: i32 = 19;

/// Threads at `node.bulk_nice` that run bulk jobs.
#[derive(Clone)]
pub struct BulkPool {
    jobs: tokio::sync::mpsc::Sender<Job>,
}

impl BulkPool {
    /// Starts `threads` threads that lower themselves by `nice` steps and run jobs in arrival
    /// order.
    pub fn start(threads: usize, nice: i32) -> Self {
        assert!(threads > 0, "a bulk pool needs a thread");
        let (jobs, receiver) = tokio::sync::mpsc::channel::<Job>(BULK_QUEUE_JOBS_MAX);
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..threads {
            let receiver = receiver.clone();
            std::thread::Builder::new()
                .name(format!("weft-bulk-{i}"))
                .spawn(move || {
                    lower_this_thread(nice);
                    loop {
                        // One thread waits on the queue at a time; the others wait for it.
                        let job = receiver.lock().expect("bulk queue lock").blocking_recv();
                        match job {
                            Some(job) => job(),
                            None => return,
                        }
                    }
                })
                .expect("spawning a bulk thread failed");
        }
        Self { jobs }
    }

    /// Runs `f` on a bulk thread and returns what it returns; a panic in `f` resumes here.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        self.jobs
            .send(job)
            .await
            .unwrap_or_else(|_| panic!("the bulk pool stopped"));
        match result.await.expect("the bulk pool dropped a job") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl weft_consensus::Offload for BulkPool {
    fn run(&self, job: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()> {
        let pool = self.clone();
        Box::pin(async move { BulkPool::run(&pool, job).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_lowered_threads_and_panics_come_back() {
        let pool = BulkPool::start(2, 7);
        let results = futures::future::join_all((0..8u64).map(|i| pool.run(move || i * i))).await;
        assert_eq!(results, (0..8u64).map(|i| i * i).collect::<Vec<_>>());
        #[cfg(target_os = "linux")]
        {
            // Rule 1: the job runs 7 steps below the thread that started the pool, and the
            // caller keeps its own priority.
            let before = this_thread_nice();
            let nice = pool.run(this_thread_nice).await;
            assert_eq!(nice, (before + 7).min(NICE_MAX));
            assert_eq!(this_thread_nice(), before);
        }
        let pool2 = pool.clone();
        let panicked =
            tokio::spawn(async move { pool2.run(|| -> u8 { panic!("boom") }).await }).await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        // The thread that ran the panicking job still serves.
        assert_eq!(pool.run(|| 5).await, 5);
    }
}
