//! Bulk work at a lower CPU priority, so it yields the CPU to what a lone order waits on.
//!
//! A lone order's receipt waits on a few short steps on several threads: the RPC handler,
//! the gossip push, the durable write. Under load the CPU is mostly busy with bulk work:
//! checking submitted batches, verifying peers' gossip. When both want a core, the bulk
//! thread should wait, not the order. Linux gives each thread its own nice value, and any
//! thread may raise its own nice value (lower its priority) without privileges, so bulk work
//! runs on a pool of threads that lower themselves once, when they start ([`BulkPool`]). It
//! signs a batch's receipts, verifies peers' gossip ([`weft_consensus::Offload`]) and checks
//! submitted batches.
//!
//! Rules (numbered as enforced below):
//! 1. a bulk thread lowers itself by `node.bulk_nice` steps once, at its start; it never
//!    raises itself back (that would need privileges), so only threads that do nothing but
//!    bulk work are lowered. A thread inherits its creator's nice value, so no bulk job
//!    spawns a thread or starts a runtime;
//! 2. a bulk job takes no lock that work at normal priority takes (the mempool's, a
//!    database's write lock): a lowered thread holding it would keep a lone order, a vote or
//!    the finalizer waiting while the CPU serves everything else first (priority inversion).
//!    Admission and durable writes stay at normal priority;
//! 3. jobs are taken by [`Class`], most urgent first: receipt signing (promises already
//!    booked wait on it), then peers' gossip (other validators' promises wait on it), then
//!    client batches, in arrival order within a class; a client flooding batches delays only
//!    other batches;
//! 4. each class queues at most [`BULK_QUEUE_JOBS_MAX`] jobs; a submitter beyond it waits for
//!    room, asynchronously, holding no thread.
//!
//! Elsewhere than Linux a thread cannot be lowered alone (the nice value belongs to the
//! process), so there it keeps its priority.

use futures::channel::oneshot;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

/// Most jobs of one class waiting for a bulk thread (rule 4).
pub const BULK_QUEUE_JOBS_MAX: usize = 256;

/// Most bulk threads a config may ask for.
pub const BULK_THREADS_MAX: usize = 256;

/// What a bulk job is for: its place in the pool's order (rule 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// Signing the receipts of a batch whose promises are booked.
    Sign = 0,
    /// Verifying a batch a peer pushed.
    Gossip = 1,
    /// Checking a batch a client submitted.
    Submitted = 2,
}

const CLASSES: usize = 3;

type Job = Box<dyn FnOnce() + Send>;

/// The calling thread's nice value (Linux; 0 elsewhere).
pub fn this_thread_nice() -> i32 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and getpriority read only their arguments. A nice value may be -1,
        // so errno is cleared first and an error told apart by it (the id is our own, so
        // none is expected).
        unsafe {
            *libc::__errno_location() = 0;
            let nice = libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t);
            if nice == -1 && *libc::__errno_location() != 0 {
                return 0;
            }
            nice
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
        // SAFETY: setpriority reads only its arguments, and the id is this thread's own, so
        // only this thread's nice value changes.
        let rc =
            unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, nice) };
        if rc != 0 {
            tracing::warn!(target: "weft::node", nice, error = %std::io::Error::last_os_error(), "could not lower a bulk thread's priority");
        }
    }
}

/// The lowest priority a thread can have.
pub const NICE_MAX: i32 = 19;

/// Queued jobs, one queue per class (rule 3).
#[derive(Default)]
struct Queues {
    queues: [VecDeque<Job>; CLASSES],
    closed: bool,
}

struct Inner {
    queues: Mutex<Queues>,
    ready: Condvar,
    /// Room in each class's queue (rule 4).
    room: [tokio::sync::Semaphore; CLASSES],
}

/// Threads at `node.bulk_nice` that run bulk jobs. They finish what is queued and stop once
/// the last handle is dropped.
#[derive(Clone)]
pub struct BulkPool {
    handle: Arc<Handle>,
}

/// Closes the pool when the last [`BulkPool`] goes.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Ok(mut queues) = self.inner.queues.lock() {
            queues.closed = true;
        }
        self.inner.ready.notify_all();
    }
}

impl BulkPool {
    /// Starts `threads` threads that lower themselves by `nice` steps and run jobs, most
    /// urgent class first (rule 3).
    pub fn start(threads: usize, nice: i32) -> Self {
        assert!(threads > 0, "a bulk pool needs a thread");
        let inner = Arc::new(Inner {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            room: std::array::from_fn(|_| tokio::sync::Semaphore::new(BULK_QUEUE_JOBS_MAX)),
        });
        for i in 0..threads {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("weft-bulk-{i}"))
                .spawn(move || {
                    lower_this_thread(nice);
                    while let Some((class, job)) = next_job(&inner) {
                        inner.room[class].add_permits(1);
                        job();
                    }
                })
                .expect("spawning a bulk thread failed");
        }
        Self {
            handle: Arc::new(Handle { inner }),
        }
    }

    /// Jobs queued and not yet taken by a thread.
    pub fn queued(&self) -> usize {
        let queues = self.handle.inner.queues.lock().expect("bulk queue lock");
        queues.queues.iter().map(VecDeque::len).sum()
    }

    /// Runs `f` on a bulk thread, in `class`'s turn, and returns what it returns; a panic in
    /// `f` resumes here.
    pub async fn run<T: Send + 'static>(
        &self,
        class: Class,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
        });
        // Rule 4: wait for room without holding a thread. The permit is given back when a
        // bulk thread takes the job off the queue.
        let inner = &self.handle.inner;
        inner.room[class as usize]
            .acquire()
            .await
            .expect("the bulk pool's room is never closed")
            .forget();
        {
            let mut queues = inner.queues.lock().expect("bulk queue lock");
            queues.queues[class as usize].push_back(job);
        }
        inner.ready.notify_one();
        match result.await.expect("the bulk pool dropped a job") {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

/// The next job, most urgent class first (rule 3), waiting for one; `None` once the pool
/// is closed.
fn next_job(inner: &Inner) -> Option<(usize, Job)> {
    let mut queues = inner.queues.lock().expect("bulk queue lock");
    loop {
        for class in 0..CLASSES {
            if let Some(job) = queues.queues[class].pop_front() {
                return Some((class, job));
            }
        }
        if queues.closed {
            return None;
        }
        queues = inner.ready.wait(queues).expect("bulk queue lock");
    }
}

impl weft_consensus::Offload for BulkPool {
    fn run(&self, job: Box<dyn FnOnce() + Send>) -> futures::future::BoxFuture<'static, ()> {
        let pool = self.clone();
        Box::pin(async move { BulkPool::run(&pool, Class::Gossip, job).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_on_lowered_threads_and_panics_come_back() {
        let pool = BulkPool::start(2, 7);
        let results =
            futures::future::join_all((0..8u64).map(|i| pool.run(Class::Submitted, move || i * i)))
                .await;
        assert_eq!(results, (0..8u64).map(|i| i * i).collect::<Vec<_>>());
        #[cfg(target_os = "linux")]
        {
            // Rule 1: the job runs 7 steps below the thread that started the pool, and the
            // caller keeps its own priority.
            let before = this_thread_nice();
            let nice = pool.run(Class::Sign, this_thread_nice).await;
            assert_eq!(nice, (before + 7).min(NICE_MAX));
            assert_eq!(this_thread_nice(), before);
        }
        let pool2 = pool.clone();
        let panicked =
            tokio::spawn(
                async move { pool2.run(Class::Gossip, || -> u8 { panic!("boom") }).await },
            )
            .await;
        assert!(panicked.is_err_and(|e| e.is_panic()));
        // The thread that ran the panicking job still serves.
        assert_eq!(pool.run(Class::Gossip, || 5).await, 5);
    }

    /// Rule 3: with the one thread busy, queued jobs run most urgent class first, whatever
    /// order they were queued in; within a class, in arrival order.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn urgent_classes_run_first() {
        let pool = BulkPool::start(1, 0);
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        let blocker = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(Class::Submitted, move || {
                    started.send(()).unwrap();
                    gate.recv()
                })
                .await
            })
        };
        // The one thread runs the blocker; queue the rest behind it.
        tokio::task::spawn_blocking(move || running.recv().unwrap())
            .await
            .unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for (class, tag) in [
            (Class::Submitted, "batch 1"),
            (Class::Gossip, "gossip"),
            (Class::Submitted, "batch 2"),
            (Class::Sign, "sign"),
        ] {
            let (p, order) = (pool.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                p.run(class, move || order.lock().unwrap().push(tag)).await
            }));
            // Queued in this order (each is on the queue before the next is sent).
            while pool.queued() < waiting.len() {
                tokio::task::yield_now().await;
            }
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        for w in waiting {
            w.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            vec!["sign", "gossip", "batch 1", "batch 2"]
        );
    }
}
